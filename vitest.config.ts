import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env: { NODE_ENV: 'test' },
    globalSetup: ['test/support/global-database.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Contract tests start servers on loopback ports; two cores run two files at a time.
    maxWorkers: 2,
  },
});
