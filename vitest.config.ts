import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/redisGlobal.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration and e2e tests start servers on free ports and use their own Redis key
    // prefixes, so files can run in parallel; 2 workers match these 2-core machines.
    pool: 'forks',
    maxWorkers: 2,
  },
});
