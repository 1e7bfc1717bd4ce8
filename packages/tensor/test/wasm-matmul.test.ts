import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stridedMatmul64 } from './helpers.js';
import {
  allocF32, matmulF32, setNumThreads, getNumThreads, setParallelThreshold, disableWasm, wasmKernels,
  type MatmulArgs,
} from '../dist/backend/cpu/wasm/index.js';
import { matmulRef } from '../dist/backend/cpu/kernels/matmul.js';

const ref64 = (x: MatmulArgs): Float64Array => stridedMatmul64(x);

function fill(a: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return a;
}

interface Case { batch: number; m: number; n: number; k: number; ta: boolean; tb: boolean; bcA: boolean; bcB: boolean; heap: boolean; seed: number }

function makeArgs(c: Case): MatmulArgs {
  const { batch, m, n, k } = c;
  const mk = (len: number, seed: number) => fill(c.heap ? allocF32(len) : new Float32Array(len), seed);
  const a = mk(batch * m * k + 3, c.seed);
  const b = mk(batch * k * n + 5, c.seed + 1);
  return {
    batch, m, n, k,
    a, aOffset: 3, aBatchStride: c.bcA ? 0 : m * k, aRowStride: c.ta ? 1 : k, aColStride: c.ta ? m : 1,
    b, bOffset: 5, bBatchStride: c.bcB ? 0 : k * n, bRowStride: c.tb ? 1 : n, bColStride: c.tb ? k : 1,
    out: fill(allocF32(batch * m * n), 7), // garbage that must be overwritten
  };
}

