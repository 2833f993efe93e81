import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig, unknownVariables } from '../../../src/config/config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      redisUrlExplicit: false,
      store: 'auto',
      prefix: 'proflag:',
      grpcAddr: '0.0.0.0:50051',
      adminAddr: '127.0.0.1:9464',
      routeHeader: 'x-proflag-cluster',
      flagsHeader: 'x-proflag-flags',
      tz: 'UTC',
      geoHeader: null,
      learn: true,
      resyncMs: 30_000,
      logLevel: 'info',
      uaHashKeyConfigured: false,
    });
    expect(c.uaHashKey.length).toBe(32);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      REDIS_URL: 'rediss://user:secret@redis.internal:6380',
      PROFLAG_PREFIX: '{proflag}:',
      PROFLAG_TZ: 'Europe/Berlin',
      PROFLAG_GEO_HEADER: 'x-geo-country',
      PROFLAG_LEARN: 'off',
      PROFLAG_RESYNC_MS: '5000',
      PROFLAG_UA_HASH_KEY: 'a-long-enough-secret',
      LOG_LEVEL: 'debug',
    });
    expect(c.redisUrlExplicit).toBe(true);
    expect(c.prefix).toBe('{proflag}:');
    expect(c.tz).toBe('Europe/Berlin');
    expect(c.learn).toBe(false);
    expect(c.resyncMs).toBe(5000);
    expect(c.uaHashKey.toString()).toBe('a-long-enough-secret');
  });

  it('lists every wrong value at once', () => {
    let error: unknown;
    try {
      loadConfig({ PROFLAG_TZ: 'Mars/Olympus', PROFLAG_RESYNC_MS: 'soon', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const key of ['PROFLAG_TZ', 'PROFLAG_RESYNC_MS', 'REDIS_URL', 'LOG_LEVEL']) expect(problems).toContain(key);
    expect((error as ConfigError).code).toBe('PROFLAG_ERR_CONFIG');
  });

  it('refuses headers Envoy owns and equal route/flags headers', () => {
    expect(() => loadConfig({ PROFLAG_ROUTE_HEADER: 'x-envoy-upstream' })).toThrow(ConfigError);
    expect(() => loadConfig({ PROFLAG_ROUTE_HEADER: 'x-a', PROFLAG_FLAGS_HEADER: 'x-a' })).toThrow(ConfigError);
  });

  it('hints at misspelled variables', () => {
    // scripts/ffr's own variables are known, not "unknown".
    expect(unknownVariables({ PROFLAG_ACTOR: 'ana', PROFLAG_REDIS_CLI_ARGS: '--tls' })).toEqual([]);
    expect(unknownVariables({ PROFLAG_RESYNC_MSS: '1', PROFLAG_ZZZZZZZZZZZZZZZZ: '1', HOME: '/' })).toEqual([
      'PROFLAG_RESYNC_MSS is unknown; did you mean PROFLAG_RESYNC_MS?',
      'PROFLAG_ZZZZZZZZZZZZZZZZ is unknown',
    ]);
  });

  it('documents every variable in the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const v of CONFIG_VARIABLES) {
      const short = v.replace(/^PROFLAG_UA_INDEX_/, '_');
      expect(readme.includes(`\`${v}\``) || readme.includes(`\`${short}\``), v).toBe(true);
    }
  });
});

describe('Redis topology', () => {
  it('reads cluster seed nodes and insists on a hash-tagged prefix', () => {
    const c = loadConfig({ PROFLAG_REDIS_CLUSTER_NODES: 'r1:7000,r2.internal:7001', PROFLAG_PREFIX: '{proflag}:' });
    expect(c.redisClusterNodes).toEqual([
      { host: 'r1', port: 7000 },
      { host: 'r2.internal', port: 7001 },
    ]);
    expect(() => loadConfig({ PROFLAG_REDIS_CLUSTER_NODES: 'r1:7000' })).toThrow(/hash-tagged/);
  });

  it('reads sentinels with their master name', () => {
    const c = loadConfig({ PROFLAG_REDIS_SENTINELS: 's1:26379,s2:26379', PROFLAG_REDIS_SENTINEL_NAME: 'flags' });
    expect(c.redisSentinels).toHaveLength(2);
    expect(c.redisSentinelName).toBe('flags');
    expect(() => loadConfig({ PROFLAG_REDIS_SENTINELS: 's1:26379' })).toThrow(/SENTINEL_NAME/);
    expect(() =>
      loadConfig({
        PROFLAG_REDIS_SENTINELS: 's1:1',
        PROFLAG_REDIS_SENTINEL_NAME: 'm',
        PROFLAG_REDIS_CLUSTER_NODES: 'a:1',
        PROFLAG_PREFIX: '{p}:',
      }),
    ).toThrow(/exclude/);
  });
});

describe('Redis connection settings', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };

  it('reads the TLS files and the sentinels password', () => {
    const c = loadConfig({
      REDIS_URL: 'rediss://:pw@h:6380',
      PROFLAG_REDIS_SENTINELS: 's:26379',
      PROFLAG_REDIS_SENTINEL_NAME: 'm',
      PROFLAG_REDIS_SENTINEL_PASSWORD: 'spw',
      PROFLAG_REDIS_TLS_CA_FILE: '/ca.pem',
      PROFLAG_REDIS_TLS_CERT_FILE: '/c.pem',
      PROFLAG_REDIS_TLS_KEY_FILE: '/k.pem',
      PROFLAG_REDIS_TLS_SERVERNAME: 'redis.internal',
    });
    expect(c.redisSentinelPassword).toBe('spw');
    expect(c.redisTls).toEqual({
      caFile: '/ca.pem',
      certFile: '/c.pem',
      keyFile: '/k.pem',
      servername: 'redis.internal',
    });
  });

  it('refuses settings that cannot work together', () => {
    expect(problems({ REDIS_URL: 'redis://h:1', PROFLAG_REDIS_TLS_CA_FILE: '/ca.pem' }).join()).toMatch(
      /need a rediss:\/\//,
    );
    expect(problems({ REDIS_URL: 'rediss://h:1', PROFLAG_REDIS_TLS_CERT_FILE: '/c.pem' }).join()).toMatch(
      /go together/,
    );
    expect(problems({ PROFLAG_REDIS_SENTINEL_PASSWORD: 'x' }).join()).toMatch(/needs PROFLAG_REDIS_SENTINELS/);
    expect(problems({ REDIS_URL: 'redis://h:1/abc' }).join()).toMatch(/database number/);
    expect(
      problems({ REDIS_URL: 'redis://h:1/2', PROFLAG_REDIS_CLUSTER_NODES: 'a:1', PROFLAG_PREFIX: '{p}:' }).join(),
    ).toMatch(/only database 0/);
  });
});
