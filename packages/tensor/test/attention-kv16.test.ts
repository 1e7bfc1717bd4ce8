// Attention over keys and values stored as bfloat16 / float16 (a 16-bit KV cache): the fused CPU kernel reads
// them in place, decoded exactly (equal to float64 attention over the rounded values), on the SIMD route (one and two
// threads) and the TypeScript rows; and against float32 keys and values within the 16-bit rounding's effect.
import { describe, expect, it, vi } from 'vitest';
import { cpuBackend, Generator, noGrad, randn, scaledDotProductAttention, setNumThreads, type Tensor } from '@tensorzoo/tensor';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';
import { setParallelThreshold } from '../dist/backend/cpu/wasm/gemm.js';
import { attentionReference, maxAbsDiff, restoreCpuAfterEach } from './attention.helpers.js';

describe('scaledDotProductAttention: fused attention kernel over 16-bit keys and values (cpu)', () => {
  const threshold0 = restoreCpuAfterEach();
  const g = new Generator(5);
  const routes: [string, boolean, number][] = [['wasm, 1 thread', true, 1], ['wasm, 2 threads', true, 2], ['TypeScript', false, 1]];
  for (const dt of ['bfloat16', 'float16'] as const) {
    for (const [route, wasm, threads] of routes) {
      for (const [B, hq, hk, S, E] of [[1, 24, 8, 130, 128], [2, 4, 4, 37, 17], [1, 3, 1, 1, 64]] as const) {
        it(`${dt}, ${route}: q [${B},${hq},1,${E}], k/v [${B},${hk},${S},${E}] (a prefix view of a longer buffer)`, () => {
          const spy = vi.spyOn(cpuBackend as Required<typeof cpuBackend>, 'attention');
          const q = randn([B, hq, 1, E], { generator: g });
          const k32 = randn([B, hk, S + 5, E], { generator: g }).mul(0.5);
          const v32 = randn([B, hk, S + 5, E], { generator: g });
          const [k, v] = [k32.to(dt).narrow(2, 0, S), v32.to(dt).narrow(2, 0, S)];
          setWasmAccelerators(wasm);
          setNumThreads(threads);
          setParallelThreshold(threads > 1 ? 1 : threshold0);
          const got = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true }));
          expect(spy).toHaveBeenCalledTimes(1);
          expect(got.dtype).toBe('float32');
          // exact decoding: float64 attention over the 16-bit values, up to float32 rounding of the products
          expect(maxAbsDiff(got, attentionReference(q, k, v, 1 / Math.sqrt(E)))).toBeLessThan(wasm ? 1e-5 : 2e-6);
          // against the float32 keys and values: the 16-bit rounding of k (scores) and v, relative 2^-8 (bf16) or 2^-11
          const tol = dt === 'bfloat16' ? 2e-2 : 3e-3;
          expect(maxAbsDiff(got, attentionReference(q, k32.narrow(2, 0, S), v32.narrow(2, 0, S), 1 / Math.sqrt(E)))).toBeLessThan(tol);
        });
      }
    }
  }
});
