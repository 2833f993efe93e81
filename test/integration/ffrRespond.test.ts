// `ffr approve ID NAME --respond STATUS [--per-second N]` (CONTRACT §6): the proposal becomes a
// flag whose `actions.respond` answers with STATUS, limited by `respondLimit.perSecond`
// (default 100), in one audited change; `--route CLUSTER` and `--shadow` likewise.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys, type RedisKeys } from '../../src/store/redisKeys.js';
import { runFfr } from '../helpers/ffr.js';
import { deletePrefix, testRedis, type TestRedis } from '../helpers/redis.js';
import { client } from '../helpers/storeFixture.js';
import { flagJson } from '../helpers/storeKit.js';

describe('ffr approve --respond', () => {
  let r: TestRedis;
  let redis: Redis;
  let k: RedisKeys;

  beforeAll(async () => {
    r = await testRedis();
    redis = client(r.url);
    k = redisKeys(r.prefix);
  });
  afterAll(async () => {
    redis?.disconnect();
    await deletePrefix(r.url, r.prefix);
  });

  it('builds actions.respond and respondLimit, and the audit detail says so', async () => {
    await redis.set(k.proposal('p-1'), flagJson('learned-scraper', { enabled: false }));
    await redis.zadd(k.proposals, Date.now(), 'p-1');
    const res = await runFfr(r, [
      'approve',
      'p-1',
      'block-scraper',
      '--respond',
      '429',
      '--per-second',
      '20',
      '--enable',
    ]);
    expect(res).toMatchObject({ code: 0 });
    expect(res.stdout).toMatch(/^approved p-1 as flag block-scraper, enabled/);
    expect(JSON.parse((await redis.get(k.flag('block-scraper')))!)).toMatchObject({
      enabled: true,
      actions: { respond: { status: 429 } },
      respondLimit: { perSecond: 20 },
    });
    const fields = (await redis.xrevrange(k.audit, '+', '-', 'COUNT', 1))[0]![1];
    expect(fields[fields.indexOf('detail') + 1]).toBe('proposal p-1: respond 429 (limit 20/s)');

    await redis.set(k.proposal('p-2'), flagJson('learned-other', { enabled: false }));
    await redis.zadd(k.proposals, Date.now(), 'p-2');
    expect((await runFfr(r, ['approve', 'p-2', 'default-limit', '--respond', '503'])).code).toBe(0);
    expect(JSON.parse((await redis.get(k.flag('default-limit')))!)).toMatchObject({
      actions: { respond: { status: 503 } },
      respondLimit: { perSecond: 100 },
    });
  });

  it('--route and --shadow: the route action and shadow mode, said in the audit detail', async () => {
    await redis.set(k.proposal('p-3'), flagJson('learned-third', { enabled: false }));
    await redis.zadd(k.proposals, Date.now(), 'p-3');
    const res = await runFfr(r, ['approve', 'p-3', 'quarantine', '--route', 'backend_quarantine', '--shadow']);
    expect(res).toMatchObject({ code: 0 });
    expect(res.stdout).toMatch(/^approved p-3 as flag quarantine, disabled in shadow mode: ffr enable quarantine/);
    expect(JSON.parse((await redis.get(k.flag('quarantine')))!)).toMatchObject({
      enabled: false,
      mode: 'shadow',
      actions: { route: { cluster: 'backend_quarantine' } },
    });
    const fields = (await redis.xrevrange(k.audit, '+', '-', 'COUNT', 1))[0]![1];
    expect(fields[fields.indexOf('detail') + 1]).toBe('proposal p-3: route backend_quarantine, shadow');

    // A status ffr cannot send is refused before anything changes.
    await redis.set(k.proposal('p-4'), flagJson('learned-fourth', { enabled: false }));
    await redis.zadd(k.proposals, Date.now(), 'p-4');
    const bad = await runFfr(r, ['approve', 'p-4', 'teapot', '--respond', '418']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/status/);
    expect(await redis.exists(k.flag('teapot'))).toBe(0);
    expect(await redis.zscore(k.proposals, 'p-4')).not.toBeNull();
  });
});
