// Issue 11, part 3 through the operator's tools and a real Redis: `scripts/ffr put` refuses a
// flag that can never match and says why (nothing is written), and a sidecar that finds one
// written behind ffr's back (plain SET) rejects it with the same reason, which
// `scripts/ffr status` shows. One schema (src/flags/schema.ts) decides both.
import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/store/redisKeys.js';
import { runFfr } from '../helpers/ffr.js';
import { fileRedis } from '../helpers/fileRedis.js';
import { waitForAsync } from '../helpers/storeKit.js';
import { client, closeStores, makeStore } from '../helpers/storeFixture.js';

const DEAD = {
  name: 'orders-beta',
  enabled: true,
  profile: { endpoint: { in: ['/orders/12345'] }, geo: { in: ['UK'] } },
};

const r = fileRedis({ connect: client, afterEach: closeStores, cleanup: 'file' });

describe('flags that can never match, through ffr and a sidecar', () => {
  it('ffr put refuses one, saying what to write instead', async () => {
    const res = await runFfr(r, ['put', '-'], { input: JSON.stringify(DEAD), env: { PROFLAG_VALIDATE: 'full' } });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('profile.endpoint.in[0]: can never match');
    expect(res.stderr).toContain('write "/orders/{id}" instead');
    expect(res.stderr).toContain('profile.geo.in[0]: not an ISO 3166-1 alpha-2 code: write GB');
    expect(await r.redis.get(redisKeys(r.prefix).flag('orders-beta'))).toBeNull();
  });

  it('a sidecar rejects one written with a plain SET, and ffr status shows why', async () => {
    const k = redisKeys(r.prefix);
    await r.redis.set(k.flag('orders-beta'), JSON.stringify(DEAD));
    const s = makeStore(r.url, r.prefix, { replicaId: 'pod-dead' });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    expect(s.holder.current.rejected.map((x) => x.key)).toEqual(['orders-beta']);
    await waitForAsync('status key', async () => (await r.redis.exists(k.status('pod-dead'))) === 1);
    const res = await runFfr(r, ['status']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/orders-beta: .*can never match.*write "\/orders\/\{id\}" instead/);
  });
});
