// What the Cluster and Sentinel tests do alike: a topology's environment, a sidecar started on
// it (logs captured), its /readyz and /metrics, ffr runs with that same environment, the checks
// both make (examples imported and served, a wrong password reported, the learner's proposal
// written), Envoy-like traffic that counts failed responses, and the failover check (a master
// killed mid-traffic, the feed's loss and return reported, a change made after the promotion
// served within 1 s).
import { Writable } from 'node:stream';
import { expect } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import { FlagChanges } from '../../src/changes/flagChanges.js';
import { parseFlagValue } from '../../src/flags/schema.js';
import {
  createRedisProposalWriter,
  type ProposalOutcome,
  type ProposalWriter,
} from '../../src/learner/proposalStore.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createRedisClient, type RedisClient } from '../../src/store/redisConnection.js';
import { redisKeys } from '../../src/store/redisKeys.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { at, e2eEnv, EXAMPLE_FLAG_NAMES, exampleFlagDocs, IP, UA } from '../e2e/routingTable.js';
import { EnvoyEmulator } from './envoyEmulator.js';
import { runFfr, type FfrRun } from './ffr.js';
import type { TopologyOptions } from './redisTopology.js';

export const PREFIX = '{proflag}:';

/**
 * The environment for a topology: REDIS_URL names `host` (`cluster` or `sentinel`) with the
 * scheme and password of `o`, `nodes` says where the nodes are, and the TLS files when `o` has them.
 */
export function topologyEnv(o: TopologyOptions, host: string, nodes: Record<string, string>): Record<string, string> {
  const scheme = o.tls ? 'rediss' : 'redis';
  const auth = o.password ? `:${o.password}@` : '';
  return {
    REDIS_URL: `${scheme}://${auth}${host}`,
    ...nodes,
    PROFLAG_PREFIX: PREFIX,
    ...(o.tls
      ? {
          PROFLAG_REDIS_TLS_CA_FILE: o.tls.caFile,
          PROFLAG_REDIS_TLS_CERT_FILE: o.tls.certFile,
          PROFLAG_REDIS_TLS_KEY_FILE: o.tls.keyFile,
        }
      : {}),
  };
}

export interface LoggedSidecar {
  readonly sidecar: Sidecar;
  readonly config: Config;
  /** Every log line as parsed JSON. */
  readonly logs: Record<string, unknown>[];
  messages(): string[];
}

export async function startLoggedSidecar(env: Record<string, string>): Promise<LoggedSidecar> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n'))
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = loadConfig(
    e2eEnv({ PROFLAG_PREFIX: PREFIX, PROFLAG_LEARN: 'off', LOG_LEVEL: 'info', PROFLAG_RESYNC_MS: '5000', ...env }),
  );
  const sidecar = await startSidecar(config, {
    logger: createLogger('info', sink),
    now: () => at(12),
    defaultMetrics: false,
  });
  return { sidecar, config, logs, messages: () => logs.map((l) => String(l['msg'])) };
}

