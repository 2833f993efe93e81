// The same routing table with the flags in a real Redis (CONTRACT §2 layout under a test
// prefix), a live change picked up through pub/sub, and the privacy rule checked after traffic:
// no raw user agent or IP anywhere in Redis or in the logs.
import { readdirSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { EnvoyEmulator } from '../helpers/envoyEmulator.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { at, e2eEnv, EXAMPLES, flagsOf, IP, ROUTING_TABLE, runTable, UA } from './routingTable.js';

describe('routing with flags in Redis', () => {
  let redis: TestRedis;
  let client: Redis;
  let sidecar: Sidecar;
  let now = at(12);
  const logLines: string[] = [];

  beforeAll(async () => {
    redis = await testRedis();
    client = new Redis(redis.url);
    const multi = client.multi();
    for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'))) {
      multi.set(`${redis.prefix}flag:${file.replace(/\.json$/, '')}`, readFileSync(`${EXAMPLES}${file}`, 'utf8'));
    }
    multi.set(`${redis.prefix}version`, '1');
    await multi.exec();
    const config = loadConfig(e2eEnv({ REDIS_URL: redis.url, PROFLAG_PREFIX: redis.prefix, LOG_LEVEL: 'debug' }));
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    sidecar = await startSidecar(config, {
      logger: createLogger('debug', sink),
      now: () => now,
      defaultMetrics: false,
    });
    expect(sidecar.holder.loaded).toBe(true);
  });

  afterAll(async () => {
    await sidecar?.stop(1000);
    client?.disconnect();
    await redis?.cleanup();
  });

  it(`routes the ${ROUTING_TABLE.length}-request table from Redis`, async () => {
    expect(sidecar.holder.current.version).toBe(1);
    expect(sidecar.holder.current.source).toBe('redis');
    await runTable(sidecar.grpcPort, (h) => (now = at(h)));
  });

  it('serves a change published on the changes channel within a second', async () => {
    now = at(12);
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`);
    const before = await envoy.request({ path: '/promo', sourceAddress: IP.US });
    expect(before.cluster).toBe('backend_stable');
    const flag = {
      name: 'promo',
      enabled: true,
      profile: { endpoint: { in: ['/promo'] } },
      actions: { route: { cluster: 'backend_beta' } },
    };
    const started = Date.now();
    await client.set(`${redis.prefix}flag:promo`, JSON.stringify(flag));
    await client.incr(`${redis.prefix}version`);
    await client.publish(`${redis.prefix}changes`, 'promo');
    let cluster = 'backend_stable';
    while (cluster !== 'backend_beta' && Date.now() - started < 1000) {
      await new Promise((r) => setTimeout(r, 10));
      cluster = (await envoy.request({ path: '/promo', sourceAddress: IP.US })).cluster;
    }
    envoy.close();
    expect(cluster).toBe('backend_beta');
    expect(sidecar.holder.current.version).toBe(2);
  });

  it('a malformed flag is rejected with its key while the rest keep serving', async () => {
    await client.set(`${redis.prefix}flag:broken`, '{"name": "broken", "enabled": "yes"');
    await client.incr(`${redis.prefix}version`);
    await client.publish(`${redis.prefix}changes`, 'broken');
    const deadline = Date.now() + 2000;
    while (!sidecar.holder.current.rejected.some((r) => r.key === 'broken') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(sidecar.holder.current.rejected.find((r) => r.key === 'broken')?.reason).toMatch(/JSON/);
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`);
    const out = await envoy.request({ path: '/checkout', sourceAddress: IP.DE, headers: { 'user-agent': UA.firefox } });
    envoy.close();
    expect(out.cluster).toBe('backend_canary');
    expect(flagsOf(out.upstreamHeaders)).toContain('checkout-v2=true');
    expect(logLines.join('')).toMatch(/broken/);
  });

  it('stores and logs no raw user agent or IP address', async () => {
    // Traffic with distinctive user agents and addresses, then look everywhere.
    const marker = 'PrivacyProbe/9.9 (secret-device-7f3a)';
    const envoy = new EnvoyEmulator(`127.0.0.1:${sidecar.grpcPort}`);
    for (const ua of [marker, UA.chromeAndroid, UA.curl]) {
      await envoy.request({
        path: '/checkout',
        sourceAddress: '81.169.145.77:5555',
        headers: { 'user-agent': ua, 'x-forwarded-for': '203.0.113.99' },
      });
    }
    envoy.close();
    const keys = await client.keys(`${redis.prefix}*`);
    let dump = keys.join('\n');
    for (const key of keys) {
      const type = await client.type(key);
      if (type === 'string') dump += await client.get(key);
      else if (type === 'hash') dump += JSON.stringify(await client.hgetall(key));
      else if (type === 'zset') dump += (await client.zrange(key, 0, -1)).join(',');
      else if (type === 'stream') dump += JSON.stringify(await client.xrange(key, '-', '+'));
    }
    const logs = logLines.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [marker, 'secret-device-7f3a', UA.chromeAndroid, '81.169.145.77', '203.0.113.99']) {
      expect(dump.includes(secret), `Redis holds ${secret}`).toBe(false);
      expect(logs.includes(secret), `logs hold ${secret}`).toBe(false);
    }
  });
});
