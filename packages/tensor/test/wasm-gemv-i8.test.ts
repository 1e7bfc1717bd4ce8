// The q4_0 GEMV on int8 activations (quantAct8, then gemvDotI8_q4_0: i16x8.relaxed_dot_i8x16_i7x16_s of the int8
// activations with the 4-bit quants), which the kernel module holds only where the engine has relaxed SIMD (the
// relaxed-simd test project); without it matmulF32xQ keeps the int16 kernel (wasm-gemv.test.ts). Checked against
// float64: tightly against the product on the int8 grid quantAct8 writes (only float32 rounding of the per-block
// scaling apart), and within the grid's stated bound of the exact product.
import { afterEach, describe, expect, it } from 'vitest';
import { allocF32, allocU8, hasRelaxedSimd, matmulF32xQ, release, setNumThreads, setParallelThreshold, wasmKernels } from '../dist/backend/cpu/wasm/index.js';
import { quantActLevels, setInt8Gemv } from '../dist/backend/cpu/wasm/gemm.js';
import { heapBuffer, heapPtr } from '../dist/backend/cpu/wasm/heap.js';
import { dequantizeBlocks, quantizeBlocks } from '../dist/quant-blocks.js';
import { numberToF16 } from '../dist/index.js';

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

/** A heap array (read in place, as a model's activations are) filled by `fill(i)`. */
function onHeap(k: number, fill: (i: number) => number): Float32Array {
  const a = allocF32(k);
  for (let i = 0; i < k; i++) a[i] = fill(i);
  return a;
}

/** q4_0 blocks of n rows of k random weights, on the heap. */
function weights(n: number, k: number, r: () => number): Uint8Array {
  const q = allocU8((n * k / 32) * 18);
  q.set(quantizeBlocks('q4_0', Float32Array.from({ length: n * k }, () => r())));
  return q;
}

function dequant(q: Uint8Array, n: number, k: number): Float64Array {
  const w = new Float64Array(n * k);
  dequantizeBlocks('q4_0', q, 0, n * k, w);
  return w;
}

function gemv(a: Float32Array, q: Uint8Array, n: number, k: number): Float32Array {
  const out = allocF32(n);
  const ok = matmulF32xQ({ batch: 1, m: 1, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b: q, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: 'q4_0', out });
  expect(ok).toBe(true);
  return out;
}

interface Act8 {
  ok: number;
  xq: Int8Array;
  d: Float32Array; // per block, with the 2^112 factor removed
  dx: Float32Array;
  sx: Int32Array;
}

/** quantAct8 of `a` (k elements), read back. */
function quantAct8(a: Float32Array, k: number): Act8 {
  const nb = k / 32;
  const x = allocU8(k + nb * 8);
  const xp = heapPtr(x);
  const ok = (wasmKernels()!.quantAct8 as (...v: number[]) => number)(k, heapPtr(a), xp, xp + k, xp + k + nb * 4);
  const xq = new Int8Array(heapBuffer(), xp, k).slice();
  const dx = new Float32Array(heapBuffer(), xp + k, nb).slice();
  const sx = new Int32Array(heapBuffer(), xp + k + nb * 4, nb).slice();
  release(x);
  return { ok, xq, dx, sx, d: dx.map((v) => v * 2 ** -112) };
}

/**
 * Per output: the product on the int8 grid (sum over blocks of d_b sum xq w, float64), the float32 rounding bound of
 * the kernel's per-block scaling and accumulation ((nblk + 2) 2^-24 sum over blocks of |that block's term|), the exact
 * product, and the grid's bound on its distance from it: |a - xq d| <= d / 2 per element, d = max|a_block| / 127.
 */
function references(a: Float32Array, x: Act8, w: Float64Array, n: number, k: number) {
  const nb = k / 32;
  const out = { grid: [] as number[], gridTol: [] as number[], exact: [] as number[], bound: [] as number[] };
  for (let j = 0; j < n; j++) {
    let g = 0;
    let gAbs = 0;
    let e = 0;
    let bound = 0;
    let mag = 0;
    for (let b = 0; b < nb; b++) {
      let t = 0;
      let ws = 0;
      let amax = 0;
      for (let i = b * 32; i < b * 32 + 32; i++) {
        const wi = w[j * k + i]!;
        t += x.xq[i]! * wi;
        e += a[i]! * wi;
        mag += Math.abs(a[i]! * wi);
        ws += Math.abs(wi);
        amax = Math.max(amax, Math.abs(a[i]!));
      }
      g += x.d[b]! * t;
      gAbs += Math.abs(x.d[b]! * t);
      bound += (amax / 254) * ws;
    }
    out.grid.push(g);
    out.gridTol.push((nb + 2) * 2 ** -24 * gAbs + 1e-30);
    out.exact.push(e);
    out.bound.push(bound * (1 + 2 ** -16) + (nb + 2) * 2 ** -24 * mag + 1e-30);
  }
  return out;
}

