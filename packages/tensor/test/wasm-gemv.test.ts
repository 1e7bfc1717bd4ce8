// Decode-shaped GEMV kernels (m = 1, B = W^T) against a float64 reference: the bf16 / f16 kernel (8 rows and 32 bytes
// of each per iteration), the q8_0 / q4_0 integer kernel (four rows per pass, scales gathered by lane loads and
// decoded without the 2^112 factor that the activation scale carries) and quantAct, the kernel that quantizes the
// activations to int16 per block. Row counts off the unroll, k tails, 1 and 2 threads, special scales.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allocF32, allocU16, allocU8, matmulF32x16, matmulF32xQ, release, setNumThreads, setParallelThreshold, wasmKernels } from '../dist/backend/cpu/wasm/index.js';
import { heapBuffer, heapPtr } from '../dist/backend/cpu/wasm/heap.js';
import { hasRelaxedSimd } from '../dist/backend/cpu/wasm/module.js';
import { setInt8Gemv } from '../dist/backend/cpu/wasm/gemm.js';
import { dequantizeBlocks, quantizeBlocks } from '../dist/quant-blocks.js';
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16, type QuantDType } from '../dist/index.js';

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

/** y[j] = sum_k a[k] w[j, k] in float64, and sum_k |a[k] w[j, k]| (the scale of float32 rounding). */
function reference(a: ArrayLike<number>, w: ArrayLike<number>, n: number, k: number): { y: number[]; mag: number[] } {
  const y: number[] = [];
  const mag: number[] = [];
  for (let j = 0; j < n; j++) {
    let s = 0;
    let m = 0;
    for (let i = 0; i < k; i++) {
      s += a[i]! * w[j * k + i]!;
      m += Math.abs(a[i]! * w[j * k + i]!);
    }
    y.push(s);
    mag.push(m);
  }
  return { y, mag };
}

/** The int16 activation grid's error bound per output: sum over blocks of max|a_block| / 65534 * sum |w_block|. */
function gridBound(a: ArrayLike<number>, w: ArrayLike<number>, n: number, k: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < n; j++) {
    let e = 0;
    for (let b = 0; b < k; b += 32) {
      let amax = 0;
      let ws = 0;
      for (let i = b; i < b + 32; i++) {
        amax = Math.max(amax, Math.abs(a[i]!));
        ws += Math.abs(w[j * k + i]!);
      }
      e += (amax / 65534) * ws;
    }
    out.push(e);
  }
  return out;
}

/** A heap array (read in place by the kernels, as a model's weights and activations are) filled by `fill(i)`. */
function onHeap<T extends Float32Array | Uint16Array>(x: T, fill: (i: number) => number): T {
  for (let i = 0; i < x.length; i++) x[i] = fill(i);
  return x;
}

function gemvQ(dt: QuantDType, a: Float32Array, q: Uint8Array, n: number, k: number): Float32Array {
  const out = allocF32(n);
  const ok = matmulF32xQ({ batch: 1, m: 1, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b: q, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: dt, out });
  expect(ok).toBe(true);
  return out;
}

/** The q8_0 / q4_0 GEMV of `a` by blocks `q` is within the int16 activation grid's bound of the float64 product. */
function expectWithinGrid(dt: QuantDType, a: Float32Array, q: Uint8Array, n: number, k: number): void {
  const wq = new Float64Array(n * k);
  dequantizeBlocks(dt, q, 0, n * k, wq);
  const out = gemvQ(dt, a, q, n, k);
  const { y, mag } = reference(a, wq, n, k);
  const grid = gridBound(a, wq, n, k);
  for (let j = 0; j < n; j++) expect(Math.abs(out[j]! - y[j]!)).toBeLessThanOrEqual(grid[j]! * 1.001 + mag[j]! * 2 ** -20 + 1e-30);
}

afterEach(() => {
  setNumThreads(1);
  setParallelThreshold(1 << 22);
});

it('relaxed SIMD is on exactly where the engine flag is given (the relaxed-simd test project runs the fused kernels)', () => {
  expect(hasRelaxedSimd()).toBe(process.execArgv.includes('--experimental-wasm-relaxed-simd') || Number(process.versions.node.split('.')[0]) >= 22);
});

