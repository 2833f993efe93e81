// The one builder of Redis clients: what each topology gets from REDIS_URL and the TLS
// variables (checked on the built clients' options, without connecting), and how
// connection errors are told apart.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import {
  classifyRedisError,
  createNodeClient,
  createRedisClient,
  describeRedisTarget,
  parseRedisUrl,
  redactRedisUrl,
} from '../../../src/store/redisConnection.js';

const dir = mkdtempSync(join(tmpdir(), 'proflag-conn-'));
const ca = join(dir, 'ca.pem');
writeFileSync(ca, 'CA-PEM');
writeFileSync(join(dir, 'cert.pem'), 'CERT-PEM');
writeFileSync(join(dir, 'key.pem'), 'KEY-PEM');

describe('parseRedisUrl', () => {
  it('splits user, password (percent-decoded), host, port, db and TLS', () => {
    expect(parseRedisUrl('rediss://app:p%40ss%3Aword@redis.internal:6380/3')).toEqual({
      tls: true,
      host: 'redis.internal',
      port: 6380,
      username: 'app',
      password: 'p@ss:word',
      db: 3,
    });
    expect(parseRedisUrl('redis://:s3cret@10.0.0.1')).toMatchObject({
      username: null,
      password: 's3cret',
      port: 6379,
      db: 0,
    });
    expect(parseRedisUrl('redis://[::1]:7000')).toMatchObject({ host: '::1', port: 7000, password: null });
    expect(() => parseRedisUrl('http://x')).toThrow(/redis:\/\/ or rediss:\/\//);
  });

  it('never shows credentials in descriptions', () => {
    expect(redactRedisUrl('redis://u:secret@h:1')).toBe('redis://***@h:1');
    const config = loadConfig({ REDIS_URL: 'redis://:secret@h:1' });
    expect(describeRedisTarget(config)).toBe('redis://***@h:1');
    const cluster = loadConfig({
      REDIS_URL: 'redis://:secret@ignored',
      PROFLAG_REDIS_CLUSTER_NODES: 'a:7000,b:7001',
      PROFLAG_PREFIX: '{p}:',
    });
    expect(describeRedisTarget(cluster)).toBe('cluster a:7000,b:7001');
  });
});

describe('createRedisClient', () => {
  it('one node: the URL, no offline queue, a named connection, lazy', () => {
    const c = createRedisClient(loadConfig({ REDIS_URL: 'redis://u:pw@h:6390/2' }), {
      role: 'store',
      id: 'r1',
    }) as Redis;
    expect(c).toBeInstanceOf(Redis);
    expect(c.options).toMatchObject({
      host: 'h',
      port: 6390,
      db: 2,
      username: 'u',
      password: 'pw',
      enableOfflineQueue: false,
      lazyConnect: true,
      connectionName: 'proflag:store:r1',
    });
    expect(c.status).toBe('wait');
    expect(c.options.tls).toBeUndefined();
  });

  it('Cluster: every node gets the password and TLS of REDIS_URL', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://:s3cret@ignored',
      PROFLAG_REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7001',
      PROFLAG_PREFIX: '{proflag}:',
      PROFLAG_REDIS_TLS_CA_FILE: ca,
    });
    const c = createRedisClient(config, { role: 'learner' }) as Cluster;
    expect(c).toBeInstanceOf(Cluster);
    expect(c.options.redisOptions).toMatchObject({ password: 's3cret', connectionName: 'proflag:learner' });
    expect(String(c.options.redisOptions?.tls?.ca)).toBe('CA-PEM');
    expect(c.options.enableOfflineQueue).toBe(false);
    c.disconnect();
  });

  it('Sentinel: data-node credentials from REDIS_URL, the sentinels their own password, TLS to both', () => {
    const config = loadConfig({
      REDIS_URL: 'rediss://app:s3cret@ignored/1',
      PROFLAG_REDIS_SENTINELS: 's1:26379,s2:26379',
      PROFLAG_REDIS_SENTINEL_NAME: 'mymaster',
      PROFLAG_REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
      PROFLAG_REDIS_TLS_CA_FILE: ca,
      PROFLAG_REDIS_TLS_CERT_FILE: join(dir, 'cert.pem'),
      PROFLAG_REDIS_TLS_KEY_FILE: join(dir, 'key.pem'),
    });
    const c = createRedisClient(config, { role: 'store' }) as Redis;
    expect(c.options).toMatchObject({
      name: 'mymaster',
      username: 'app',
      password: 's3cret',
      db: 1,
      sentinelPassword: 'sentinel-pw',
      enableTLSForSentinelMode: true,
    });
    expect(c.options.reconnectOnError?.(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(c.options.sentinels).toEqual([
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
    ]);
    expect(String(c.options.tls?.cert)).toBe('CERT-PEM');
    expect(String(c.options.sentinelTLS?.key)).toBe('KEY-PEM');
    // A one-shot client (ffr) gives up instead of cycling through the sentinels forever.
    const once = createRedisClient(config, { role: 'cli', backoff: null }) as Redis;
    expect(once.options.sentinelRetryStrategy?.(1)).toBeNull();
  });

  it('a node of the topology with its credentials; an unreadable TLS file is a configuration error', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://:pw@ignored',
      PROFLAG_REDIS_CLUSTER_NODES: 'a:1',
      PROFLAG_PREFIX: '{p}:',
    });
    const node = createNodeClient(config, { host: 'b', port: 2 }, { role: 'feed' });
    expect(node.options).toMatchObject({ host: 'b', port: 2, password: 'pw', connectionName: 'proflag:feed' });
    const missing = loadConfig({ REDIS_URL: 'rediss://h:1', PROFLAG_REDIS_TLS_CA_FILE: join(dir, 'nope.pem') });
    expect(() => createRedisClient(missing, { role: 'store' })).toThrow(/PROFLAG_REDIS_TLS_CA_FILE: cannot read/);
  });
});

describe('classifyRedisError', () => {
  it.each([
    ['WRONGPASS invalid username-password pair or user is disabled.', 'auth'],
    ['NOAUTH Authentication required.', 'auth'],
    ['self-signed certificate in certificate chain', 'tls'],
    ['connect ECONNREFUSED 127.0.0.1:7000', 'unreachable'],
    ['All sentinels are unreachable. Retrying from scratch after 100ms.', 'failover'],
    [
      'All sentinels are unreachable. Retrying from scratch after 100ms. Last error: connect ECONNREFUSED',
      'unreachable',
    ],
    ['ERR unknown command', 'other'],
  ])('%s → %s', (message, kind) => {
    expect(classifyRedisError(new Error(message)).kind).toBe(kind);
  });
});