/** Each output within float32 rounding of the int8 grid's product and within the grid's bound of the exact one. */
function expectWithinBounds(out: Float32Array, ref: ReturnType<typeof references>, n: number): void {
  for (let j = 0; j < n; j++) {
    expect(Math.abs(out[j]! - ref.grid[j]!)).toBeLessThanOrEqual(ref.gridTol[j]!);
    expect(Math.abs(out[j]! - ref.exact[j]!)).toBeLessThanOrEqual(ref.bound[j]!);
  }
}

afterEach(() => {
  setInt8Gemv(true);
  setNumThreads(1);
  setParallelThreshold(1 << 22);
});

it('quantAct8: |a - xq d| <= d / 2 per element, |xq| <= 127, dx = d 2^112, sx = 8 sum(xq); 0 on inf / NaN / > 2^30', () => {
  const k = 256;
  const nb = k / 32;
  const r = xorshift(21);
  const a = onHeap(k, (i) => r() * 10 ** ((i >> 5) - 3)); // blocks of magnitude 1e-3 .. 1e4
  a[70] = 0; // a zero inside a block
  a.fill(0, 96, 128); // an all-zero block
  for (let i = 128; i < 160; i++) a[i] = r() * 2;
  a[130] = -3; // a block whose largest magnitude is negative: xq = -127 there
  const x = quantAct8(a, k);
  expect(x.ok).toBe(1);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let i = b * 32; i < b * 32 + 32; i++) amax = Math.max(amax, Math.abs(a[i]!));
    const d = Math.fround(amax / 127);
    expect(x.dx[b]).toBe(Math.fround(d * 2 ** 112));
    let sum = 0;
    for (let i = b * 32; i < b * 32 + 32; i++) {
      expect(Math.abs(x.xq[i]!)).toBeLessThanOrEqual(127);
      expect(Math.abs(a[i]! - x.xq[i]! * d)).toBeLessThanOrEqual((d / 2) * (1 + 2 ** -20));
      sum += x.xq[i]!;
    }
    expect(x.sx[b]).toBe(8 * sum);
  }
  expect(x.xq[130]).toBe(-127);
  for (const bad of [Infinity, NaN, 2 ** 31]) {
    a[200] = bad;
    expect(quantAct8(a, k).ok).toBe(0);
  }
  release(a);
});

it('the int8 GEMV exists exactly where relaxed SIMD does; elsewhere q4_0 keeps int16 activations', () => {
  expect(typeof wasmKernels()!.gemvDotI8_q4_0 === 'function').toBe(hasRelaxedSimd());
  expect(quantActLevels('q4_0', 1)).toBe(hasRelaxedSimd() ? 127 : 32767);
  expect(quantActLevels('q4_0', 2)).toBe(32767);
  expect(quantActLevels('q8_0', 1)).toBe(32767);
  setInt8Gemv(false);
  expect(quantActLevels('q4_0', 1)).toBe(32767);
});

