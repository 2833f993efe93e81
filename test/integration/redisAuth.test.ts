// One Redis with a password: the store connects with the credentials of its URL (user or not),
// and a wrong password is said plainly in the log (PROFLAG_ERR_STORE_AUTH) and in the sync
// state /readyz shows (`lastError`), without the password itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServer, redisServerAvailable, type RedisServer } from '../helpers/redisServer.js';
import { closeStores, makeStore } from '../helpers/storeFixture.js';
import { waitFor } from '../helpers/storeKit.js';

describe.skipIf(!redisServerAvailable())('RedisStore with a password', () => {
  let srv: RedisServer;
  beforeAll(async () => {
    srv = await redisServer({ args: ['--requirepass', 's3cret'] });
  });
  afterAll(async () => {
    await closeStores();
    await srv?.kill();
  });

  it('loads with the URL credentials, with or without a user name', async () => {
    for (const url of [`redis://:s3cret@127.0.0.1:${srv.port}`, `redis://default:s3cret@127.0.0.1:${srv.port}`]) {
      const s = makeStore(url, 'auth-test:');
      await s.store.start();
      expect(await s.store.waitUntilLoaded(5000)).toBe(true);
      await waitFor('feed', () => s.holder.sync.feedConnected);
    }
  });

  it('a wrong password: not loaded, lastError and the log say so, the password is not shown', async () => {
    const s = makeStore(`redis://:not-it@127.0.0.1:${srv.port}`, 'auth-test:', { connectTimeoutMs: 300 });
    await s.store.start();
    await waitFor('the error recorded', () => s.holder.sync.lastError !== null, 5000);
    expect(s.store.ready).toBe(false);
    expect(s.holder.sync.lastError).toMatch(
      /^authentication failed \(check the user and password in REDIS_URL\): WRONGPASS/,
    );
    expect(s.log.lines.some((l) => l['code'] === 'PROFLAG_ERR_STORE_AUTH' && l.level >= 40)).toBe(true);
    expect(s.log.text()).not.toContain('not-it');
  });
});