export async function readyz(s: Sidecar): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${s.adminPort}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function gauge(s: Sidecar, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

/** The example flags, as one list for `ffr import -`. */
export function exampleFlags(): string {
  return JSON.stringify(exampleFlagDocs());
}

/** `ffr import -` of the example flags through the topology, which must take all of them. */
export async function importExampleFlags(env: Record<string, string>): Promise<void> {
  expect((await ffrWith(env, ['import', '-'], exampleFlags())).stdout).toMatch(
    new RegExp(`^imported ${EXAMPLE_FLAG_NAMES.length} flags`),
  );
}

/** A sidecar on the topology, which must become ready and route /checkout to backend_canary. */
export async function startServingSidecar(env: Record<string, string>): Promise<LoggedSidecar> {
  const ls = await startLoggedSidecar(env);
  expect((await readyz(ls.sidecar)).status).toBe(200);
  expect(await servesCheckout(ls.sidecar)).toBe('backend_canary');
  return ls;
}

/**
 * A sidecar on `env` but with a wrong password for `host`, started in the background: its
 * first-load wait (3 s) runs alongside other tests; await it (its failure reported) in its own.
 */
export function startWithWrongPassword(env: Record<string, string>, host: string): Promise<LoggedSidecar> {
  const started = startLoggedSidecar({ ...env, REDIS_URL: `redis://:wrong@${host}` });
  started.catch(() => undefined);
  return started;
}

/** Ready, loaded every example flag, the feed connected, no error; /checkout to backend_canary. */
export async function expectServingExamples(ls: LoggedSidecar): Promise<void> {
  const r = await readyz(ls.sidecar);
  expect(r.status).toBe(200);
  expect(r.body['detail']).toMatchObject({ flags: EXAMPLE_FLAG_NAMES.length, feedConnected: true, lastError: null });
  expect(await servesCheckout(ls.sidecar)).toBe('backend_canary');
}

/** A sidecar started with a wrong password: not ready, and /readyz and the log say why. */
export async function expectWrongPasswordReported(bad: LoggedSidecar): Promise<void> {
  const r = await readyz(bad.sidecar);
  expect(r.status).toBe(503);
  expect((r.body['detail'] as Record<string, unknown>)['lastError']).toMatch(/authentication failed.*WRONGPASS/);
  expect(bad.logs.some((l) => l['code'] === 'PROFLAG_ERR_STORE_AUTH')).toBe(true);
  expect(JSON.stringify(bad.logs)).not.toContain('wrong@');
}

/**
 * The learner's proposal writer on `redis` writes proposal `id` (a disabled flag `name` for BR)
 * and reports it created; the writer is returned for more.
 */
export async function expectProposalWritten(redis: RedisClient, name: string, id: string): Promise<ProposalWriter> {
  const keys = redisKeys(PREFIX);
  const outcomes: ProposalOutcome[] = [];
  const writer = createRedisProposalWriter({
    redis,
    keys,
    logger: createLogger('silent'),
    onOutcome: (o) => outcomes.push(o),
  });
  const parsed = parseFlagValue({ name, enabled: false, profile: { geo: { in: ['BR'] } } });
  if (!parsed.ok) throw new Error('bad proposal');
  writer.write({ id, document: parsed.flag, created: true, range: {} as never }, Date.now());
  await writer.flush();
  expect(outcomes).toEqual(['created']);
  expect(await redis.exists(keys.proposal(id))).toBe(1);
  return writer;
}

/** scripts/ffr with a topology's environment (REDIS_URL only gives credentials there). */
export function ffrWith(env: Record<string, string>, args: string[], input?: string): Promise<FfrRun> {
  const { REDIS_URL, PROFLAG_PREFIX, ...rest } = env;
  return runFfr({ url: REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: PROFLAG_PREFIX ?? PREFIX }, args, {
    env: rest,
    ...(input !== undefined ? { input } : {}),
  });
}

/** A request the example flags route to backend_canary (checkout-v2). */
export async function servesCheckout(s: Sidecar): Promise<string> {
  // A generous message timeout: a cold sidecar on a busy 2-core machine, not Redis, is slow here.
  const envoy = new EnvoyEmulator(`127.0.0.1:${s.grpcPort}`, { messageTimeoutMs: 2_000 });
  try {
    const out = await envoy.request({ path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox } });
    if (out.error !== null || out.processorSkipped) return `failed: ${out.error ?? 'processor skipped'}`;
    return out.cluster;
  } finally {
    envoy.close();
  }
}

export interface Traffic {
  readonly sent: number;
  readonly failed: number;
  stop(): Promise<void>;
}

/**
 * Requests back to back until stopped; a failed response is an error or a skipped processor.
 * Requests never wait for Redis; the 1 s message timeout only keeps CPU starvation of the busy
 * test machine (other test files run in parallel) from counting as a failure.
 */
export function startTraffic(s: Sidecar): Traffic {
  const envoy = new EnvoyEmulator(`127.0.0.1:${s.grpcPort}`, { messageTimeoutMs: 1_000 });
  let sent = 0;
  let failed = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const out = await envoy.request({
        path: '/checkout',
        sourceAddress: IP.DE,
        headers: { 'user-agent': UA.firefox },
      });
      sent++;
      if (out.error !== null || out.processorSkipped) failed++;
    }
  })();
  return {
    get sent() {
      return sent;
    },
    get failed() {
      return failed;
    },
    async stop() {
      running = false;
      await loop;
      envoy.close();
    },
  };
}