describe.runIf(hasRelaxedSimd())('q4_0 GEMV on int8 activations (relaxed SIMD)', () => {
  for (const threads of [1, 2]) {
    it(`${threads} thread(s): rows 1..66 off the 4-row pass, k = 32 / 96 / 3072: the int8 grid's product to float32 rounding, the exact one within the grid's bound`, () => {
      setNumThreads(threads);
      setParallelThreshold(threads > 1 ? 0 : 1 << 22);
      const r = xorshift(7 + threads);
      for (const n of [1, 2, 3, 5, 6, 7, 13, 66]) {
        for (const k of [32, 96, 3072]) {
          const a = onHeap(k, (i) => r() * (i % 64 < 32 ? 3 : 0.01)); // blocks of different magnitudes
          const q = weights(n, k, r);
          const out = gemv(a, q, n, k);
          expectWithinBounds(out, references(a, quantAct8(a, k), dequant(q, n, k), n, k), n);
          release(a);
          release(q);
        }
      }
    });
  }

  it('extreme operands: every activation at +-127 steps, every nibble 15 or 0 (the i16 sums at their largest)', () => {
    const k = 96;
    const n = 5;
    const q = allocU8((n * k / 32) * 18);
    const one = numberToF16(1);
    for (let j = 0; j < n; j++) {
      for (let b = 0; b < k / 32; b++) {
        const o = (j * k / 32 + b) * 18;
        q[o] = one & 255;
        q[o + 1] = one >> 8;
        q.fill((j + b) % 2 === 0 ? 0xff : 0x00, o + 2, o + 18); // quants 7 or -8
      }
    }
    for (const sign of [1, -1]) {
      const a = onHeap(k, (i) => (i < 32 ? sign : -sign) * 2.5);
      const out = gemv(a, q, n, k);
      const x = quantAct8(a, k);
      expect([...x.xq].every((v) => Math.abs(v) === 127)).toBe(true);
      expectWithinBounds(out, references(a, x, dequant(q, n, k), n, k), n);
      release(a);
    }
    release(q);
  });

  it('1 and 2 threads give the same bits (each row depends only on itself)', () => {
    const r = xorshift(31);
    const n = 301;
    const k = 3072;
    const a = onHeap(k, () => r());
    const q = weights(n, k, r);
    const one = gemv(a, q, n, k);
    setNumThreads(2);
    setParallelThreshold(0);
    const two = gemv(a, q, n, k);
    expect(new Uint32Array(two.buffer, two.byteOffset, n)).toEqual(new Uint32Array(one.buffer, one.byteOffset, n));
    release(a);
    release(q);
  });

  it('negative, subnormal and zero block scales decode exactly; an infinite or NaN scale gives a non-finite output, other rows unchanged', () => {
    const k = 128;
    const n = 6;
    const r = xorshift(5);
    const q = weights(n, k, r);
    const rowBytes = (k / 32) * 18;
    const scales = [-0.75, 2 ** -20, -(2 ** -24), 0, 6e4, -3 * 2 ** -15]; // f16: negative, subnormal, smallest, 0, large
    for (let j = 0; j < n; j++) {
      const h = numberToF16(scales[j]!);
      q[j * rowBytes + 18] = h & 255; // the second block of row j
      q[j * rowBytes + 19] = h >> 8;
    }
    const a = onHeap(k, () => r());
    const finite = gemv(a, q, n, k);
    const ref = references(a, quantAct8(a, k), dequant(q, n, k), n, k);
    for (let j = 0; j < n; j++) expect(Math.abs(finite[j]! - ref.grid[j]!)).toBeLessThanOrEqual(ref.gridTol[j]!);
    const inf = numberToF16(Infinity);
    q[0] = inf & 255;
    q[1] = inf >> 8;
    const nan = 0x7e00;
    q[3 * rowBytes] = nan & 255;
    q[3 * rowBytes + 1] = nan >> 8;
    const out = gemv(a, q, n, k);
    expect(Number.isFinite(out[0])).toBe(false);
    expect(out[3]).toBeNaN();
    for (const j of [1, 2, 4, 5]) expect(out[j]).toBe(finite[j]);
    release(a);
    release(q);
  });

  it('a non-finite or huge activation falls back to the float kernel (inf reaches the output, 3e9 is exact to float32 rounding)', () => {
    const k = 96;
    const n = 5;
    const r = xorshift(9);
    const q = weights(n, k, r);
    const w = dequant(q, n, k);
    const a = onHeap(k, () => r());
    a[40] = 3e9;
    const out = gemv(a, q, n, k);
    for (let j = 0; j < n; j++) {
      let e = 0;
      let mag = 0;
      for (let i = 0; i < k; i++) {
        e += a[i]! * w[j * k + i]!;
        mag += Math.abs(a[i]! * w[j * k + i]!);
      }
      expect(Math.abs(out[j]! - e)).toBeLessThanOrEqual(mag * 2 ** -20);
    }
    a[40] = Infinity;
    const inf = gemv(a, q, n, k);
    for (let j = 0; j < n; j++) {
      const wj = w[j * k + 40]!;
      if (wj > 0) expect(inf[j]).toBe(Infinity);
      else if (wj < 0) expect(inf[j]).toBe(-Infinity);
      else expect(inf[j]).toBeNaN();
    }
    release(a);
    release(q);
  });

  it('setInt8Gemv(false) runs the int16 kernel: within the int16 grid, far inside the int8 one', () => {
    const k = 3072;
    const n = 9;
    const r = xorshift(13);
    const q = weights(n, k, r);
    const w = dequant(q, n, k);
    const a = onHeap(k, () => r());
    setInt8Gemv(false);
    const out = gemv(a, q, n, k);
    for (let j = 0; j < n; j++) {
      let e = 0;
      let bound = 0;
      let mag = 0;
      for (let b = 0; b < k; b += 32) {
        let amax = 0;
        let ws = 0;
        for (let i = b; i < b + 32; i++) {
          e += a[i]! * w[j * k + i]!;
          mag += Math.abs(a[i]! * w[j * k + i]!);
          amax = Math.max(amax, Math.abs(a[i]!));
          ws += Math.abs(w[j * k + i]!);
        }
        bound += (amax / 65534) * ws;
      }
      expect(Math.abs(out[j]! - e)).toBeLessThanOrEqual(bound * 1.001 + mag * 2 ** -20);
    }
    release(a);
    release(q);
  });
});
