// Issue 4, bad input: "100,000 flags: clear refusal or bounded handling". The store loads up to
// maxFlags (default 100,000) flag keys; past the bound the load is refused with a reason and
// the snapshot being served is kept.
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/store/redisKeys.js';
import { fileRedis } from '../helpers/fileRedis.js';
import { flagJson, waitFor } from '../helpers/storeKit.js';
import { client, closeStores, makeStore } from '../helpers/storeFixture.js';

const r = fileRedis({ connect: client, afterEach: closeStores });

async function writeFlags(count: number, from = 0): Promise<void> {
  const k = redisKeys(r.prefix);
  for (let start = from; start < from + count; start += 5000) {
    const args: string[] = [];
    for (let i = start; i < Math.min(start + 5000, from + count); i++) args.push(k.flag(`f-${i}`), flagJson(`f-${i}`));
    await r.redis.mset(...args);
  }
}

describe('flag count bound', () => {
  it('loads 100,000 flags', async () => {
    await writeFlags(100_000);
    await r.redis.set(redisKeys(r.prefix).version, '1');
    const s = makeStore(r.url, r.prefix);
    await s.store.start();
    expect(await s.store.waitUntilLoaded(60_000)).toBe(true);
    expect(s.holder.current.flagCount).toBe(100_000);
  }, 120_000);

  it('refuses a load past maxFlags and keeps serving the last snapshot', async () => {
    await writeFlags(50);
    await r.redis.set(redisKeys(r.prefix).version, '1');
    const s = makeStore(r.url, r.prefix, { maxFlags: 100 });
    await s.store.start();
    expect(await s.store.waitUntilLoaded(5000)).toBe(true);
    expect(s.holder.current.flagCount).toBe(50);

    await writeFlags(60, 50);
    await r.redis.incr(redisKeys(r.prefix).version);
    s.store.requestReload('test');
    await waitFor('the refused load', () => s.holder.sync.lastError !== null, 5000);
    expect(s.holder.sync.lastError).toMatch(/more than 100 flag keys/);
    expect(s.holder.current.flagCount).toBe(50);
  });
});
