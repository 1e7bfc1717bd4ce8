// f32 x 16-bit (bfloat16 / float16) matmul: B stays 16-bit and is decoded inside the kernels.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stridedMatmul64 } from './helpers.js';
import {
  allocF32, allocU16, release, heapStats, matmulF32x16, setNumThreads, setParallelThreshold,
  disableWasm, wasmKernels, type MatmulArgs16,
} from '../dist/backend/cpu/wasm/index.js';
import { cpuAlloc } from '../dist/backend/cpu/storage.js';
import { matmulCpu } from '../dist/backend/cpu/matmul.js';
import { matmulRef } from '../dist/backend/cpu/kernels/matmul.js';
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16 } from '../dist/dtype.js';
import type { View } from '../dist/backend.js';

type Half = 'bfloat16' | 'float16';
const dec = (dt: Half) => (dt === 'bfloat16' ? bf16ToNumber : f16ToNumber);
const enc = (dt: Half) => (dt === 'bfloat16' ? numberToBf16 : numberToF16);

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

const ref64 = (x: MatmulArgs16): Float64Array => stridedMatmul64(x, dec(x.bDtype));

function checkClose(got: Float32Array, want: Float64Array, k: number): void {
  const tol = 4e-7 * Math.max(1, k) + 1e-6;
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (tol ${tol})`);
  }
}

/** Bit patterns compare NaN == NaN and tell -0 from 0. */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

// B layouts: 'rows' = [k, n] row-major, 'wt' = W^T with W [n, k] row-major (linear layer), 'strided' = every other column.
type Layout = 'rows' | 'wt' | 'strided';
interface Case { dt: Half; batch: number; m: number; n: number; k: number; layout: Layout; ta: boolean; bcB: boolean; heap: boolean; seed: number }

function makeArgs(c: Case): MatmulArgs16 {
  const { batch, m, n, k } = c;
  const r = xorshift(c.seed);
  const a = (c.heap ? allocF32 : (l: number) => new Float32Array(l))(batch * m * k + 3);
  for (let i = 0; i < a.length; i++) a[i] = r();
  const per = c.layout === 'strided' ? k * 2 * n : k * n;
  const b = (c.heap ? allocU16 : (l: number) => new Uint16Array(l))((c.bcB ? 1 : batch) * per + 5);
  const e = enc(c.dt);
  for (let i = 0; i < b.length; i++) b[i] = e(r());
  const [rs, cs] = c.layout === 'rows' ? [n, 1] : c.layout === 'wt' ? [1, k] : [2 * n, 2];
  return {
    batch, m, n, k,
    a, aOffset: 3, aBatchStride: m * k, aRowStride: c.ta ? 1 : k, aColStride: c.ta ? m : 1,
    b, bOffset: 5, bBatchStride: c.bcB ? 0 : per, bRowStride: rs, bColStride: cs, bDtype: c.dt,
    out: allocF32(batch * m * n).fill(7), // garbage that must be overwritten
  };
}

/** Runs on 1 and 2 threads (forced split), checks against float64 and that both agree bit for bit. */
function checkCase(c: Case): void {
  const x = makeArgs(c);
  const want = ref64(x);
  setParallelThreshold(1);
  try {
    setNumThreads(1);
    expect(matmulF32x16(x)).toBe(true);
    checkClose(x.out, want, c.k);
    const one = x.out.slice();
    setNumThreads(2);
    x.out.fill(NaN);
    expect(matmulF32x16(x)).toBe(true);
    expect(bits(x.out)).toEqual(bits(one));
  } finally {
    setParallelThreshold(1 << 22);
    setNumThreads(2);
  }
  const r = new Float32Array(x.out.length).fill(NaN);
  matmulRef({ ...x, out: r });
  checkClose(r, want, c.k);
}

describe('matmulF32x16 (f32 A, bf16 / f16 B decoded in the kernels)', () => {
  it('uses WebAssembly kernels in Node and allocates 16-bit storage on the heap', () => {
    expect(wasmKernels()).not.toBeNull();
    expect(heapStats().shared).toBe(true);
  });

  it('GEMV (m = 1), both B layouts and a strided one, odd n and k, batches with stride-0 B', () => {
    for (const dt of ['bfloat16', 'float16'] as const)
      for (const layout of ['rows', 'wt', 'strided'] as const)
        for (const [n, k] of [[1, 1], [3, 5], [17, 9], [8, 16], [33, 24], [130, 257], [1000, 301]] as const)
          for (const [batch, bcB] of [[1, false], [3, true], [2, false]] as const)
            checkCase({ dt, batch, m: 1, n, k, layout, ta: false, bcB, heap: true, seed: n * 31 + k + batch });
  });

  it('m = 2..7 and larger, n and k not multiples of the tiles, both layouts, A transposed, B outside the heap', () => {
    for (const dt of ['bfloat16', 'float16'] as const)
      for (const layout of ['rows', 'wt', 'strided'] as const)
        for (const m of [2, 3, 4, 5, 6, 7, 13, 130])
          for (const [n, k] of [[5, 7], [17, 33], [50, 270]] as const)
            checkCase({ dt, batch: m > 100 ? 1 : 2, m, n, k, layout, ta: m % 2 === 1, bcB: m % 3 === 0, heap: m !== 5, seed: m * 1000 + n + k });
  });

  it('random shapes, strides and batches (property)', () => {
    const dim = fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 37, 64, 97);
    fc.assert(
      fc.property(
        fc.record({
          dt: fc.constantFrom<Half>('bfloat16', 'float16'), batch: fc.constantFrom(1, 1, 2, 3), m: dim, n: dim, k: dim,
          layout: fc.constantFrom<Layout>('rows', 'wt', 'strided'), ta: fc.boolean(), bcB: fc.boolean(), heap: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1e9 }),
        }),
        (c) => checkCase(c),
      ),
      { numRuns: 120 },
    );
  });

  it('a larger product (GEMM and GEMV) split over threads equals the single-thread result', () => {
    for (const dt of ['bfloat16', 'float16'] as const) {
      checkCase({ dt, batch: 1, m: 150, n: 300, k: 260, layout: 'wt', ta: false, bcB: false, heap: true, seed: 5 });
      checkCase({ dt, batch: 1, m: 1, n: 2000, k: 515, layout: 'wt', ta: false, bcB: false, heap: true, seed: 6 });
      checkCase({ dt, batch: 1, m: 1, n: 2001, k: 515, layout: 'rows', ta: false, bcB: false, heap: true, seed: 7 });
    }
  });

  it('decodes every finite float16 and bfloat16 pattern exactly (all kernel paths, every lane position)', () => {
    for (const dt of ['bfloat16', 'float16'] as const) {
      const d = dec(dt);
      const finite = (h: number) => (dt === 'float16' ? ((h >>> 10) & 0x1f) !== 31 : ((h >>> 7) & 0xff) !== 0xff);
      const k = 21; // 16 in the main loop, 4 in the 4-step loop, 1 scalar
      const n = Math.ceil(65536 / k);
      const w = allocU16(n * k); // W [n, k]: all patterns in order
      for (let i = 0; i < w.length; i++) w[i] = finite(i & 0xffff) ? i & 0xffff : 0;
      const out = allocF32(k * n);
      // GEMV on W rows with a one-hot a: out[j] = W[j, p] exactly.
      for (const p of [0, 1, 6, 7, 8, 15, 16, 19, 20]) {
        const a = allocF32(k);
        a[p] = 1;
        matmulF32x16({ batch: 1, m: 1, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b: w, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: dt, out });
        for (let j = 0; j < n; j++) if (out[j] !== d(w[j * k + p]!)) throw new Error(`${dt} dot p=${p} j=${j}: ${out[j]} vs ${d(w[j * k + p]!)}`);
      }
      // GEMM with A = I: out = B exactly, for B = W^T (k x n, transposed packing) and B = W viewed [n, k] row-major.
      const eye = allocF32(k * k);
      for (let i = 0; i < k; i++) eye[i * k + i] = 1;
      matmulF32x16({ batch: 1, m: k, n, k, a: eye, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b: w, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: dt, out });
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) if (out[i * n + j] !== d(w[j * k + i]!)) throw new Error(`${dt} gemm W^T (${i},${j})`);
      const m2 = 7; // rows-layout B [k2 = n_rows, n2 = k] (n2 = 21: a full 16-column panel and an edge panel)
      const rows = Math.floor((n * k) / (k * 16)) * 16;
      const a2 = allocF32(m2 * rows);
      for (let i = 0; i < m2; i++) a2[i * rows + i * 5] = 1;
      const out2 = allocF32(m2 * k);
      matmulF32x16({ batch: 1, m: m2, n: k, k: rows, a: a2, aOffset: 0, aBatchStride: 0, aRowStride: rows, aColStride: 1, b: w, bOffset: 0, bBatchStride: 0, bRowStride: k, bColStride: 1, bDtype: dt, out: out2 });
      for (let i = 0; i < m2; i++) for (let j = 0; j < k; j++) expect(out2[i * k + j]).toBe(d(w[i * 5 * k + j]!));
      // GEMV on B rows (gemvRows), one-hot a selecting row p: out = B[p, :].
      for (const p of [0, 3, 100]) {
        const a = allocF32(rows);
        a[p] = 1;
        const o = allocF32(k);
        matmulF32x16({ batch: 1, m: 1, n: k, k: rows, a, aOffset: 0, aBatchStride: 0, aRowStride: rows, aColStride: 1, b: w, bOffset: 0, bBatchStride: 0, bRowStride: k, bColStride: 1, bDtype: dt, out: o });
        for (let j = 0; j < k; j++) expect(o[j]).toBe(d(w[p * k + j]!));
      }
      release(w);
    }
  });

  it('float16 specials: subnormals, signed zeros, max, infinities and NaN', () => {
    // W rows [n, k = 19]; a is all ones, so a row holding inf sums to inf and one holding NaN to NaN.
    const k = 19;
    const specials: [number[], number][] = [
      [[0x0001, 0x0001, 0x03ff, 0x8001], 0x03ff * 2 ** -24 + 2 ** -24], // subnormals (smallest, largest, negative)
      [[0x7bff, 0x0400], 65504], // max (+ smallest normal, lost in rounding)
      [[0xfbff], -65504],
      [[0x0400, 0x8400, 0x0400], 2 ** -14], // smallest normal
      [[0x7c00, 0x3c00], Infinity],
      [[0xfc00, 0x3c00], -Infinity],
      [[0x7e00], NaN],
      [[0x7c01, 0x0001], NaN], // signalling-NaN pattern
    ];
    for (const layout of ['wt', 'rows'] as const) {
      for (const m of [1, 3]) {
        const n = specials.length * 3; // a full 16-column panel and an edge panel
        const w = allocU16(n * k).fill(0x8000); // -0 everywhere else
        for (let j = 0; j < n; j++) specials[j % specials.length]![0].forEach((h, p) => (w[j * k + p * 5] = h));
        const a = allocF32(m * k).fill(1);
        const out = allocF32(m * n);
        matmulF32x16({
          batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1,
          b: w, bOffset: 0, bBatchStride: 0, bRowStride: layout === 'wt' ? 1 : n, bColStride: layout === 'wt' ? k : 1,
          bDtype: 'float16', out,
        });
        if (layout === 'rows') {
          // same W read as B [k, n] row-major needs W transposed in memory: build it
          const t = allocU16(k * n);
          for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) t[p * n + j] = w[j * k + p]!;
          matmulF32x16({ batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b: t, bOffset: 0, bBatchStride: 0, bRowStride: n, bColStride: 1, bDtype: 'float16', out });
        }
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) expect(out[i * n + j]).toBe(Math.fround(specials[j % specials.length]![1]));
      }
    }
    // bfloat16 infinities and NaN, and -0 alone stays -0 (a = 1: 0 + -0 = 0 in a sum, so check a single-term dot)
    const w = allocU16(3).fill(0);
    w.set([0x7f80, 0xff80, 0x7fc1]);
    const out = allocF32(3);
    const a = allocF32(1).fill(2);
    matmulF32x16({ batch: 1, m: 1, n: 3, k: 1, a, aOffset: 0, aBatchStride: 0, aRowStride: 1, aColStride: 1, b: w, bOffset: 0, bBatchStride: 0, bRowStride: 3, bColStride: 1, bDtype: 'bfloat16', out });
    expect(Array.from(out)).toEqual([Infinity, -Infinity, NaN]);
  });

  it('declines (returns false) when WebAssembly is disabled; matmulRef decodes B itself', () => {
    for (const dt of ['bfloat16', 'float16'] as const) {
      for (const m of [1, 5]) {
        const x = makeArgs({ dt, batch: 2, m, n: 7, k: 9, layout: 'wt', ta: true, bcB: true, heap: false, seed: 3 });
        disableWasm(true);
        try {
          expect(wasmKernels()).toBeNull();
          expect(matmulF32x16(x)).toBe(false);
        } finally {
          disableWasm(false);
        }
        matmulRef(x);
        checkClose(x.out, ref64(x), 9);
      }
    }
  });

  it('rejects a bad dtype, sizes and views outside the array', () => {
    const base = { batch: 1, m: 2, n: 3, k: 4, a: new Float32Array(8), aOffset: 0, aBatchStride: 0, aRowStride: 4, aColStride: 1, bOffset: 0, bBatchStride: 0, bRowStride: 3, bColStride: 1, out: new Float32Array(6) };
    expect(() => matmulF32x16({ ...base, b: new Uint16Array(12), bDtype: 'float32' as never })).toThrow(/bDtype/);
    expect(() => matmulF32x16({ ...base, b: new Uint16Array(11), bDtype: 'bfloat16' })).toThrow(/outside/);
    expect(() => matmulF32x16({ ...base, b: new Uint16Array(12), bDtype: 'bfloat16', out: new Float32Array(5) })).toThrow(/out has/);
    const out = new Float32Array(6).fill(5);
    matmulF32x16({ ...base, k: 0, b: new Uint16Array(0), bDtype: 'float16', out });
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('16-bit storage on the heap and the CPU backend matmul', () => {
  it('allocU16 / release and cpuAlloc for float16 / bfloat16 use the heap; dispose frees it', () => {
    const before = heapStats().liveBytes;
    const u = allocU16(1001);
    expect(u.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(u).every((v) => v === 0)).toBe(true);
    expect(heapStats().liveBytes - before).toBeGreaterThanOrEqual(2002);
    release(u);
    release(u);
    expect(heapStats().liveBytes).toBe(before);
    for (const dt of ['bfloat16', 'float16'] as const) {
      const s = cpuAlloc(dt, 5000, true); // resident: weights live on the heap
      expect(s.data).toBeInstanceOf(Uint16Array);
      expect(s.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(heapStats().liveBytes - before).toBeGreaterThanOrEqual(10000);
      s.dispose();
      expect(heapStats().liveBytes).toBe(before);
      expect(() => s.data).toThrow(/disposed/);
    }
  });

  it('matmulCpu: float32 a times 16-bit b (both layouts, batch broadcast) without upcasting b', () => {
    for (const dt of ['bfloat16', 'float16'] as const) {
      for (const [m, tb] of [[1, true], [1, false], [9, true], [9, false]] as const) {
        const [B, n, k] = [2, 19, 23];
        const r = xorshift(m * 7 + (tb ? 1 : 0));
        const as = cpuAlloc('float32', B * m * k);
        const A = as.data as Float32Array;
        for (let i = 0; i < A.length; i++) A[i] = r();
        const bs = cpuAlloc(dt, n * k);
        const Bd = bs.data as Uint16Array;
        for (let i = 0; i < Bd.length; i++) Bd[i] = enc(dt)(r());
        const a: View = { storage: as, shape: [B, m, k], strides: [m * k, k, 1], offset: 0 };
        // b [B, k, n] broadcast over the batch: stride 0; tb reads W [n, k] transposed
        const b: View = { storage: bs, shape: [B, k, n], strides: tb ? [0, 1, k] : [0, n, 1], offset: 0 };
        const out = matmulCpu(a, b, 'float32');
        expect(out.dtype).toBe('float32');
        const x: MatmulArgs16 = {
          batch: B, m, n, k, a: A, aOffset: 0, aBatchStride: m * k, aRowStride: k, aColStride: 1,
          b: Bd, bOffset: 0, bBatchStride: 0, bRowStride: tb ? 1 : n, bColStride: tb ? k : 1, bDtype: dt, out: new Float32Array(0),
        };
        checkClose((out as unknown as { data: Float32Array }).data, ref64(x), k);
        out.dispose();
        as.dispose();
        bs.dispose();
      }
    }
  });
});
