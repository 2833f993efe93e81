// A test file's Redis: one key prefix (testRedis) and one client for the whole file, opened
// before the first test, the prefix's keys deleted after each test (or once, after the last),
// the client closed at the end. Registers its own vitest hooks: call it at the top of a file.
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { testRedis, type TestRedis } from './redis.js';

export interface FileRedis extends TestRedis {
  /** The file's client (from `connect`). */
  readonly redis: Redis;
}

export interface FileRedisOptions {
  /** Opens the file's client. */
  readonly connect: (url: string) => Redis;
  /** Runs after each test, before the keys are deleted (e.g. closing the stores it made). */
  readonly afterEach?: () => Promise<void>;
  /** When the prefix's keys are deleted: after each test (default) or once after the file. */
  readonly cleanup?: 'each' | 'file';
}

export function fileRedis(options: FileRedisOptions): FileRedis {
  const cleanup = options.cleanup ?? 'each';
  let test: TestRedis | undefined;
  let client: Redis | undefined;
  const opened = (): { test: TestRedis; client: Redis } => {
    if (!test || !client) throw new Error("the file's Redis is opened in beforeAll");
    return { test, client };
  };
  beforeAll(async () => {
    test = await testRedis();
    client = options.connect(test.url);
  });
  afterEach(async () => {
    await options.afterEach?.();
    if (cleanup === 'each') await opened().test.cleanup();
  });
  afterAll(async () => {
    if (cleanup === 'file') await test?.cleanup();
    client?.disconnect();
  });
  return {
    get url() {
      return opened().test.url;
    },
    get prefix() {
      return opened().test.prefix;
    },
    cleanup: () => opened().test.cleanup(),
    get redis() {
      return opened().client;
    },
  };
}