function checkClose(got: Float32Array, want: Float64Array, k: number): void {
  const tol = 4e-7 * Math.max(1, k) + 1e-6;
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (tol ${tol})`);
    }
  }
}

const dim = fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 13, 16, 17, 31, 37, 64, 97, 130);
const caseArb = fc.record({
  batch: fc.constantFrom(1, 1, 2, 3), m: dim, n: dim, k: dim,
  ta: fc.boolean(), tb: fc.boolean(), bcA: fc.boolean(), bcB: fc.boolean(), heap: fc.boolean(), seed: fc.integer({ min: 1, max: 1e9 }),
});

describe('matmulF32 (wasm)', () => {
  it('uses WebAssembly kernels in Node', () => {
    expect(wasmKernels()).not.toBeNull();
    expect(getNumThreads()).toBeGreaterThanOrEqual(1);
  });

  it('matches a float64 reference on random shapes, strides and broadcasts; threads are bit-identical', () => {
    setParallelThreshold(1); // force the threaded split even for small shapes
    try {
      fc.assert(
        fc.property(caseArb, (c) => {
          const x = makeArgs(c);
          const want = ref64(x);
          setNumThreads(1);
          expect(matmulF32(x)).toBe(true);
          checkClose(x.out, want, c.k);
          const one = x.out.slice();
          setNumThreads(2);
          x.out.fill(NaN);
          expect(matmulF32(x)).toBe(true);
          expect(x.out).toEqual(one);
          const r = new Float32Array(c.batch * c.m * c.n).fill(NaN);
          matmulRef({ ...x, out: r });
          checkClose(r, want, c.k);
        }),
        { numRuns: 150 },
      );
    } finally {
      setParallelThreshold(1 << 22);
      setNumThreads(2);
    }
  });

  it('GEMV (m = 1) for row-major B and B = W^T, odd n and k, threads identical', () => {
    for (const [n, k] of [[1, 1], [3, 5], [17, 9], [130, 257], [1000, 301]] as const) {
      for (const tb of [false, true]) {
        const x = makeArgs({ batch: 2, m: 1, n, k, ta: false, tb, bcA: false, bcB: tb, heap: true, seed: n * 31 + k });
        const want = ref64(x);
        setParallelThreshold(1);
        setNumThreads(1);
        expect(matmulF32(x)).toBe(true);
        checkClose(x.out, want, k);
        const one = x.out.slice();
        setNumThreads(2);
        expect(matmulF32(x)).toBe(true);
        expect(x.out).toEqual(one);
        setParallelThreshold(1 << 22);
      }
    }
  });

  it('a larger product split over threads equals the single-thread result', () => {
    const x = makeArgs({ batch: 1, m: 200, n: 300, k: 260, ta: false, tb: true, bcA: false, bcB: false, heap: true, seed: 5 });
    setNumThreads(1);
    expect(matmulF32(x)).toBe(true);
    const one = x.out.slice();
    checkClose(one, ref64(x), 260);
    setNumThreads(2);
    expect(matmulF32(x)).toBe(true);
    expect(x.out).toEqual(one);
  });

  it('tall, wide and batched products split over 2 and 3 threads equal one thread and a float64 reference', () => {
    // A row-major and transposed (both packA fast paths, k with a tail of 1-3 past a multiple of 4 and more than one K
    // block), on ordinary arrays and on the heap.
    const shapes = [[1, 1003, 40, 261], [1, 30, 2001, 70], [3, 500, 64, 67], [16, 37, 29, 13], [1, 246, 250, 258]] as const;
    setParallelThreshold(1);
    for (const [batch, m, n, k] of shapes) {
      for (const ta of [false, true]) {
        const x = makeArgs({ batch, m, n, k, ta, tb: !ta, bcA: false, bcB: batch === 3, heap: ta, seed: m * 7 + n + k });
        setNumThreads(1);
        expect(matmulF32(x)).toBe(true);
        checkClose(x.out, ref64(x), k);
        const one = x.out.slice();
        for (const t of [2, 3]) {
          setNumThreads(t);
          x.out.fill(NaN);
          expect(matmulF32(x)).toBe(true);
          expect(x.out).toEqual(one);
        }
      }
    }
    setParallelThreshold(1 << 22);
    setNumThreads(2);
  });

  it('k = 0 gives zeros; bad sizes throw', () => {
    const out = new Float32Array(6).fill(5);
    matmulF32({ batch: 1, m: 2, n: 3, k: 0, a: new Float32Array(0), aOffset: 0, aBatchStride: 0, aRowStride: 0, aColStride: 1, b: new Float32Array(0), bOffset: 0, bBatchStride: 0, bRowStride: 3, bColStride: 1, out });
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => matmulF32({ batch: 1, m: 2, n: 3, k: 4, a: new Float32Array(3), aOffset: 0, aBatchStride: 0, aRowStride: 4, aColStride: 1, b: new Float32Array(12), bOffset: 0, bBatchStride: 0, bRowStride: 3, bColStride: 1, out })).toThrow(/outside/);
  });

  it('declines (returns false, out untouched) when WebAssembly is disabled; matmulRef computes the product', () => {
    const x = makeArgs({ batch: 2, m: 5, n: 7, k: 9, ta: true, tb: false, bcA: false, bcB: false, heap: false, seed: 3 });
    const before = x.out.slice();
    disableWasm(true);
    try {
      expect(wasmKernels()).toBeNull();
      expect(matmulF32(x)).toBe(false);
    } finally {
      disableWasm(false);
    }
    expect(x.out).toEqual(before);
    matmulRef(x);
    checkClose(x.out, ref64(x), 9);
  });
});

describe('matmulRef (the TypeScript matmul) for float64 and int32', () => {
  it('float64 accumulates in float64 and int32 wraps like an int32 store, on strided batched operands', () => {
    for (const [m, n, k] of [[5, 7, 9], [4, 600, 300], [1, 3, 0]] as const) {
      const x = makeArgs({ batch: 2, m, n, k, ta: true, tb: true, bcA: false, bcB: true, heap: false, seed: m + n + k });
      const want = ref64(x);
      const f64 = { ...x, a: Float64Array.from(x.a), b: Float64Array.from(x.b), out: new Float64Array(x.out.length).fill(NaN) };
      matmulRef(f64);
      for (let i = 0; i < want.length; i++) expect(Math.abs(f64.out[i]! - want[i]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, k));
      const toInt = (v: Float32Array) => Int32Array.from(v, (e) => Math.round(e * 50000));
      const i32 = { ...x, a: toInt(x.a), b: toInt(x.b), out: new Int32Array(x.out.length) };
      matmulRef(i32);
      const wantInt = ref64({ ...x, a: Float32Array.from(i32.a), b: Float32Array.from(i32.b) });
      expect(Array.from(i32.out)).toEqual(Array.from(wantInt, (v) => v | 0));
    }
  });
});
