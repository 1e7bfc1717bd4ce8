// The integer GEMM for q8_0 / q4_0 weights when m > 1 (prompt prefill): activations quantized per block of 32 to int16
// like the GEMV's, W's quants packed to int16 micro-panels, i32x4.dot_i16x8_s in a 4 x 8 tile. Against float64 on the
// dequantized weights within the int16 activation grid's bound, rows and columns off the tile, 1 and 2 threads (bit
// identical), padded W rows, strided / off-heap A, and the f32 panel path for activations int16 cannot carry.
import { afterEach, describe, expect, it } from 'vitest';
import { allocF32, allocU8, matmulF32xQ, release, setNumThreads, setParallelThreshold } from '../dist/backend/cpu/wasm/index.js';
import { setIntegerQGemm } from '../dist/backend/cpu/wasm/gemm.js';
import { dequantizeBlocks, quantizeBlocks } from '../dist/quant-blocks.js';
import type { QuantDType } from '../dist/index.js';

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

const BLOCK = { q8_0: 34, q4_0: 18 } as const;

interface Case {
  dt: QuantDType;
  m: number;
  n: number;
  k: number;
  a: Float32Array; // [m, k]
  q: Uint8Array; // W [n, k] in blocks, rows `rowBlocks` blocks apart
  rowBlocks: number;
  wq: Float64Array; // the dequantized W [n, k]
}

/** A random case: a [m, k] times W [n, k]^T, W quantized to `dt` with rows padded to `rowBlocks` blocks. */
function makeCase(dt: QuantDType, m: number, n: number, k: number, seed: number, rowBlocks = k / 32): Case {
  const r = xorshift(seed);
  const a = allocF32(m * k);
  for (let i = 0; i < a.length; i++) a[i] = r() * 3;
  const kp = rowBlocks * 32;
  const wf = Float32Array.from({ length: n * kp }, () => r());
  const q = allocU8(n * rowBlocks * BLOCK[dt]);
  q.set(quantizeBlocks(dt, wf));
  const full = new Float64Array(n * kp);
  dequantizeBlocks(dt, q, 0, n * kp, full);
  const wq = new Float64Array(n * k);
  for (let j = 0; j < n; j++) wq.set(full.subarray(j * kp, j * kp + k), j * k);
  return { dt, m, n, k, a, q, rowBlocks, wq };
}

function run(c: Case, a: Float32Array = c.a, aRowStride = c.k, aColStride = 1): Float32Array {
  const out = allocF32(c.m * c.n);
  const ok = matmulF32xQ({
    batch: 1, m: c.m, n: c.n, k: c.k, a, aOffset: 0, aBatchStride: 0, aRowStride, aColStride,
    b: c.q, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: c.rowBlocks * 32, bDtype: c.dt, out,
  });
  expect(ok).toBe(true);
  return out;
}

/**
 * Every output within the int16 activation grid's bound of the float64 product (sum over blocks of
 * max|a_block| / 65534 * sum |w_block|, as the GEMV tests) plus float32 rounding; `grid` false: float32 rounding only
 * (the f32 path).
 */
function expectClose(c: Case, out: Float32Array, grid = true): void {
  const { m, n, k, a, wq } = c;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let y = 0;
      let mag = 0;
      let e = 0;
      for (let b = 0; b < k; b += 32) {
        let amax = 0;
        let ws = 0;
        for (let t = b; t < b + 32; t++) {
          const av = a[i * k + t]!;
          const w = wq[j * k + t]!;
          y += av * w;
          mag += Math.abs(av * w);
          amax = Math.max(amax, Math.abs(av));
          ws += Math.abs(w);
        }
        e += (amax / 65534) * ws;
      }
      const bound = (grid ? e * 1.001 + mag * 2 ** -20 : mag * k * 2 ** -24) + 1e-30;
      const err = Math.abs(out[i * n + j]! - y);
      if (!(err <= bound)) expect({ i, j, out: out[i * n + j], y, bound }).toBe('within the bound');
    }
  }
}

afterEach(() => {
  setNumThreads(1);
  setParallelThreshold(1 << 22);
  setIntegerQGemm(true);
});

describe('q8_0 / q4_0 integer GEMM (m > 1)', () => {
  for (const dt of ['q8_0', 'q4_0'] as const) {
    it(`${dt}: m 2..128 and n off the 4 x 8 tile, k 32 / 96 / 3072, within the grid bound; 1 and 2 threads bit-identical`, () => {
      let seed = dt.length;
      for (const m of [2, 3, 5, 17, 128]) {
        for (const n of [1, 7, 9, 33, 130]) {
          for (const k of [32, 96, 3072]) {
            const c = makeCase(dt, m, n, k, ++seed);
            setNumThreads(1);
            const one = run(c);
            expectClose(c, one);
            setNumThreads(2);
            setParallelThreshold(0);
            const two = run(c);
            expect(Array.from(two)).toEqual(Array.from(one));
            setParallelThreshold(1 << 22);
            for (const x of [c.a, c.q, one, two]) release(x);
          }
        }
      }
    });

    it(`${dt}: padded W rows (bColStride > k), A transposed and off the heap`, () => {
      const c = makeCase(dt, 6, 11, 96, 5, 5);
      expectClose(c, run(c));
      const at = new Float32Array(c.m * c.k); // a^T [k, m], an ordinary array
      for (let i = 0; i < c.m; i++) for (let t = 0; t < c.k; t++) at[t * c.m + i] = c.a[i * c.k + t]!;
      const out = run(c, at, 1, c.m);
      expectClose(c, out);
      expect(Array.from(out)).toEqual(Array.from(run(c)));
      expect(Array.from(run(c, Float32Array.from(c.a)))).toEqual(Array.from(out)); // rows contiguous, off the heap
    });

    it(`${dt}: a non-finite or huge activation falls back to the f32 panels, which carry inf / NaN to the outputs`, () => {
      const c = makeCase(dt, 5, 9, 96, 11);
      const good = run(c);
      for (const bad of [NaN, Infinity, 3e9]) {
        const a = allocF32(c.a.length);
        a.set(c.a);
        a[2 * c.k + 40] = bad; // row 2
        const out = run(c, a);
        for (let i = 0; i < c.m; i++) {
          for (let j = 0; j < c.n; j++) {
            const v = out[i * c.n + j]!;
            if (i === 2 && bad !== 3e9) expect(Number.isFinite(v)).toBe(false);
            else if (i !== 2) expect(Math.abs(v - good[i * c.n + j]!)).toBeLessThanOrEqual(Math.abs(good[i * c.n + j]!) * 1e-3 + 1e-3);
          }
        }
        if (bad === 3e9) expectClose({ ...c, a }, out, false);
        release(a);
      }
    });

    it(`${dt}: an infinite block scale in W gives non-finite outputs in its column`, () => {
      const c = makeCase(dt, 3, 5, 64, 13);
      c.q[BLOCK[dt] * 2 * 2 + 1] = 0x7c; // row 2, block 0: f16 +inf (0x7c00)
      c.q[BLOCK[dt] * 2 * 2] = 0;
      const out = run(c);
      for (let i = 0; i < c.m; i++) expect(Number.isFinite(out[i * c.n + 2])).toBe(false);
    });

    it(`${dt}: the f32 panel path, turned on alone, stays within float32 rounding of the dequantized product`, () => {
      setIntegerQGemm(false);
      const c = makeCase(dt, 7, 19, 96, 17);
      expectClose(c, run(c), false);
    });
  }
});