describe('bf16 / f16 GEMV (W rows read in place, 8 rows x 32 bytes per iteration)', () => {
  for (const dt of ['bfloat16', 'float16'] as const) {
    for (const threads of [1, 2]) {
      it(`${dt}, ${threads} thread(s): rows 1..17 around the unroll, k with 16-, 4- and 1-element tails, against float64`, () => {
        setNumThreads(threads);
        setParallelThreshold(threads > 1 ? 0 : 1 << 22);
        const r = xorshift(dt.length * 7 + threads);
        const enc = dt === 'bfloat16' ? numberToBf16 : numberToF16;
        const dec = dt === 'bfloat16' ? bf16ToNumber : f16ToNumber;
        for (const n of [1, 7, 8, 9, 15, 17, 40]) {
          for (const k of [1, 3, 15, 16, 17, 35, 64, 100, 3077]) {
            const a = onHeap(allocF32(k), () => r());
            const w = onHeap(allocU16(n * k), () => enc(r()));
            const out = allocF32(n);
            const ok = matmulF32x16({ batch: 1, m: 1, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b: w, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: dt, out });
            expect(ok).toBe(true);
            const { y, mag } = reference(a, Array.from(w, dec), n, k);
            for (let j = 0; j < n; j++) expect(Math.abs(out[j]! - y[j]!)).toBeLessThanOrEqual(mag[j]! * k * 2 ** -24 + 1e-30);
            for (const x of [a, w, out]) release(x);
          }
        }
      });
    }
  }
});

