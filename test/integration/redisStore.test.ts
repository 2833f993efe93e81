// RedisStore against a real Redis: load and reject, change feed latency, resync of plain
// SETs, coalescing of bursts, two replicas converging, the status key, the last-good file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/store/redisKeys.js';
import { fileRedis } from '../helpers/fileRedis.js';
import { freePort } from '../helpers/redisServer.js';
import { flagJson, percentile, sleep, waitFor, waitForAsync, WARN } from '../helpers/storeKit.js';
import { change, client, closeStores, makeStore } from '../helpers/storeFixture.js';

const r = fileRedis({ connect: client, afterEach: closeStores });

function flagNames(snapshotFlags: readonly { name: string }[]): string[] {
  return snapshotFlags.map((f) => f.name).sort();
}

describe('RedisStore', () => {
  it('loads every flag, rejects malformed ones with a reason, and serves the rest', async () => {
    const k = redisKeys(r.prefix);
    const secret = 'SECRET-UA-EXEMPLAR-'.repeat(200); // 3,800 characters: too long for an exemplar
    await r.redis.set(k.flag('good-a'), flagJson('good-a'));
    await r.redis.set(k.flag('good-b'), flagJson('good-b', { priority: 5 }));
    await r.redis.set(k.flag('good-c'), flagJson('good-c', { enabled: false, futureField: 1 }));
    await r.redis.set(k.flag('bad-json'), '{"name": "bad-json", "enabled": tru');
    await r.redis.set(k.flag('bad-types'), JSON.stringify({ name: 'bad-types', enabled: 'yes', priority: 'high' }));
    await r.redis.set(k.flag('huge'), flagJson('huge', { description: 'x'.repeat(1_100_000) }));
    await r.redis.set(k.flag('Bad Name'), flagJson('bad-name'));
    await r.redis.set(k.flag('other-name'), flagJson('not-the-key'));
    await r.redis.set(k.flag('ua-leak'), flagJson('ua-leak', { profile: { userAgent: { similarTo: [secret] } } }));
    await r.redis.set(k.version, '7');

    const s = makeStore(r.url, r.prefix);
    await s.store.start();
    expect(await s.store.waitUntilLoaded(5000)).toBe(true);

    const snap = s.holder.current;
    expect(snap.version).toBe(7);
    expect(snap.source).toBe('redis');
    expect(flagNames(snap.flags)).toEqual(['good-a', 'good-b']); // good-c is disabled
    expect(snap.flagCount).toBe(3);
    const rejected = Object.fromEntries(snap.rejected.map((x) => [x.key, x.reason]));
    expect(Object.keys(rejected).sort()).toEqual([
      'Bad Name',
      'bad-json',
      'bad-types',
      'huge',
      'other-name',
      'ua-leak',
    ]);
    expect(rejected['bad-json']).toMatch(/invalid JSON/);
    expect(rejected['bad-types']).toMatch(/enabled/);
    expect(rejected['bad-types']).toMatch(/priority/);
    expect(rejected['huge']).toMatch(/more than 1048576/);
    expect(rejected['Bad Name']).toMatch(/not a valid flag name/);
    expect(rejected['other-name']).toMatch(/does not match its key/);
    expect(rejected['ua-leak']).toMatch(/profile\.userAgent\.similarTo\[0\]/);

    // Logged at warn with key and reason, counted; the documents themselves never logged.
    const warned = s.log.lines.filter((l) => l.level === WARN && l.msg.startsWith('flag rejected'));
    expect(warned.map((l) => l['key']).sort()).toEqual(Object.keys(rejected).sort());
    expect(s.log.text()).not.toContain('SECRET-UA-EXEMPLAR');
    expect(s.log.text()).not.toContain('xxxxxxxxxx');
    expect(s.log.messages(WARN)).toContain('flag accepted with a warning'); // futureField
    expect(s.metrics.last('flagsRejected')).toEqual([6]);
    expect(s.metrics.last('rejectedFlags')).toEqual([6]);
    expect(s.holder.sync).toMatchObject({ loaded: true, version: 7, rejectedCount: 6, flagCount: 3 });

    // This replica's view, for `ffr status`.
    await waitForAsync('status key', async () => (await r.redis.exists(k.status('replica-a'))) === 1);
    const status = JSON.parse((await r.redis.get(k.status('replica-a'))) ?? 'null') as {
      version: number;
      rejected: { key: string; reason: string }[];
    };
    expect(status.version).toBe(7);
    expect(status.rejected.map((x) => x.key).sort()).toEqual(Object.keys(rejected).sort());
    expect(await r.redis.ttl(k.status('replica-a'))).toBeGreaterThan(0);

    // A fixed document stops being rejected on the next change.
    await change(r.redis, r.prefix, 'bad-json', flagJson('bad-json'));
    await waitFor('bad-json accepted', () => s.holder.current.version === 8);
    expect(s.holder.current.rejected.map((x) => x.key)).not.toContain('bad-json');
    expect(flagNames(s.holder.current.flags)).toContain('bad-json');

    // A clean shutdown removes this replica's status key.
    await s.store.close();
    expect(await r.redis.exists(k.status('replica-a'))).toBe(0);
  });

  it('serves a change published on the feed within 1 s (latency measured)', async () => {
    const s = makeStore(r.url, r.prefix);
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await waitFor('feed connected', () => s.holder.sync.feedConnected);

    const latencies: number[] = [];
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      const version = await change(r.redis, r.prefix, `f${i % 5}`, flagJson(`f${i % 5}`, { priority: i }));
      await waitFor(`version ${version}`, () => s.holder.current.version === version, 2000, 1);
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.info(
      `[reload latency] publish -> served, ${latencies.length} changes: p50 ${p50.toFixed(1)} ms, ` +
        `p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (debounce 20 ms)`,
    );
    expect(p99).toBeLessThan(1000);
  });

  it('picks up a plain SET (no publish) on the periodic resync, and skips compiling when nothing changed', async () => {
    const k = redisKeys(r.prefix);
    await r.redis.set(k.flag('base'), flagJson('base'));
    await r.redis.set(k.version, '1');
    const s = makeStore(r.url, r.prefix, { resyncMs: 150 });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    const compilesAfterLoad = s.compiles.calls();

    await sleep(500); // three or so resyncs, nothing changed
    expect(s.compiles.calls()).toBe(compilesAfterLoad);
    expect(s.metrics.count('reload', 'unchanged')).toBeGreaterThanOrEqual(2);

    await r.redis.set(k.flag('sneaky'), flagJson('sneaky')); // no version bump, no publish
    const took = await waitFor('sneaky served', () => flagNames(s.holder.current.flags).includes('sneaky'), 2000);
    expect(took).toBeLessThan(1000);
    expect(s.compiles.calls()).toBe(compilesAfterLoad + 1);
  });

  it('coalesces a burst of 1,000 changes into few compiles', async () => {
    const s = makeStore(r.url, r.prefix);
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await waitFor('feed connected', () => s.holder.sync.feedConnected);
    const before = s.compiles.calls();

    const k = redisKeys(r.prefix);
    const started = performance.now();
    const pipe = r.redis.pipeline();
    for (let i = 0; i < 1000; i++) {
      pipe.set(k.flag(`burst-${i}`), flagJson(`burst-${i}`));
      pipe.incr(k.version);
      pipe.publish(k.changes, `burst-${i}`);
    }
    await pipe.exec();
    await waitFor('all 1,000 served', () => s.holder.current.version === 1000, 10_000);
    const took = performance.now() - started;
    const compiles = s.compiles.calls() - before;
    console.info(`[burst] 1,000 published changes -> ${compiles} compiles, all served after ${took.toFixed(0)} ms`);
    expect(s.holder.current.flagCount).toBe(1000);
    expect(compiles).toBeLessThanOrEqual(5);
  });

  it('two replicas on one Redis converge on the same version', async () => {
    const a = makeStore(r.url, r.prefix, { replicaId: 'replica-a' });
    const b = makeStore(r.url, r.prefix, { replicaId: 'replica-b' });
    await Promise.all([a.store.start(), b.store.start()]);
    await Promise.all([a.store.waitUntilLoaded(5000), b.store.waitUntilLoaded(5000)]);
    await waitFor('feeds', () => a.holder.sync.feedConnected && b.holder.sync.feedConnected);

    let last = 0;
    for (let i = 0; i < 50; i++)
      last = await change(r.redis, r.prefix, `c${i % 7}`, i % 11 === 10 ? null : flagJson(`c${i % 7}`));
    await waitFor(
      'both at the last version',
      () => a.holder.current.version === last && b.holder.current.version === last,
    );
    expect(flagNames(a.holder.current.flags)).toEqual(flagNames(b.holder.current.flags));
    const k = redisKeys(r.prefix);
    await waitForAsync(
      'both status keys',
      async () => (await r.redis.exists(k.status('replica-a'), k.status('replica-b'))) === 2,
    );
    const statuses = await r.redis.mget(k.status('replica-a'), k.status('replica-b'));
    expect(statuses.every((x) => x !== null)).toBe(true);
  });

  it('persists the last good documents and serves them when Redis is away at start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'proflag-lastgood-'));
    const file = join(dir, 'last-good.json');
    try {
      await change(r.redis, r.prefix, 'kept', flagJson('kept'));
      await change(r.redis, r.prefix, 'broken', '{"oops"');
      const first = makeStore(r.url, r.prefix, { snapshotFile: file });
      await first.store.start();
      await first.store.waitUntilLoaded(5000);
      await first.store.close(); // waits for the file write

      const nowhere = `redis://127.0.0.1:${await freePort()}`;
      const second = makeStore(nowhere, r.prefix, { snapshotFile: file, connectTimeoutMs: 200 });
      await second.store.start();
      expect(second.holder.current.version).toBe(2);
      expect(second.holder.current.source).toBe(`last-good:${file}`);
      expect(flagNames(second.holder.current.flags)).toEqual(['kept']);
      expect(second.store.ready).toBe(false); // serving, but not loaded from Redis yet
      await sleep(100);
      expect(second.store.ready).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the snapshot when compile throws, and says why', async () => {
    await change(r.redis, r.prefix, 'one', flagJson('one'));
    let explode = false;
    const s = makeStore(r.url, r.prefix, {
      compile: (flags, meta) => {
        if (explode) throw new Error('bug in compile');
        return {
          ...meta,
          compiledAt: Date.now(),
          flags: [],
          flagCount: flags.length,
          uaIndex: null,
        };
      },
    });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    const served = s.holder.current;
    explode = true;
    await change(r.redis, r.prefix, 'two', flagJson('two'));
    await waitFor('compile error recorded', () => s.holder.sync.lastError !== null);
    expect(s.holder.current).toBe(served);
    expect(s.holder.sync.lastError).toMatch(/bug in compile/);
    expect(s.metrics.count('error', 'compile')).toBeGreaterThanOrEqual(1);
  });
});
