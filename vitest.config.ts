import { defineConfig } from 'vitest/config';

// Files that drive many connections or real processes against the server run
// one at a time, after the rest: two cores, and a PostgreSQL with 100
// connections shared by every file that runs at once. test/citus runs on its
// own cluster: npm run test:citus (vitest.citus.config.ts).
const HEAVY = ['test/sealing/**/*.test.ts', 'test/tamper/**/*.test.ts', 'test/soak/**/*.test.ts', 'apps/worker/src/**/*.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'test/citus/**', ...HEAVY],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'heavy',
          include: HEAVY,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
