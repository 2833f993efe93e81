// A RedisStore wired to recording logger, metrics and compile, plus writers that change flags
// the way scripts/ffr does (write + INCR version + PUBLISH) or behind its back (plain SET).
import { Redis } from 'ioredis';
import { RedisStore, type RedisStoreOptions } from '../../src/store/redisStore.js';
import { redisKeys } from '../../src/store/redisKeys.js';
import { SnapshotHolder } from '../../src/store/snapshotHolder.js';
import {
  captureLogger,
  countingCompile,
  recordingMetrics,
  type CapturedLogger,
  type CountingCompile,
  type RecordedMetrics,
} from './storeKit.js';

export interface StoreUnderTest {
  readonly store: RedisStore;
  readonly holder: SnapshotHolder;
  readonly log: CapturedLogger;
  readonly metrics: RecordedMetrics;
  readonly compiles: CountingCompile;
}

const open: RedisStore[] = [];

export function makeStore(url: string, prefix: string, overrides: Partial<RedisStoreOptions> = {}): StoreUnderTest {
  const holder = overrides.holder ?? new SnapshotHolder();
  const log = captureLogger();
  const metrics = recordingMetrics();
  const compiles = countingCompile();
  const store = new RedisStore({
    redisUrl: url,
    prefix,
    resyncMs: 30_000,
    staleAfterMs: 60_000,
    logger: log.logger,
    metrics,
    compile: compiles.compile,
    holder,
    replicaId: 'replica-a',
    backoff: { baseMs: 20, maxMs: 200 },
    ...overrides,
  });
  open.push(store);
  return { store, holder, log, metrics, compiles };
}

/** Close every store made since the last call (afterEach). */
export async function closeStores(): Promise<void> {
  await Promise.all(open.splice(0).map((s) => s.close()));
}

export function client(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: false });
  r.on('error', () => {});
  return r;
}

/** What scripts/ffr does for one flag, in one MULTI: write (or delete), bump, publish. */
export async function change(redis: Redis, prefix: string, name: string, doc: string | null): Promise<number> {
  const k = redisKeys(prefix);
  const m = redis.multi();
  if (doc === null) m.del(k.flag(name));
  else m.set(k.flag(name), doc);
  m.incr(k.version);
  m.publish(k.changes, name);
  const res = await m.exec();
  return Number(res?.[1]?.[1]);
}
