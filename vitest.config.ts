import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/setup/redisGlobal.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration and e2e tests start servers on free ports and use their own Redis key
    // prefixes, so files can run in parallel; 2 workers match these 2-core machines.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/abuse/**'],
        },
      },
      {
        // test/abuse/ saturates a core on purpose and judges 200 ms budgets: it runs after
        // everything else, one file at a time, so that it neither disturbs nor is disturbed
        // by the other tests' timing.
        extends: true,
        test: {
          name: 'abuse',
          include: ['test/abuse/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          fileParallelism: false,
        },
      },
    ],
  },
});