describe('q8_0 / q4_0 integer GEMV and quantAct', () => {
  // the int16 kernels, which q4_0 leaves for the int8 one where relaxed SIMD is on (wasm-gemv-i8.test.ts)
  beforeAll(() => setInt8Gemv(false));
  afterAll(() => setInt8Gemv(true));
  for (const dt of ['q8_0', 'q4_0'] as const) {
    for (const threads of [1, 2]) {
      it(`${dt}, ${threads} thread(s): rows 1..13 off the 4-row pass, the 4B model's k = 3072, against float64 on the dequantized weights`, () => {
        setNumThreads(threads);
        setParallelThreshold(threads > 1 ? 0 : 1 << 22);
        const r = xorshift(dt.length * 13 + threads);
        for (const n of [1, 2, 3, 5, 6, 7, 13, 66]) {
          for (const k of [32, 96, 3072]) {
            const a = onHeap(allocF32(k), () => r() * 3);
            const wf = Float32Array.from({ length: n * k }, () => r());
            const q = allocU8((n * k / 32) * (dt === 'q8_0' ? 34 : 18));
            q.set(quantizeBlocks(dt, wf));
            expectWithinGrid(dt, a, q, n, k);
            release(a);
            release(q);
          }
        }
      });
    }

    it(`${dt}: negative, subnormal and zero block scales decode exactly; an infinite or NaN scale gives a non-finite output, other rows unchanged`, () => {
      const k = 128;
      const n = 6;
      const r = xorshift(5);
      const wf = Float32Array.from({ length: n * k }, () => r());
      const q = quantizeBlocks(dt, wf);
      const bb = dt === 'q8_0' ? 34 : 18;
      const rowBytes = (k / 32) * bb;
      const scales = [-0.75, 2 ** -20, -(2 ** -24), 0, 6e4, -3 * 2 ** -15]; // f16: negative, subnormal, smallest, 0, large
      for (let j = 0; j < n; j++) {
        const h = numberToF16(scales[j]!);
        q[j * rowBytes + bb] = h & 255; // the second block of row j
        q[j * rowBytes + bb + 1] = h >> 8;
      }
      const a = onHeap(allocF32(k), () => r());
      expectWithinGrid(dt, a, q, n, k);
      const finite = gemvQ(dt, a, q, n, k);
      // a non-finite scale sends its pass of rows through the exact decode: the other rows keep their bits
      const inf = numberToF16(Infinity);
      q[bb] = inf & 255;
      q[bb + 1] = inf >> 8;
      const nan = 0x7e00;
      q[3 * rowBytes] = nan & 255;
      q[3 * rowBytes + 1] = nan >> 8;
      const out = gemvQ(dt, a, q, n, k);
      expect(Number.isFinite(out[0])).toBe(false);
      expect(out[3]).toBeNaN();
      for (const j of [1, 2, 4, 5]) expect(out[j]).toBe(finite[j]);
      release(a);
    });

    it(`${dt}: activations above 2^30, all-zero and subnormal blocks take the right path and stay within the bound`, () => {
      const k = 96;
      const n = 9;
      const r = xorshift(9);
      const wf = Float32Array.from({ length: n * k }, () => r());
      const q = quantizeBlocks(dt, wf);
      const wq = new Float64Array(n * k);
      dequantizeBlocks(dt, q, 0, n * k, wq);
      for (const fill of ['huge', 'zero-and-tiny'] as const) {
        const a = onHeap(allocF32(k), () => r());
        if (fill === 'huge') a[40] = 3e9; // the integer path declines, the float kernel runs
        else {
          a.fill(0, 0, 32);
          for (let i = 32; i < 64; i++) a[i] = r() * 1e-40; // float32 subnormals: d = 0
        }
        const out = gemvQ(dt, a, q, n, k);
        const { y, mag } = reference(a, wq, n, k);
        const grid = fill === 'huge' ? new Array(n).fill(0) : gridBound(a, wq, n, k);
        for (let j = 0; j < n; j++) expect(Math.abs(out[j]! - y[j]!)).toBeLessThanOrEqual(grid[j]! * 1.001 + mag[j]! * 2 ** -20 + 1e-30);
        release(a);
      }
    });
  }

  it('quantAct: |a - xq d| <= d / 2 per element, |xq| <= 32767, dx = d 2^112, sx = 8 sum(xq); 0 on inf / NaN / > 2^30', () => {
    const K = wasmKernels()!;
    const quantAct = K.quantAct as (...a: number[]) => number;
    const k = 256;
    const nb = k / 32;
    const r = xorshift(21);
    const a = onHeap(allocF32(k), (i) => r() * 10 ** ((i >> 5) - 3)); // blocks of magnitude 1e-3 .. 1e4
    a[70] = 0; // a zero inside a block
    a.fill(0, 96, 128); // an all-zero block
    const x = allocU8(k * 2 + nb * 8);
    const xp = heapPtr(x);
    expect(quantAct(k, heapPtr(a), xp, xp + k * 2, xp + k * 2 + nb * 4)).toBe(1);
    const xq = new Int16Array(heapBuffer(), xp, k);
    const dx = new Float32Array(heapBuffer(), xp + k * 2, nb);
    const sx = new Int32Array(heapBuffer(), xp + k * 2 + nb * 4, nb);
    for (let b = 0; b < nb; b++) {
      let amax = 0;
      for (let i = b * 32; i < b * 32 + 32; i++) amax = Math.max(amax, Math.abs(a[i]!));
      const d = Math.fround(amax / 32767);
      expect(dx[b]).toBe(Math.fround(d * 2 ** 112));
      let sum = 0;
      for (let i = b * 32; i < b * 32 + 32; i++) {
        expect(Math.abs(xq[i]!)).toBeLessThanOrEqual(32767);
        expect(Math.abs(a[i]! - xq[i]! * d)).toBeLessThanOrEqual(d / 2 * (1 + 2 ** -20));
        sum += xq[i]!;
      }
      expect(sx[b]).toBe(8 * sum);
    }
    for (const bad of [Infinity, NaN, 2 ** 31]) {
      a[200] = bad;
      expect(quantAct(k, heapPtr(a), xp, xp + k * 2, xp + k * 2 + nb * 4)).toBe(0);
    }
    release(a);
    release(x);
  });
});

describe('readPeak (the read ceiling the decode benchmarks divide by)', () => {
  it('reads every byte of its range, as four runs, and nothing outside it', () => {
    const K = wasmKernels()!;
    const readPeak = K.readPeak as (ptr: number, bytes: number, out: number) => void;
    const bytes = 64 * 4 * 5; // five iterations of the four runs
    const buf = allocU8(bytes + 64);
    const out = allocU8(16);
    const orOf = () => {
      readPeak(heapPtr(buf) + 32, bytes, heapPtr(out));
      return out.reduce((a, b) => a | b, 0);
    };
    buf.fill(0);
    expect(orOf()).toBe(0);
    // a bit set at any byte inside the range shows up; the 32 bytes either side are never read
    for (const i of [0, 1, 63, 64, 319, 320, 640, 959, 960, bytes - 1]) {
      buf.fill(0);
      buf[32 + i] = 1 << (i % 8);
      expect(orOf()).toBe(1 << (i % 8));
    }
    buf.fill(0);
    buf[31] = 0xff;
    buf[32 + bytes] = 0xff;
    expect(orOf()).toBe(0);
    release(buf);
    release(out);
  });
});
