import { defineConfig } from 'vitest/config';

/** Integration tests on the real Linux tree (npm run test:kernel). */
export default defineConfig({
  test: {
    include: ['test/kernel/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
