import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // memory tests force a collection to check that dropped tensors are counted out (FinalizationRegistry)
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    setupFiles: ['test/setup.ts'],
  },
});
