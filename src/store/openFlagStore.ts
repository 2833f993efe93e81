// Which flag store serves this sidecar (CONTRACT §1):
// - PROFLAG_STORE=file, or auto with no REDIS_URL and no proflag data on the default Redis:
//   the file store (examples/flags by default), announced loudly;
// - PROFLAG_STORE=redis, or an explicit REDIS_URL: Redis, never a fallback to files.
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { Logger } from '../telemetry/logger.js';
import { FileStore } from './fileStore.js';
import { createRedisClient, describeRedisTarget, redactRedisUrl } from './redisConnection.js';
import { RedisStore } from './redisStore.js';
import type { CompileSnapshot } from './snapshotBuilder.js';
import type { SnapshotHolder } from './snapshotHolder.js';
import type { StoreMetrics } from './storeMetrics.js';

export interface FlagStore {
  /** 'redis redis://host:6379 (prefix proflag:)' or 'file /path' — for logs and /readyz. */
  readonly description: string;
  readonly kind: 'redis' | 'file';
  stop(): Promise<void>;
}

export interface FlagStoreDeps {
  readonly holder: SnapshotHolder;
  readonly compile: CompileSnapshot;
  readonly logger: Logger;
  readonly metrics: StoreMetrics;
}

/** How long start-up waits for the first load before serving (requests get CONTINUE meanwhile). */
const FIRST_LOAD_WAIT_MS = 3_000;

/** Does the default Redis answer, and does it hold anything of ours? */
async function probeDefaultRedis(config: Config): Promise<'absent' | 'empty' | 'has-data'> {
  const prefix = config.prefix;
  const client = createRedisClient(config, {
    role: 'probe',
    connectTimeoutMs: 500,
    maxRetriesPerRequest: 0,
    backoff: null,
  }) as Redis;
  client.on('error', () => {});
  try {
    await client.connect();
    if ((await client.exists(`${prefix}version`)) === 1) return 'has-data';
    const [, keys] = await client.scan('0', 'MATCH', `${prefix}flag:*`, 'COUNT', 1000);
    return keys.length > 0 ? 'has-data' : 'empty';
  } catch {
    return 'absent';
  } finally {
    client.disconnect();
  }
}

async function openFileStore(config: Config, deps: FlagStoreDeps): Promise<FlagStore> {
  const store = new FileStore({
    dir: config.flagsDir,
    logger: deps.logger,
    metrics: deps.metrics,
    compile: deps.compile,
    holder: deps.holder,
    staleAfterMs: config.staleAfterMs,
  });
  await store.start();
  return { description: `file ${store.dir}`, kind: 'file', stop: () => store.close() };
}

async function openRedisStore(config: Config, deps: FlagStoreDeps): Promise<FlagStore> {
  const store = new RedisStore({
    connection: config,
    prefix: config.prefix,
    resyncMs: config.resyncMs,
    staleAfterMs: config.staleAfterMs,
    snapshotFile: config.snapshotFile,
    logger: deps.logger,
    metrics: deps.metrics,
    compile: deps.compile,
    holder: deps.holder,
  });
  await store.start();
  if (!(await store.waitUntilLoaded(FIRST_LOAD_WAIT_MS))) {
    deps.logger.warn(
      {
        code: 'PROFLAG_ERR_STORE_UNAVAILABLE',
        redis: describeRedisTarget(config),
        lastError: deps.holder.sync.lastError,
      },
      'Redis not loaded yet: serving without flags (or the snapshot file) and retrying; /readyz says not ready',
    );
  }
  return {
    description: `redis ${describeRedisTarget(config)} (prefix ${config.prefix})`,
    kind: 'redis',
    stop: () => store.close(),
  };
}

export async function openFlagStore(config: Config, deps: FlagStoreDeps): Promise<FlagStore> {
  if (config.store === 'file') return openFileStore(config, deps);
  const topologyConfigured = config.redisClusterNodes.length > 0 || config.redisSentinels.length > 0;
  if (config.store === 'redis' || config.redisUrlExplicit || topologyConfigured) return openRedisStore(config, deps);

  const probe = await probeDefaultRedis(config);
  if (probe === 'has-data') return openRedisStore(config, deps);
  const why =
    probe === 'absent'
      ? `no Redis answers at ${redactRedisUrl(config.redisUrl)}`
      : `the Redis at ${redactRedisUrl(config.redisUrl)} holds no ${config.prefix}* flags`;
  deps.logger.warn(
    `*** ${why} and REDIS_URL is not set: serving the EMBEDDED FILE STORE ${config.flagsDir} ***` +
      ' (set REDIS_URL or PROFLAG_STORE=redis to use Redis)',
  );
  return openFileStore(config, deps);
}
