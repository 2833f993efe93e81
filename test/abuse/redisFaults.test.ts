// Redis misbehaving under the real sidecar process (issue 14, docs/reliability.md):
// - a Redis that stops answering for seconds (CLIENT PAUSE: every command hangs, connections
//   stay open, as with a Redis stuck in a long command or a saturated network);
// - a Sentinel failover: the master is killed, Sentinel promotes the replica.
// Requests never wait for Redis, so the well-behaved traffic keeps its answers within
// message_timeout; afterwards a change is served. (Redis killed, and back empty, are
// test/e2e/redisOutage.test.ts and test/integration/redisOutage.test.ts.)
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { runFfr } from '../helpers/ffr.js';
import { freePort, redisServer, redisServerAvailable, type RedisServer } from '../helpers/redisServer.js';
import { duringProbe } from './helpers/guarantees.js';
import { startProbe, type RunningProbe } from './helpers/probe.js';
import { BASE_ENV, sleep, startSidecarProcess, waitUntil, type SidecarProcess } from './helpers/sidecarProcess.js';

const run = promisify(execFile);
const PREFIX = 'abuse:';
const PAUSE_MS = 4_000;

function markerFlag(value: string): string {
  return JSON.stringify({
    name: 'abuse-marker',
    enabled: true,
    profile: { endpoint: { in: ['/marker'] } },
    actions: { requestHeaders: { set: { 'x-marker': value } } },
  });
}

/** The example flags plus the marker, as one `ffr import` document. */
function importDocument(marker: string): string {
  const dir = BASE_ENV.PROFLAG_FLAGS_DIR!;
  const flags = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown);
  return JSON.stringify([...flags, JSON.parse(markerFlag(marker))]);
}

async function redisCli(port: number, ...args: string[]): Promise<string> {
  return (await run('redis-cli', ['-p', String(port), ...args])).stdout.trim();
}

describe.skipIf(!redisServerAvailable())('Redis that hangs', () => {
  let redis: RedisServer;
  let sidecar: SidecarProcess;
  let probe: RunningProbe;
  const ffr = (args: string[], input?: string) =>
    runFfr({ url: redis.url, prefix: PREFIX }, args, {
      env: { PROFLAG_VALIDATE: 'basic' },
      ...(input ? { input } : {}),
    });

  beforeAll(async () => {
    redis = await redisServer();
    expect((await ffr(['import', '-'], importDocument('before'))).code).toBe(0);
    sidecar = await startSidecarProcess({
      env: { PROFLAG_STORE: 'redis', REDIS_URL: redis.url, PROFLAG_PREFIX: PREFIX, PROFLAG_RESYNC_MS: '2000' },
    });
    probe = await startProbe(sidecar);
  }, 60_000);

  afterAll(async () => {
    await probe?.finish().catch(() => undefined);
    if (sidecar) expect(await sidecar.stop()).toBe(0);
    await redis?.kill();
  }, 30_000);

  it('keeps answering within message_timeout while Redis hangs, then serves the change made meanwhile', async () => {
    const envoy = new EnvoyEmulator(sidecar.grpcAddress, { messageTimeoutMs: 2_000 });
    const marker = async () => (await envoy.request({ path: '/marker' })).upstreamHeaders.get('x-marker');
    try {
      expect(await marker()).toBe('before');
      await duringProbe(
        probe,
        async () => {
          // Every client of this Redis (the sidecar's reads, its feed, ffr) hangs for PAUSE_MS.
          await redisCli(redis.port, 'CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
          const pausedAt = Date.now();
          // A change made during the pause waits in Redis's queue with ffr.
          const change = ffr(['put', '-'], markerFlag('after'));
          await sleep(PAUSE_MS / 2);
          expect((await sidecar.readyz()).status, 'still ready: the snapshot is good').toBe(200);
          expect(await marker(), 'the last good snapshot serves meanwhile').toBe('before');
          expect((await change).code, 'the change went through once Redis answered').toBe(0);
          expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(PAUSE_MS * 0.9);
          expect(
            await waitUntil(async () => (await marker()) === 'after', 5_000, 100),
            'the change is served after the pause',
          ).toBe(true);
        },
        PAUSE_MS + 1_000,
      );
    } finally {
      envoy.close();
    }
  }, 60_000);
});

describe.skipIf(!redisServerAvailable())('Redis failed over by Sentinel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proflag-failover-'));
  let master: RedisServer;
  let replica: RedisServer;
  let sentinel: ChildProcess;
  let sentinelPort: number;
  let sidecar: SidecarProcess;
  let probe: RunningProbe;
  const ffrOn = (server: RedisServer, args: string[], input?: string) =>
    runFfr({ url: server.url, prefix: PREFIX }, args, {
      env: { PROFLAG_VALIDATE: 'basic' },
      ...(input ? { input } : {}),
    });

  beforeAll(async () => {
    const files = ['--dir', dir];
    master = await redisServer({ args: [...files, '--dbfilename', 'master.rdb'] });
    replica = await redisServer({
      args: [...files, '--dbfilename', 'replica.rdb', '--replicaof', '127.0.0.1', String(master.port)],
    });
    sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor m 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds m 1000',
        'sentinel failover-timeout m 10000',
      ].join('\n') + '\n',
    );
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    expect((await ffrOn(master, ['import', '-'], importDocument('before'))).code).toBe(0);
    // The replica has the flags, and Sentinel knows the replica, before anything fails.
    expect(
      await waitUntil(async () => (await redisCli(replica.port, 'GET', `${PREFIX}version`)) !== '', 10_000, 100),
    ).toBe(true);
    expect(
      await waitUntil(
        async () => (await redisCli(sentinelPort, 'SENTINEL', 'replicas', 'm').catch(() => '')).includes('slave'),
        20_000,
        200,
      ),
      'Sentinel discovered the replica',
    ).toBe(true);
    sidecar = await startSidecarProcess({
      env: {
        PROFLAG_STORE: 'redis',
        PROFLAG_REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
        PROFLAG_REDIS_SENTINEL_NAME: 'm',
        PROFLAG_PREFIX: PREFIX,
        PROFLAG_RESYNC_MS: '2000',
      },
    });
    probe = await startProbe(sidecar);
  }, 90_000);

  afterAll(async () => {
    await probe?.finish().catch(() => undefined);
    if (sidecar) expect(await sidecar.stop()).toBe(0);
    sentinel?.kill('SIGKILL');
    await Promise.all([master?.kill(), replica?.kill()]);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('keeps answering while the master dies and the replica is promoted, then serves a change made on the new master', async () => {
    const envoy = new EnvoyEmulator(sidecar.grpcAddress, { messageTimeoutMs: 2_000 });
    const marker = async () => (await envoy.request({ path: '/marker' })).upstreamHeaders.get('x-marker');
    try {
      expect(await marker()).toBe('before');
      await duringProbe(
        probe,
        async () => {
          await master.kill();
          const promoted = await waitUntil(
            async () =>
              (await redisCli(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', 'm')).endsWith(String(replica.port)),
            30_000,
            200,
          );
          expect(promoted, 'Sentinel promoted the replica').toBe(true);
          expect(await marker(), 'the last good snapshot serves meanwhile').toBe('before');
          expect((await ffrOn(replica, ['put', '-'], markerFlag('after'))).code).toBe(0);
          expect(
            await waitUntil(async () => (await marker()) === 'after', 20_000, 200),
            'the change on the new master is served: the sidecar followed the failover',
          ).toBe(true);
        },
        1_000,
      );
      expect((await sidecar.readyz()).status).toBe(200);
    } finally {
      envoy.close();
    }
  }, 90_000);
});
