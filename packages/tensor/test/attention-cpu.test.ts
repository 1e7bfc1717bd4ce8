// The fused attention kernel on the CPU (Backend.attention) against a float64 reference and against the composite
// path: one query per head (decoding) and several (a prompt, causal or not), grouped key/value heads read in place,
// odd lengths and head sizes, strided views of a longer cache buffer, scores made a piece at a time; and the cases
// that must keep the composite (a gradient, a mask that differs between heads); masks shared by the heads.
import { describe, expect, it, vi } from 'vitest';
import { cpuBackend, Generator, noGrad, ones, randn, scaledDotProductAttention, setNumThreads, tensor, type Tensor } from '@tensorzoo/tensor';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';
import { setParallelThreshold } from '../dist/backend/cpu/wasm/gemm.js';
import { setAttentionScoresBytes } from '../dist/backend/cpu/fused.js';
import { attentionReference, maxAbsDiff, restoreCpuAfterEach } from './attention.helpers.js';

describe('scaledDotProductAttention: fused attention kernel on the cpu', () => {
  const threshold0 = restoreCpuAfterEach();
  const g = new Generator(11);
  const cases: [number, number, number, number, number, number, boolean][] = [
    // batch, query heads, kv heads, queries, kv length, head_dim, causal
    [1, 4, 4, 1, 1, 64, false], [1, 4, 2, 1, 37, 64, false], [2, 8, 2, 1, 200, 64, false], [1, 3, 3, 1, 65, 17, false],
    [3, 6, 1, 1, 131, 5, false], [1, 2, 1, 1, 513, 96, false],
    // a prompt: causal over its own keys, grouped heads; fewer and more queries than keys; not causal
    [1, 4, 4, 37, 37, 64, true], [2, 6, 2, 29, 29, 16, true], [1, 3, 1, 5, 9, 8, true], [1, 2, 2, 12, 7, 8, true], [2, 4, 2, 6, 11, 17, false],
    // longer than a causal piece (256 positions): pieces score only the keys they see
    [1, 3, 1, 300, 300, 8, true], [1, 2, 2, 520, 513, 4, true],
  ];
  // the SIMD route (batched products on the wasm kernels, one and two threads) and the TypeScript rows
  const routes: [string, boolean, number][] = [['wasm, 1 thread', true, 1], ['wasm, 2 threads', true, 2], ['TypeScript', false, 1]];
  for (const [B, hq, hk, L, S, E, causal] of cases) {
    for (const [route, wasm, threads] of routes) {
      it(`${route}: matches float64 and the composite for q [${B},${hq},${L},${E}], k/v [${B},${hk},${S},${E}]${causal ? ', causal' : ''}`, () => {
        const spy = vi.spyOn(cpuBackend as Required<typeof cpuBackend>, 'attention');
        const q = randn([B, hq, L, E], { generator: g });
        const k = randn([B, hk, S, E], { generator: g }).mul(2);
        const v = randn([B, hk, S, E], { generator: g });
        setWasmAccelerators(wasm);
        setNumThreads(threads);
        setParallelThreshold(threads > 1 ? 1 : threshold0); // split even these small products over the threads
        const got = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: causal }));
        expect(spy).toHaveBeenCalledTimes(1);
        expect(got.shape).toEqual([B, hq, L, E]);
        // float32 products on the SIMD route; float64 sums in the TypeScript rows
        expect(maxAbsDiff(got, attentionReference(q, k, v, 1 / Math.sqrt(E), causal))).toBeLessThan(wasm ? 1e-5 : 2e-6);
        // a query that records a gradient keeps the composite (repeat of the heads, matmul, softmax, matmul)
        const composite = scaledDotProductAttention(q.clone().requiresGrad_(true), k, v, { enableGqa: true, isCausal: causal });
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

  it('makes the scores a piece of rows at a time past its budget, one head at a time', () => {
    const q = randn([2, 6, 40, 16], { generator: g });
    const k = randn([2, 2, 40, 16], { generator: g });
    const v = randn([2, 2, 40, 16], { generator: g });
    const whole = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: true }));
    for (const bytes of [40 * 4 * 7, 40 * 4, 4]) {
      setAttentionScoresBytes(bytes); // 7 rows, 1 row, and less than one row (still one row) at a time
      try {
        const got = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: true }));
        // a piece of one row takes the matrix-vector kernel, which sums in another order: ulps apart, not bits
        expect(maxAbsDiff(got, whole)).toBeLessThan(1e-6);
      } finally {
        setAttentionScoresBytes(8 * 2 ** 20);
      }
    }
    expect(maxAbsDiff(whole, attentionReference(q, k, v, 0.25, true))).toBeLessThan(1e-5);
    expect(() => setAttentionScoresBytes(0)).toThrow(RangeError);
  });

  it('reads a prompt\'s queries transposed out of [b, s, heads, E] (heads not contiguous) and a cache prefix', () => {
    const q = randn([1, 7, 6, 8], { generator: g }).transpose(1, 2); // [1, 6, 7, 8], head stride 8, position stride 48
    const k = randn([1, 3, 20, 8], { generator: g }).narrow(2, 0, 7);
    const v = randn([1, 20, 3, 8], { generator: g }).transpose(1, 2).narrow(2, 0, 7);
    const got = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: true, scale: 0.3 }));
    expect(maxAbsDiff(got, attentionReference(q, k, v, 0.3, true))).toBeLessThan(1e-5);
  });

  it('adds a mask shared by the heads (bool padding [B, 1, 1, S], float [B, 1, L, S], [L, S]) in the kernel', () => {
    const spy = vi.spyOn(cpuBackend as Required<typeof cpuBackend>, 'attention');
    const [B, hq, hk, L, S, E] = [2, 6, 2, 5, 9, 16];
    const q = randn([B, hq, L, E], { generator: g });
    const k = randn([B, hk, S, E], { generator: g });
    const v = randn([B, hk, S, E], { generator: g });
    const keep = [[1, 1, 0, 1, 1, 1, 1, 0, 1], [0, 0, 1, 1, 1, 1, 1, 1, 1]];
    const pad = tensor(keep).eq(1).reshape(B, 1, 1, S);
    const f4 = randn([B, 1, L, S], { generator: g });
    const f2 = randn([L, S], { generator: g });
    const [F4, F2] = [f4.dataSync(), f2.dataSync()];
    const cases: [string, Tensor, (b: number, l: number, j: number) => number][] = [
      ['bool padding', pad, (b, _l, j) => (keep[b]![j] ? 0 : -Infinity)],
      ['float [B, 1, L, S]', f4, (b, l, j) => F4[(b * L + l) * S + j]!],
      ['float [L, S]', f2, (_b, l, j) => F2[l * S + j]!],
    ];
    for (const [route, wasm] of [['wasm', true], ['TypeScript', false]] as const) {
      setWasmAccelerators(wasm);
      for (const [name, m, fn] of cases) {
        spy.mockClear();
        const got = noGrad(() => scaledDotProductAttention(q, k, v, { enableGqa: true, attnMask: m, scale: 0.3 }));
        expect(spy, `${route}, ${name}`).toHaveBeenCalledTimes(1);
        expect(maxAbsDiff(got, attentionReference(q, k, v, 0.3, false, fn)), `${route}, ${name}`).toBeLessThan(wasm ? 1e-5 : 2e-6);
      }
    }
  });

  it('keeps the composite when the mask differs between heads or a key, value or query records a gradient', () => {
    const spy = vi.spyOn(cpuBackend as Required<typeof cpuBackend>, 'attention');
    const q = randn([1, 2, 3, 8], { generator: g });
    const k = randn([1, 2, 9, 8], { generator: g });
    const v = randn([1, 2, 9, 8], { generator: g });
    noGrad(() => scaledDotProductAttention(q, k, v, { attnMask: ones([1, 2, 3, 9], { dtype: 'bool' }) })); // differs per head
    scaledDotProductAttention(q, k.clone().requiresGrad_(true), v, { isCausal: true });
    scaledDotProductAttention(q, k, v.clone().requiresGrad_(true));
    expect(spy).not.toHaveBeenCalled();
  });
});
