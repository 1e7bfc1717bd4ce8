// Batched products with a few rows of A (m <= 4) against Bs small enough to stay in cache run as m GEMVs reading B in
// place (a decode step's grouped query heads against their keys and values), in both B layouts, float32 and 16-bit
// B: each row must equal the m = 1 product of that row bit for bit, match a float64 reference, and not depend
// on the thread count. Also: a GEMV on more threads than the job table's 64 slots cut into more than 64 jobs.
import { afterAll, describe, expect, it } from 'vitest';
import { allocF32, allocU16, getNumThreads, matmulF32, matmulF32x16, release, setNumThreads, setParallelThreshold } from '../dist/backend/cpu/wasm/index.js';
import { PARALLEL_MIN_WORK } from '../dist/backend/cpu/wasm/gemm.js';
import { bf16ToNumber, numberToBf16 } from '../dist/index.js';

const threadsBefore = getNumThreads();
const thresholdBefore = PARALLEL_MIN_WORK;
afterAll(() => {
  setNumThreads(threadsBefore);
  setParallelThreshold(thresholdBefore);
});

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

type Layout = 'rows of W contiguous' | 'rows of B contiguous';

interface Case {
  batch: number; m: number; n: number; k: number;
  a: Float32Array; b: Float32Array | Uint16Array; bf16: boolean; layout: Layout;
}

function makeCase(batch: number, m: number, n: number, k: number, bf16: boolean, layout: Layout, seed: number): Case {
  const r = xorshift(seed);
  const a = allocF32(batch * m * k);
  for (let i = 0; i < a.length; i++) a[i] = r();
  const b = bf16 ? allocU16(batch * k * n) : allocF32(batch * k * n);
  for (let i = 0; i < b.length; i++) b[i] = bf16 ? numberToBf16(r()) : r();
  return { batch, m, n, k, a, b, bf16, layout };
}

/** B's element (kk, j) of batch item bi, as stored. */
function bAt(c: Case, bi: number, kk: number, j: number): number {
  const i = bi * c.k * c.n + (c.layout === 'rows of W contiguous' ? j * c.k + kk : kk * c.n + j);
  return c.bf16 ? bf16ToNumber(c.b[i]!) : c.b[i]!;
}

/** out = A B for rows [row0, row0 + m) of every batch item's A. */
function run(c: Case, row0: number, m: number): Float32Array {
  const out = allocF32(c.batch * m * c.n);
  const [bRowStride, bColStride] = c.layout === 'rows of W contiguous' ? [1, c.k] : [c.n, 1];
  const args = {
    batch: c.batch, m, n: c.n, k: c.k,
    a: c.a, aOffset: row0 * c.k, aBatchStride: c.m * c.k, aRowStride: c.k, aColStride: 1,
    bOffset: 0, bBatchStride: c.k * c.n, bRowStride, bColStride, out,
  };
  const ok = c.b instanceof Uint16Array ? matmulF32x16({ ...args, b: c.b, bDtype: 'bfloat16' }) : matmulF32({ ...args, b: c.b });
  expect(ok).toBe(true);
  return out;
}

describe('few-row products as GEMVs', () => {
  for (const bf16 of [false, true]) {
    for (const layout of ['rows of W contiguous', 'rows of B contiguous'] as const) {
      it(`${bf16 ? 'bf16' : 'f32'} B, ${layout}: each row equals its own GEMV, within float32 rounding of float64, any thread count`, () => {
        setParallelThreshold(1); // two threads even for these small products
        for (const [batch, m, n, k] of [[3, 3, 37, 64], [2, 4, 130, 40], [2, 2, 16, 3]] as const) {
          const c = makeCase(batch, m, n, k, bf16, layout, batch * 100 + m * 10 + n);
          setNumThreads(1);
          const one = run(c, 0, m);
          setNumThreads(2);
          const two = run(c, 0, m);
          expect(Array.from(two)).toEqual(Array.from(one));
          for (let i = 0; i < m; i++) {
            const row = run(c, i, 1);
            for (let bi = 0; bi < batch; bi++) {
              for (let j = 0; j < n; j++) {
                const got = one[(bi * m + i) * n + j]!;
                expect(got).toBe(row[bi * n + j]!);
                let s = 0;
                let mag = 0;
                for (let kk = 0; kk < k; kk++) {
                  const p = c.a[(bi * m + i) * k + kk]! * bAt(c, bi, kk, j);
                  s += p;
                  mag += Math.abs(p);
                }
                expect(Math.abs(got - s)).toBeLessThanOrEqual(k * 2 ** -23 * mag + 1e-30);
              }
            }
            release(row);
          }
          for (const x of [one, two, c.a, c.b]) release(x);
        }
        setParallelThreshold(thresholdBefore);
      });
    }
  }

  /** The product of case c's m rows on `threads` threads equals one thread's bit for bit (and does not throw). */
  const sameBitsOn = (threads: number, c: Case, m: number) => {
    setParallelThreshold(1);
    setNumThreads(1);
    const one = run(c, 0, m);
    setNumThreads(threads);
    const many = run(c, 0, m);
    expect(Array.from(many)).toEqual(Array.from(one));
    setNumThreads(threadsBefore);
    setParallelThreshold(thresholdBefore);
    for (const x of [one, many, c.a, c.b]) release(x);
  };

  it('40 heads of 4 query rows over 20 keys on 20 threads (a job per head group and row: 80) run, with the bits of one thread', () => {
    sameBitsOn(20, makeCase(40, 4, 20, 64, false, 'rows of W contiguous', 11), 4);
  });

  it('a GEMV on 20 threads (80 jobs of 4 per thread, over the table of 64) runs, with the bits of one thread', () => {
    sameBitsOn(20, makeCase(1, 1, 4096, 256, false, 'rows of W contiguous', 7), 1);
  });
});
