// `ffr approve ID NAME --respond STATUS [--per-second N]` (CONTRACT §6): the proposal becomes a
// flag whose `actions.respond` answers with STATUS, limited by `respondLimit.perSecond`
// (default 100), in one audited change.
//
// Skipped while the flag schema does not know `actions.respond` yet (it is being added on the
// "flags" branch; until the branches merge, the change path rightly refuses such documents).
// It enables itself once src/flags/schema.ts accepts them.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFlagValue } from '../../src/flags/schema.js';
import { redisKeys, type RedisKeys } from '../../src/store/redisKeys.js';
import { runFfr } from '../helpers/ffr.js';
import { deletePrefix, testRedis, type TestRedis } from '../helpers/redis.js';
import { client } from '../helpers/storeFixture.js';
import { flagJson } from '../helpers/storeKit.js';

const schemaKnowsRespond = parseFlagValue({
  name: 'probe',
  enabled: true,
  respondLimit: { perSecond: 100 },
  actions: { respond: { status: 429 } },
}).ok;

describe.skipIf(!schemaKnowsRespond)('ffr approve --respond', () => {
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
});
