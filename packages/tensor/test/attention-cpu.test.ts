// The fused decode-attention kernel on the CPU (Backend.decodeAttention) against a float64 reference and against the
// composite path: one query per head, grouped key/value heads read in place, odd lengths and head sizes, strided
// views of a longer cache buffer; and the cases that must keep the composite (a gradient, a mask, several queries).
import { describe, expect, it, vi } from 'vitest';
import { cpuBackend, Generator, noGrad, ones, randn, scaledDotProductAttention, setNumThreads, type Tensor } from '@tensorzoo/tensor';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';
import { setParallelThreshold } from '../dist/backend/cpu/wasm/gemm.js';
import { attentionReference, maxAbsDiff, restoreCpuAfterEach } from './attention.helpers.js';

describe('scaledDotProductAttention: fused decode kernel on the cpu', () => {
  const threshold0 = restoreCpuAfterEach();
  const g = new Generator(11);
  const cases: [number, number, number, number, number][] = [
    // batch, query heads, kv heads, kv length, head_dim
    [1, 4, 4, 1, 64], [1, 4, 2, 37, 64], [2, 8, 2, 200, 64], [1, 3, 3, 65, 17], [3, 6, 1, 131, 5], [1, 2, 1, 513, 96],
  ];
  // the SIMD route (batched products on the wasm kernels, one and two threads) and the TypeScript rows
  const routes: [string, boolean, number][] = [['wasm, 1 thread', true, 1], ['wasm, 2 threads', true, 2], ['TypeScript', false, 1]];
  for (const [B, hq, hk, S, E] of cases) {
    for (const [route, wasm, threads] of routes) {
      it(`${route}: matches float64 and the composite for q [${B},${hq},1,${E}], k/v [${B},${hk},${S},${E}]`, () => {
        const spy = vi.spyOn(cpuBackend, 'decodeAttention');
        const q = randn([B, hq, 1, E], { generator: g });
        const k = randn([B, hk, S, E], { generator: g }).mul(2);
        const v = randn([B, hk, S, E], { generator: g });
        setWasmAccelerators(wasm);
        setNumThreads(threads);
        setParallelThreshold(threads > 1 ? 1 : threshold0); // split even these small products over the threads
        const got = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true }));
        expect(spy).toHaveBeenCalledTimes(1);
        expect(got.shape).toEqual([B, hq, 1, E]);
        // float32 products on the SIMD route; float64 sums in the TypeScript rows
        expect(maxAbsDiff(got, attentionReference(q, k, v, 1 / Math.sqrt(E)))).toBeLessThan(wasm ? 1e-5 : 2e-6);
        // a query that records a gradient keeps the composite (repeat of the heads, matmul, softmax, matmul)
        const composite = scaledDotProductAttention(q.clone().requiresGrad_(true), k, v, { enableGqa: true });
        expect(spy).toHaveBeenCalledTimes(1);
        expect(maxAbsDiff(got, composite.detach())).toBeLessThan(1e-5);
      });
    }
  }

  it('reads strided views in place (a query transposed out of [b, s, heads, E], a cache prefix of a longer buffer) with a custom scale', () => {
    const q = randn([2, 1, 4, 16], { generator: g }).transpose(1, 2);
    const kAll = randn([2, 2, 50, 16], { generator: g });
    const k = kAll.narrow(2, 0, 31);
    const v = randn([2, 50, 2, 16], { generator: g }).transpose(1, 2).narrow(2, 0, 31);
    const got = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true, scale: 0.3 }));
    expect(maxAbsDiff(got, attentionReference(q, k, v, 0.3))).toBeLessThan(1e-5);
    setWasmAccelerators(false);
    expect(maxAbsDiff(noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true, scale: 0.3 })), attentionReference(q, k, v, 0.3))).toBeLessThan(2e-6);
    setWasmAccelerators(true);
    // 3-D inputs [heads, 1, E] (no batch dim)
    const got3 = noGrad(() => scaledDotProductAttention(q.select(0, 1), k.select(0, 1), v.select(0, 1), { enableGqa: true }));
    expect(got3.shape).toEqual([4, 1, 16]);
    expect(maxAbsDiff(got3, attentionReference(q.narrow(0, 1, 1), k.narrow(0, 1, 1), v.narrow(0, 1, 1), 0.25))).toBeLessThan(1e-5);
  });

  it('keeps the composite when a mask is given, the scores are causal over several keys or there are several queries', () => {
    const spy = vi.spyOn(cpuBackend, 'decodeAttention');
    const q = randn([1, 2, 1, 8], { generator: g });
    const k = randn([1, 2, 9, 8], { generator: g });
    const v = randn([1, 2, 9, 8], { generator: g });
    noGrad(() => scaledDotProductAttention(q, k, v, { attnMask: ones([1, 9], { dtype: 'bool' }) }));
    noGrad(() => scaledDotProductAttention(q, k, v, { isCausal: true }));
    noGrad(() => scaledDotProductAttention(randn([1, 2, 3, 8], { generator: g }), k, v));
    expect(spy).not.toHaveBeenCalled();
  });
});
