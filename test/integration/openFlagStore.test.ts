// Which repository the sidecar opens (CONTRACT §1): explicit Redis never falls back to files;
// an unset REDIS_URL with nothing usable at the default falls back to the folder, loudly.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { openFlagStore, type FlagStore } from '../../src/store/openFlagStore.js';
import { SnapshotHolder } from '../../src/store/snapshotHolder.js';
import { noopStoreMetrics } from '../../src/store/storeMetrics.js';
import { testRedis } from '../helpers/redis.js';
import { freePort } from '../helpers/redisServer.js';
import { captureLogger, countingCompile, flagJson, WARN } from '../helpers/storeKit.js';
import { change, client } from '../helpers/storeFixture.js';

const EXAMPLES = new URL('../../examples/flags/', import.meta.url).pathname;
const opened: FlagStore[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.stop()));
});

async function open(env: Record<string, string>, explicitUrl: boolean) {
  const log = captureLogger();
  const holder = new SnapshotHolder();
  const config = loadConfig({ PROFLAG_FLAGS_DIR: EXAMPLES, PROFLAG_UA_HASH_KEY: 'k'.repeat(32), ...env });
  const store = await openFlagStore(
    // REDIS_URL unset means "the default": tests point the default elsewhere.
    explicitUrl ? config : { ...config, redisUrlExplicit: false },
    { holder, compile: countingCompile().compile, logger: log.logger, metrics: noopStoreMetrics },
  );
  opened.push(store);
  return { store, holder, log };
}

describe('openFlagStore', () => {
  it('falls back to the folder, loudly, when REDIS_URL is unset and nothing answers', async () => {
    const { store, holder, log } = await open({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, false);
    expect(store.kind).toBe('file');
    expect(holder.current.flagCount).toBeGreaterThan(0);
    expect(log.lines.some((l) => l.level === WARN && /EMBEDDED FILE STORE/.test(l.msg))).toBe(true);
  });

  it('never falls back when REDIS_URL is set explicitly', async () => {
    const { store, holder } = await open(
      { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, PROFLAG_STORE: 'auto' },
      true,
    );
    expect(store.kind).toBe('redis');
    expect(holder.loaded).toBe(false);
    expect(holder.current.flagCount).toBe(0);
  }, 10_000);

  it('uses the default Redis when it holds flags', async () => {
    const r = await testRedis();
    const redis = client(r.url);
    try {
      await change(redis, r.prefix, 'here', flagJson('here'));
      const { store, holder } = await open(
        { REDIS_URL: r.url, PROFLAG_PREFIX: r.prefix.replace(/[^A-Za-z0-9:{}_.-]/g, '') },
        false,
      );
      expect(store.kind).toBe('redis');
      expect(holder.current.flags.map((f) => f.name)).toEqual(['here']);
    } finally {
      redis.disconnect();
      await r.cleanup();
    }
  });

  it('PROFLAG_STORE=file wins over a working Redis', async () => {
    const r = await testRedis();
    const { store } = await open({ REDIS_URL: r.url, PROFLAG_STORE: 'file' }, true);
    expect(store.kind).toBe('file');
  });
});
