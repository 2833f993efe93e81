// RedisStore when Redis goes away: down at start, killed while serving, back empty (data
// loss), staleness. Each test runs its own redis-server child on a free port and kills it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/store/redisKeys.js';
import { redisServer, redisServerAvailable, type RedisServer } from '../helpers/redisServer.js';
import { ERROR, flagJson, sleep, waitFor, waitForAsync } from '../helpers/storeKit.js';
import { change, client, closeStores, makeStore } from '../helpers/storeFixture.js';

const PREFIX = 'proflag:';
const k = redisKeys(PREFIX);
const servers: RedisServer[] = [];
const clients: Redis[] = [];

async function server(start = true): Promise<RedisServer> {
  const s = await redisServer({ start });
  servers.push(s);
  return s;
}

function connect(url: string): Redis {
  const c = client(url);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await closeStores();
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});

async function seed(redis: Redis, names: string[]): Promise<number> {
  let v = 0;
  for (const n of names) v = await change(redis, PREFIX, n, flagJson(n));
  return v;
}

const names = (s: { flags: readonly { name: string }[] }) => s.flags.map((f) => f.name).sort();

describe.skipIf(!redisServerAvailable())('RedisStore when Redis goes away', () => {
  it('starts while Redis is down: serves nothing, not ready, loads once Redis is up', async () => {
    const srv = await server(false);
    const s = makeStore(srv.url, PREFIX, { connectTimeoutMs: 200 });
    await s.store.start();
    expect(s.holder.current.flagCount).toBe(0);
    await sleep(300);
    expect(s.store.ready).toBe(false);
    expect(s.holder.sync.loaded).toBe(false);
    // Not a warning per retry: one for the outage, the rest at debug.
    const warnsWhileDown = s.log.lines.filter((l) => l.level >= 40);
    expect(warnsWhileDown.map((l) => l.msg)).toEqual([
      'cannot reach Redis; serving the current snapshot and retrying with backoff',
    ]);
    expect(s.log.lines.filter((l) => l.msg === 'Redis connection error').length).toBeGreaterThan(1);

    await srv.start();
    await seed(connect(srv.url), ['a', 'b']);
    const t = await waitFor('loaded with both flags', () => s.store.ready && s.holder.current.flagCount === 2, 5000);
    console.info(`[outage] Redis up -> flags served after ${t.toFixed(0)} ms (backoff cap 200 ms)`);
    expect(s.holder.current.version).toBe(2);
  });

  it('keeps serving its snapshot while Redis is gone, and resyncs after Redis returns', async () => {
    const srv = await server();
    const redis = connect(srv.url);
    await seed(redis, ['a', 'b', 'c']);
    const s = makeStore(srv.url, PREFIX, { connectTimeoutMs: 200 });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await waitFor('feed up', () => s.holder.sync.feedConnected);
    const served = s.holder.current;

    await srv.kill();
    await waitFor('feed down', () => !s.holder.sync.feedConnected);
    s.store.requestReload('test'); // fails fast: no offline queue
    await waitFor('failed reload', () => s.metrics.count('reload', 'failed') > 0);
    expect(s.holder.current).toBe(served); // the very same snapshot
    expect(names(s.holder.current)).toEqual(['a', 'b', 'c']);
    expect(s.holder.sync.lastError).toMatch(/reading flags from Redis failed/);

    // Redis returns (without persistence, so empty) and the operator restores newer flags.
    await srv.start();
    const again = connect(srv.url);
    await again.set(k.version, '10');
    await seed(again, ['a', 'd']);
    await waitFor('resynced', () => s.holder.current.version === 12, 5000);
    expect(names(s.holder.current)).toEqual(['a', 'd']);
    // The subscriber reconnects on its own backoff, which may end just after the resync.
    await waitFor('feed back', () => s.holder.sync.feedConnected, 5000);
    expect(s.holder.sync).toMatchObject({ feedConnected: true, lastError: null, dataLossSuspected: false });
  });

  it('treats a Redis that comes back empty as data loss: holds the snapshot and raises an alarm', async () => {
    const srv = await server();
    await seed(connect(srv.url), ['a', 'b', 'c']);
    const s = makeStore(srv.url, PREFIX, { connectTimeoutMs: 200, replicaId: 'dl-replica' });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    const served = s.holder.current;
    expect(served.version).toBe(3);

    await srv.kill();
    await srv.start(); // empty: no version key, no flags
    await waitFor('data loss suspected', () => s.holder.dataLossSuspected, 5000);
    expect(s.holder.current).toBe(served);
    expect(s.store.ready).toBe(true);
    expect(s.log.lines.some((l) => l.level === ERROR && l.msg.startsWith('DATA LOSS SUSPECTED'))).toBe(true);
    expect(s.metrics.last('dataLossSuspected')).toEqual([true]);
    const redis = connect(srv.url);
    await waitForAsync('status key with the alarm', async () => {
      const st = await redis.get(k.status('dl-replica'));
      return st !== null && (JSON.parse(st) as { dataLossSuspected: boolean }).dataLossSuspected;
    });

    // Resyncs keep holding.
    s.store.requestReload('test');
    await sleep(100);
    expect(s.holder.current).toBe(served);

    // The operator restores (ffr import bumps the version): the alarm clears.
    await change(redis, PREFIX, 'a', flagJson('a'));
    await waitFor('restored', () => s.holder.current.version === 1);
    expect(s.holder.dataLossSuspected).toBe(false);
    expect(names(s.holder.current)).toEqual(['a']);
    expect(s.metrics.last('dataLossSuspected')).toEqual([false]);
  });

  it('holds the last-good file when a restarted sidecar finds Redis emptied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'proflag-outage-'));
    const file = join(dir, 'last-good.json');
    try {
      const srv = await server();
      await seed(connect(srv.url), ['a', 'b']);
      const first = makeStore(srv.url, PREFIX, { snapshotFile: file });
      await first.store.start();
      await first.store.waitUntilLoaded(5000);
      await first.store.close();

      await srv.kill();
      await srv.start(); // Redis restarted without persistence, and so did the sidecar
      const second = makeStore(srv.url, PREFIX, { snapshotFile: file, connectTimeoutMs: 200 });
      await second.store.start();
      await waitFor('data loss suspected', () => second.holder.dataLossSuspected, 5000);
      expect(second.store.ready).toBe(true);
      expect(names(second.holder.current)).toEqual(['a', 'b']);
      expect(second.holder.current.version).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("with dataLossPolicy 'accept', an emptied Redis empties the snapshot", async () => {
    const srv = await server();
    await seed(connect(srv.url), ['a']);
    const s = makeStore(srv.url, PREFIX, { connectTimeoutMs: 200, dataLossPolicy: 'accept' });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await srv.kill();
    await srv.start();
    await waitFor('empty snapshot', () => s.holder.current.flagCount === 0 && s.holder.current.version === null, 5000);
    expect(s.holder.dataLossSuspected).toBe(false);
  });

  it('reports stale when the change feed stays down longer than staleAfterMs', async () => {
    const srv = await server();
    await seed(connect(srv.url), ['a']);
    const s = makeStore(srv.url, PREFIX, { connectTimeoutMs: 200, staleAfterMs: 300 });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await waitFor('feed up', () => s.holder.sync.feedConnected);
    expect(s.holder.stale).toBe(false);

    await srv.kill();
    await sleep(150);
    expect(s.holder.stale).toBe(false); // down, but not for long yet
    await waitFor('stale', () => s.holder.stale, 3000);
    await waitFor('stale metric', () => s.metrics.count('stale', true) === 1, 2000);
    expect(s.log.messages(40)).toContain(
      'serving a stale snapshot: no sync or change feed for longer than staleAfterMs',
    );

    await srv.start();
    await seed(connect(srv.url), ['a', 'b']);
    await waitFor('fresh again', () => !s.holder.stale && s.holder.current.flagCount === 2, 5000);
  });
});
