// PROFLAG_WORKERS=2 with the flags in Redis (a random key prefix): a change made with
// scripts/ffr reaches both workers through their own change feeds, PROFLAG_LEARN_MODE=publish
// keeps working per worker (each publishes its samples to the stream), and a second signal
// ends the whole tree at once while the first is still draining an open stream.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { officialExtProcClient } from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import {
  alive,
  metricSum,
  startProflag,
  stopProflag,
  waitFor,
  type ProflagProcess,
} from '../helpers/proflagProcess.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { clustersServed, TREE_START_MS, twoWorkersEnv } from '../helpers/workersTree.js';

interface Readyz {
  readonly ready: boolean;
  readonly version: number | null;
  readonly detail: { readonly workers: readonly { pid: number; version: number | null }[] };
}

describe('PROFLAG_WORKERS=2 with Redis', () => {
  let redis: TestRedis;
  let client: Redis;
  let p: ProflagProcess;
  let grpcAddr: string;
  let admin: string;
  const dir = mkdtempSync(join(tmpdir(), 'proflag-workers-redis-'));

  const putFlag = async (cluster: string) => {
    const file = join(dir, 'svc.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'svc',
        enabled: true,
        profile: { endpoint: { in: ['/svc/**'] } },
        actions: { route: { cluster } },
      }),
    );
    const run = await runFfr(redis, ['put', file]);
    expect(run.code, run.stderr).toBe(0);
  };
  const readyz = async () => (await (await fetch(`${admin}/readyz`)).json()) as Readyz;
  const metrics = async () => (await fetch(`${admin}/metrics`)).text();
  const traffic = (connections: number, perConnection: number) =>
    clustersServed(grpcAddr, connections, perConnection, '/svc/a');

  beforeAll(async () => {
    redis = await testRedis();
    client = new Redis(redis.url);
    await putFlag('v1');
    p = startProflag(
      twoWorkersEnv({
        REDIS_URL: redis.url,
        PROFLAG_PREFIX: redis.prefix,
        PROFLAG_UA_HASH_KEY: 'workers-redis-test-key',
        PROFLAG_LEARN_MODE: 'publish',
      }),
    );
    const started = await p.started(TREE_START_MS);
    grpcAddr = started.grpc;
    admin = `http://127.0.0.1:${started.admin}`;
  });

  afterAll(async () => {
    await stopProflag(p);
    client?.disconnect();
    await redis?.cleanup();
  });

  it('serves from Redis in both workers, each publishing its own samples', async () => {
    const r = await readyz();
    expect(r.ready).toBe(true);
    expect(r.detail.workers.map((w) => w.version)).toEqual([1, 1]);
    expect(await traffic(4, 20)).toEqual(Array(80).fill('v1'));
    const text = await metrics();
    expect(metricSum(text, 'proflag_cluster_worker_decisions_total', { worker: '1' })).toBeGreaterThan(0);
    expect(metricSum(text, 'proflag_cluster_worker_decisions_total', { worker: '2' })).toBeGreaterThan(0);
    // Publish mode: the workers XADD to the stream themselves; the primary runs no learner.
    expect(await waitFor(async () => (await client.xlen(`${redis.prefix}samples`)) === 80, 5_000)).toBe(true);
    expect(p.output()).not.toMatch(/"component":"learner","mode":"in-process"/);
  });

  it('a change made with scripts/ffr reaches both workers', async () => {
    await putFlag('v2');
    const both = await waitFor(async () => (await readyz()).detail.workers.every((w) => w.version === 2), 5_000);
    expect(both).toBe(true);
    expect((await readyz()).version).toBe(2);
    expect(await traffic(4, 10)).toEqual(Array(40).fill('v2'));
  });

  it('a second signal ends every process at once, even while the first drains', async () => {
    const pids = (await readyz()).detail.workers.map((w) => w.pid);
    // An open stream (Envoy never ends it): the first SIGTERM waits for it (up to 5 s).
    const Ctor = officialExtProcClient();
    const ext = new Ctor(grpcAddr, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Process(): grpc.ClientDuplexStream<unknown, unknown>;
    };
    const call = ext.Process();
    call.on('error', () => {});
    const replied = new Promise((resolve) => call.once('data', resolve));
    call.write({ request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from('/svc/a') }] } } });
    await replied;

    p.child.kill('SIGTERM');
    expect(await waitFor(() => p.output().includes('"reason":"SIGTERM"'), 2_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(p.child.exitCode).toBeNull();
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(await waitFor(() => pids.every((pid) => !alive(pid)), 2_000)).toBe(true);
    expect(p.output()).toContain('second signal: exiting now');
    ext.close();
  });
});
