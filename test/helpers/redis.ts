// A Redis for one test: a testcontainers Redis when a Docker engine really answers, else the
// REDIS_URL Redis (default redis://127.0.0.1:6379; test/setup/redisGlobal.ts starts one when
// nothing answers there). Each call gets its own key prefix, so tests and files can share one
// server in parallel; cleanup deletes that prefix's keys.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface TestRedis {
  readonly url: string;
  /** Unique per call, e.g. `proflag-test-3f9a1c2b:`. */
  readonly prefix: string;
  cleanup(): Promise<void>;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';

/** Where Docker's socket usually is; without any of these, testcontainers is not tried. */
function dockerLikelyPresent(): boolean {
  if (process.env.DOCKER_HOST || process.env.TESTCONTAINERS_HOST_OVERRIDE) return true;
  const uid = process.getuid?.() ?? 0;
  return [
    '/var/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'),
    join(homedir(), '.docker', 'desktop', 'docker.sock'),
    `/run/user/${uid}/docker.sock`,
  ].some((p) => existsSync(p));
}

function timeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

let containerUrl: Promise<string | null> | null = null;

/** One container per test process, started on first need; null when Docker does not answer. */
function containerRedisUrl(): Promise<string | null> {
  containerUrl ??= (async () => {
    if (process.env.PROFLAG_TEST_NO_DOCKER === '1' || !dockerLikelyPresent()) return null;
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await timeout(getContainerRuntimeClient(), 3000, 'docker engine');
      const { RedisContainer } = await import('@testcontainers/redis');
      const started = await timeout(new RedisContainer('redis:7-alpine').start(), 60_000, 'redis container');
      // The Ryuk reaper removes the container when this process ends.
      return started.getConnectionUrl();
    } catch {
      return null;
    }
  })();
  return containerUrl;
}

export async function testRedis(): Promise<TestRedis> {
  const url = (await containerRedisUrl()) ?? process.env.REDIS_URL ?? DEFAULT_URL;
  const prefix = `proflag-test-${randomBytes(4).toString('hex')}:`;
  return {
    url,
    prefix,
    async cleanup() {
      await deletePrefix(url, prefix);
    },
  };
}

/** Delete every key under `prefix` (SCAN + UNLINK, never KEYS). */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // A test that killed its own Redis has nothing left to clean.
  } finally {
    redis.disconnect();
  }
}