export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now();
}

/** A client of the topology, for the test's own changes (through the atomic change path). */
export function changesFor(config: Config): { changes: FlagChanges; client: RedisClient } {
  const client = createRedisClient(config, { role: 'cli', id: 'test', offlineQueue: true, backoff: null });
  client.on('error', () => {});
  return { changes: new FlagChanges(client, PREFIX), client };
}

export interface FailoverReport {
  readonly sent: number;
  readonly failed: number;
  /** ms from the promotion to the new flag being served. */
  readonly servedAfterPromotionMs: number;
  readonly feedDownSeen: boolean;
}

/**
 * Traffic, then `kill()` the master; wait for the feed's loss, for `promoted()`, then make a
 * change through a fresh client and time until the sidecar serves it.
 */
export async function failoverUnderTraffic(
  ls: LoggedSidecar,
  kill: () => Promise<void>,
  promoted: () => Promise<boolean>,
): Promise<FailoverReport> {
  const { sidecar } = ls;
  const started = Date.now();
  // When a step times out, the error says how long each earlier step took.
  const phases: string[] = [];
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    try {
      const result = await run();
      phases.push(`${name} +${Date.now() - started} ms`);
      return result;
    } catch (err) {
      throw new Error(`${(err as Error).message} (after: ${phases.join(', ') || 'nothing'})`);
    }
  };
  const traffic = startTraffic(sidecar);
  let feedDownSeen = false;
  const watch = setInterval(() => {
    if (!sidecar.holder.sync.feedConnected) feedDownSeen = true;
  }, 2);
  try {
    await step('traffic', () => until('some traffic', () => traffic.sent >= 50));
    await step('kill', kill);
    await step('feed loss', () => until('the feed loss to be noticed', () => feedDownSeen, 5_000));
    const promotedAt = await step('promotion', () => until('the promotion', promoted, 30_000));
    await step('change', async () => {
      const { changes, client } = changesFor(ls.config);
      try {
        await client.connect();
        await changes.put(
          {
            name: 'after-failover',
            enabled: true,
            profile: { endpoint: { in: ['/after'] } },
            actions: { route: { cluster: 'backend_beta' } },
          },
          { actor: 'test' },
        );
      } finally {
        client.disconnect();
      }
    });
    const servedAt = await step('served', () =>
      until(
        'the change to be served',
        () => sidecar.holder.current.flags.some((f) => f.name === 'after-failover'),
        10_000,
      ),
    );
    await step('more traffic', () => until('more traffic after the failover', () => traffic.sent >= 200, 10_000));
    console.info(`[failover phases] ${phases.join(', ')}`);
    return { sent: traffic.sent, failed: traffic.failed, servedAfterPromotionMs: servedAt - promotedAt, feedDownSeen };
  } finally {
    clearInterval(watch);
    await traffic.stop();
  }
}

/**
 * failoverUnderTraffic's report for `label`, logged: no failed response, the feed's loss seen,
 * the change served within 1 s of the promotion; then the feed back, in the gauge and the log.
 */
export async function expectFailoverSurvived(ls: LoggedSidecar, label: string, report: FailoverReport): Promise<void> {
  console.info(
    `[${label} failover] ${report.sent} requests, ${report.failed} failed; change served ${report.servedAfterPromotionMs} ms after the promotion`,
  );
  expect(report.failed).toBe(0);
  expect(report.feedDownSeen).toBe(true);
  expect(report.servedAfterPromotionMs).toBeLessThan(1000);
  await until('feed back', () => ls.sidecar.holder.sync.feedConnected, 5000);
  expect(await gauge(ls.sidecar, 'proflag_store_feed_connected')).toBe(1);
  expectFeedLossAndReturnLogged(ls);
}

export function expectFeedLossAndReturnLogged(ls: LoggedSidecar): void {
  const messages = ls.messages();
  expect(messages.filter((m) => m.startsWith('change feed lost'))).toHaveLength(1);
  expect(messages.some((m) => m.startsWith('change feed is back'))).toBe(true);
}
