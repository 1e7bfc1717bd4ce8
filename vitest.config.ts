import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    pool: 'forks',
    setupFiles: ['test/setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          // memory tests force a collection to check that dropped tensors are counted out (FinalizationRegistry)
          poolOptions: { forks: { execArgv: ['--expose-gc'] } },
        },
      },
      {
        // The WebAssembly kernel tests again with relaxed SIMD on, as browsers and the CLI run them (Node 20 has it
        // behind a flag): the relaxed_madd forms of the GEMM and GEMV kernels are emitted only then.
        extends: true,
        test: {
          name: 'relaxed-simd',
          include: ['packages/tensor/test/wasm-*.test.ts', 'packages/tensor/test/quant*.test.ts'],
          poolOptions: { forks: { execArgv: ['--expose-gc', '--experimental-wasm-relaxed-simd'] } },
        },
      },
    ],
  },
});
