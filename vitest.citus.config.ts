import { defineConfig } from 'vitest/config';

// `npm run test:citus`: the Citus tests, against the cluster of
// scripts/citus/cluster.sh (CITUS_DATABASE_URL, default port 5451). One file
// at a time: each drives many connections through the coordinator, and every
// node shares the machine's two cores.
export default defineConfig({
  test: {
    globalSetup: ['test/citus/global-setup.ts'],
    include: ['test/citus/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
