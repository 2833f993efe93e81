// Experiments with PROFLAG_WORKERS=2 (a real process tree, flags in Redis under a random
// prefix): every worker records and flushes its own outcomes (one flush writer per worker),
// the admin port's GET /experiments/NAME is answered by a worker with the merged counts of
// both, and the two workers' guardrail runners make exactly one change between them.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentReport } from '../../src/experiments/core/report.js';
import { EnvoyEmulator, type EmulatedOutcome } from '../helpers/envoyEmulator.js';
import { metricSum, startProflag, stopProflag, type ProflagProcess } from '../helpers/proflagProcess.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { TREE_START_MS, twoWorkersEnv } from '../helpers/workersTree.js';
import {
  adminGet,
  backends,
  classOf,
  countedOf,
  drive,
  flagsSeen,
  metadataOf,
  putFlag,
  redisVersion,
  Tally,
  withoutWindow,
} from './experimentsKit.js';

describe('experiments with PROFLAG_WORKERS=2', () => {
  let redis: TestRedis;
  let client: Redis;
  let p: ProflagProcess;
  let grpcAddr: string;
  let adminPort: number;

  beforeAll(async () => {
    redis = await testRedis();
    client = new Redis(redis.url);
    p = startProflag(
      twoWorkersEnv({
        REDIS_URL: redis.url,
        PROFLAG_PREFIX: redis.prefix,
        PROFLAG_UA_HASH_KEY: 'experiments-workers-key-0123',
        PROFLAG_LEARN: 'off',
        PROFLAG_EXPERIMENT_FLUSH_MS: '1000',
        PROFLAG_GUARDRAIL_INTERVAL_MS: '1000',
      }),
    );
    const started = await p.started(TREE_START_MS);
    grpcAddr = started.grpc;
    adminPort = started.admin;
  });

  afterAll(async () => {
    await stopProflag(p, 5000);
    client?.disconnect();
    await redis?.cleanup();
  });

  it('each worker flushes, the admin port answers through a worker with the merged counts, one guardrail change', async () => {
    await putFlag(redis, {
      name: 'work-exp',
      enabled: true,
      profile: { endpoint: { in: ['/work/**'] } },
      rollout: { percent: 100, stickiness: 'header:x-user-id' },
      variants: [
        { name: 'control', weight: 50 },
        { name: 'treatment', weight: 50, actions: { route: { cluster: 'backend_treatment' } } },
      ],
      experiment: {
        control: 'control',
        guardrails: [{ metric: 'errorRate', maxRelativeIncrease: 0.1, minRequests: 200, pValue: 0.01 }],
      },
    });
    const v0 = await redisVersion(client, redis.prefix);
    await until(
      'both workers to load the flag',
      async () => {
        const r = await adminGet<{ version: number | null; detail: { workers: { version: number | null }[] } }>(
          adminPort,
          '/readyz',
        );
        return r.body.detail?.workers?.length === 2 && r.body.detail.workers.every((w) => w.version === v0);
      },
      5000,
    );

    const upstream = backends({ backend_stable: { error5xx: 0.01 }, backend_treatment: { error5xx: 0.08 } }, 23);
    const envoys = Array.from(
      { length: 4 },
      () => new EnvoyEmulator(grpcAddr, { allowModeOverride: true, upstream, messageTimeoutMs: 2000 }),
    );
    const tally = new Tally();
    const record = (out: EmulatedOutcome) => {
      const variant = flagsSeen(out).get('work-exp');
      expect(variant).toBeDefined();
      tally.add(`${metadataOf(out).version}:${variant}`, classOf(out));
    };
    let tripped = false;
    const watch = setInterval(() => {
      void redisVersion(client, redis.prefix).then((v) => (tripped ||= v > v0));
    }, 200);
    try {
      await drive({
        envoys,
        count: 4000,
        concurrency: 4,
        perSecond: 200,
        request: (i) => ({ path: '/work/a', headers: { 'x-user-id': `w-${i}` } }),
        onOutcome: record,
        stop: () => tripped,
      });
      expect(tripped).toBe(true);

      // Exactly one change between the two workers' runners.
      await new Promise((r) => setTimeout(r, 2500)); // two more guardrail intervals: no second change
      expect(await redisVersion(client, redis.prefix)).toBe(v0 + 1);
      // Both workers serve it: control only (on new connections, so both workers are asked).
      await drive({
        envoys,
        count: 40,
        concurrency: 4,
        request: (i) => ({ path: '/work/a', headers: { 'x-user-id': `late-${i}` } }),
        onOutcome: (out) => {
          expect(flagsSeen(out).get('work-exp')).toBe('control');
          record(out);
        },
      });
    } finally {
      clearInterval(watch);
      for (const e of envoys) e.close();
    }
    const audit = await client.xrange(`${redis.prefix}audit`, '-', '+');
    expect(audit.filter(([, f]) => f.includes('guardrail'))).toHaveLength(1);

    // Both workers decided requests, and each flushed its own counts (one writer each).
    const metrics = (await adminGet<string>(adminPort, '/metrics')).body;
    for (const w of ['1', '2'])
      expect(
        metricSum(metrics, 'proflag_cluster_worker_decisions_total', { worker: w }),
        `worker ${w}`,
      ).toBeGreaterThan(0);
    const writers: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${redis.prefix}expw:*`, 'COUNT', 100);
      cursor = next;
      writers.push(...keys);
    } while (cursor !== '0');
    expect(writers).toHaveLength(2);

    // The admin port (the primary asks a worker, in turn): the merged counts, the same answer twice.
    const read = async () => (await adminGet<ExperimentReport>(adminPort, '/experiments/work-exp?since=1h')).body;
    const total = tally.sum(() => true).requests;
    const report = await until(
      'every request flushed',
      async () => {
        const r = await read();
        const all = [r, ...(r.earlierGenerations ?? [])].flatMap((g) => g.variants);
        // Each worker reloads the guardrail's change on its own: the report's current
        // generation is the new one once the worker that answers serves it.
        const moved = r.trips.length > 0 && r.generation !== r.trips[0]!.generation;
        return all.reduce((n, v) => n + v.requests, 0) === total && moved ? r : null;
      },
      15_000,
    );
    expect(withoutWindow(await read())).toEqual(withoutWindow(report));
    expect(report.trips).toHaveLength(1);
    // The stopped generation: every request decided under it, as the clients counted them.
    const old = [report, ...report.earlierGenerations].find((g) => g.generation === report.trips[0]!.generation);
    expect(old).toBeDefined();
    expect(report.generation).not.toBe(old!.generation);
    for (const variant of ['control', 'treatment'])
      expect(countedOf(old!, variant)).toEqual(tally.sum((k) => k === `${v0}:${variant}`));
    expect(countedOf(report, 'control')).toEqual(tally.sum((k) => k === `${v0 + 1}:control`));
    expect(report.trips[0]).toMatchObject({ variant: 'treatment', metric: 'errorRate' });
  });
});
