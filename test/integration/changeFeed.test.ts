// The change feed notices a server that hangs with its sockets open (no close, no error): a
// PING on the subscribed connection goes unanswered, the feed is reported lost (holder,
// metric hook, log), and once the server answers again it resubscribes and resyncs.
import { afterEach, describe, expect, it } from 'vitest';
import { redisServer, redisServerAvailable, type RedisServer } from '../helpers/redisServer.js';
import { change, client, closeStores, makeStore } from '../helpers/storeFixture.js';
import { flagJson, waitFor } from '../helpers/storeKit.js';

const PREFIX = 'feed-test:';
let srv: RedisServer | null = null;

afterEach(async () => {
  srv?.resume();
  await closeStores();
  await srv?.kill();
  srv = null;
});

describe.skipIf(!redisServerAvailable())('change feed liveness', () => {
  it('reports a hung server as a lost feed, then resubscribes and resyncs when it answers again', async () => {
    srv = await redisServer();
    const s = makeStore(srv.url, PREFIX, { feedPingMs: 100, connectTimeoutMs: 300 });
    await s.store.start();
    await s.store.waitUntilLoaded(5000);
    await waitFor('feed up', () => s.holder.sync.feedConnected);

    srv.pause();
    const lostAfter = await waitFor('feed lost', () => !s.holder.sync.feedConnected, 3000);
    console.info(
      `[feed liveness] hung server noticed after ${lostAfter.toFixed(0)} ms (PING every 100 ms, 300 ms timeout)`,
    );
    expect(s.metrics.last('feedConnected')).toEqual([false]);
    expect(s.log.messages().filter((m) => m.startsWith('change feed lost'))).toHaveLength(1);

    srv.resume();
    const writer = client(srv.url);
    await change(writer, PREFIX, 'after-hang', flagJson('after-hang'));
    writer.disconnect();
    await waitFor('feed back', () => s.holder.sync.feedConnected, 5000);
    await waitFor('resynced', () => s.holder.current.flags.some((f) => f.name === 'after-hang'), 5000);
    expect(s.log.messages()).toContain('change feed is back; resyncing');
  });
});
