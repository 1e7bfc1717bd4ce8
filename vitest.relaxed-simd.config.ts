// The WebAssembly kernel tests again with relaxed SIMD on, as browsers and the CLI run them (Node 20 has it behind a
// flag; vitest 3 takes a worker's Node flags only from the root config, hence a config of its own): the
// relaxed_madd forms of the GEMM and GEMV kernels are emitted only then. `pnpm test` runs it after the main suite.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/tensor/test/wasm-*.test.ts', 'packages/tensor/test/quant*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--expose-gc', '--experimental-wasm-relaxed-simd'] } },
    setupFiles: ['test/setup.ts'],
  },
});
