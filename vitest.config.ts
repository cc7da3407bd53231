import { defineConfig } from 'vitest/config';

// Each test file starts its own throwaway cluster; forks keep a file's server tied to
// its process (setpriv --pdeathsig), and two workers match the two cores CI has.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
