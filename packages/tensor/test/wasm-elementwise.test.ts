import { describe, expect, it } from 'vitest';
import { f32FromBits, ulps } from './helpers.js';
import fc from 'fast-check';
import {
  allocF32, binaryF32, unaryF32, rowReduceF32, softmaxRowsF32, softmaxCausalRowsF32, layerNormRowsF32, disableWasm,
  setElementwiseParallelThreshold, setNumThreads, getNumThreads, poolInfo, type SimdUnaryOp,
} from '../dist/backend/cpu/wasm/index.js';
import { SIMD_BINARY, SIMD_UNARY, UNARY } from '../dist/backend/op-table.js';
import { reduceRows } from '../dist/backend/cpu/kernels/reduce.js';


const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 88.72283, 88.8, -87.33654, -103.97, -104,
  3.4028235e38, -3.4028235e38, 1, -1, 0.5, 9.01, -9.01, 2 ** -12, -(2 ** -12), 1e-4, -1e-4, 20, -20, 100, -100];

function maxUlps(op: SimdUnaryOp, xs: Float32Array): { worst: number; at: number } {
  const out = allocF32(xs.length);
  unaryF32(op, xs, 0, out, xs.length);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < xs.length; i++) {
    const e = ulps(out[i]!, Math.fround(UNARY[op].ref(xs[i]!)));
    if (e > worst) [worst, at] = [e, xs[i]!];
  }
  return { worst, at };
}

describe('unaryF32 accuracy (<= 4 ulp vs the op table reference rounded to float32)', () => {
  const bits = fc.integer({ min: 0, max: 2 ** 32 - 1 });
  for (const [op] of SIMD_UNARY) {
    it(op, () => {
      // Special values, then a sweep of random bit patterns (all exponents, denormals, NaN payloads).
      expect(maxUlps(op, Float32Array.from(SPECIALS)).worst).toBeLessThanOrEqual(1);
      const n = 1 << 18;
      const xs = allocF32(n);
      const u = new Uint32Array(xs.buffer, xs.byteOffset, n);
      let s = 12345 + op.length;
      for (let i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
        u[i] = s >>> 0;
      }
      const r = maxUlps(op, xs);
      expect(r.worst, `worst at x=${r.at}`).toBeLessThanOrEqual(4);
      // Property: any float32 (fast-check's float arbitrary covers the boundaries) within 4 ulp, odd lengths.
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.float(), bits.map(f32FromBits)), { minLength: 1, maxLength: 37 }), (arr) => {
          expect(maxUlps(op, Float32Array.from(arr)).worst).toBeLessThanOrEqual(4);
        }),
        { numRuns: 200 },
      );
    });
  }
});

describe('binaryF32', () => {
  const ops = SIMD_BINARY.map(([op]) => op);
  const ref = {
    add: (x: number, y: number) => x + y, sub: (x: number, y: number) => x - y, mul: (x: number, y: number) => x * y,
    div: (x: number, y: number) => x / y, maximum: (x: number, y: number) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y)),
    minimum: (x: number, y: number) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y)),
  };
  it('full, scalar and row modes are exact (correctly rounded), in and out of the heap; false and untouched output when wasm is off', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ops), fc.constantFrom('full', 'scalar', 'row'), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 40 }),
        fc.array(fc.float(), { minLength: 400, maxLength: 400 }), fc.boolean(), fc.boolean(),
        (op, mode, rowLen, rows, vals, heap, fallback) => {
          const n = rows * rowLen;
          const mk = (len: number, o: number) => {
            const a = heap ? allocF32(len + 2) : new Float32Array(len + 2);
            for (let i = 0; i < len + 2; i++) a[i] = vals[(i * 7 + o) % vals.length]!;
            return a;
          };
          const a = mk(n, 0);
          const bl = mode === 'full' ? n : mode === 'scalar' ? 1 : rowLen;
          const b = mk(bl, 3);
          const out = heap ? allocF32(n) : new Float32Array(n);
          disableWasm(fallback);
          let ran: boolean;
          try {
            ran = binaryF32(op, a, 1, b, 2, out, n, mode, mode === 'row' ? rowLen : undefined);
          } finally {
            disableWasm(false);
          }
          // an accelerator that cannot run says so and writes nothing (the CPU backend's TypeScript kernel takes over)
          expect(ran).toBe(!fallback || n === 0);
          if (!ran) {
            expect(out.every((v) => v === 0)).toBe(true);
            return;
          }
          for (let i = 0; i < n; i++) {
            const y = mode === 'full' ? b[2 + i]! : mode === 'scalar' ? b[2]! : b[2 + (i % rowLen)]!;
            expect(ulps(out[i]!, Math.fround(ref[op](a[1 + i]!, y)))).toBe(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('row kernels', () => {
  function randRows(rows: number, len: number, scale = 1): Float32Array {
    const x = allocF32(rows * len);
    for (let i = 0; i < x.length; i++) x[i] = (Math.random() * 2 - 1) * scale;
    return x;
  }
  it('rowReduce max/min exact with NaN propagation', () => {
    for (const [rows, len] of [[1, 1], [3, 7], [5, 16], [4, 33], [2, 1000], [1, 100003]] as const) {
      const x = randRows(rows, len, 10);
      const mx = new Float32Array(rows);
      const mn = new Float32Array(rows);
      rowReduceF32('max', x, 0, rows, len, mx);
      rowReduceF32('min', x, 0, rows, len, mn);
      for (let r = 0; r < rows; r++) {
        let m = -Infinity, n = Infinity;
        for (let i = 0; i < len; i++) {
          const v = x[r * len + i]!;
          m = Math.max(m, v); n = Math.min(n, v);
        }
        expect(mx[r]).toBe(m);
        expect(mn[r]).toBe(n);
      }
    }
    const x = Float32Array.from([1, NaN, 3, 4, 5, 6]);
    const o = new Float32Array(1);
    rowReduceF32('max', x, 0, 1, 6, o);
    expect(o[0]).toBeNaN();
    o[0] = 7;
    rowReduceF32('min', x, 0, 0, 6, o); // no rows: nothing written
    expect(o[0]).toBe(7);
  });

  it('rowReduce argmax/argmin: the first index of the extreme, or of the first NaN, as the TypeScript loop', () => {
    // few distinct values, so ties are common; NaN, infinities and both zeros; lengths around the 4-lane groups
    const value = fc.constantFrom(0, -0, 1, -1, 2.5, -2.5, Infinity, -Infinity, NaN, 3e38, -3e38, 1e-45);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 41 }), fc.array(value, { minLength: 164, maxLength: 164 }), fc.boolean(), (rows, len, vals, offset) => {
        const off = offset ? 3 : 0;
        const x = Float32Array.from(vals.slice(0, off + rows * len));
        for (const op of ['argmax', 'argmin'] as const) {
          const got = new Int32Array(rows).fill(-7);
          expect(rowReduceF32(op, x, off, rows, len, got)).toBe(true);
          const want = new Int32Array(rows);
          reduceRows(op, x, off, rows, len, want);
          expect([...got]).toEqual([...want]);
        }
      }),
      { numRuns: 400 },
    );
    // long rows: the SIMD scan, the extreme in its last group, in the tail, and at the very first element
    const n = 100003;
    const x = allocF32(n).fill(1);
    const at = (i: number, v: number) => {
      x.fill(1);
      x[i] = v;
      const o = new Int32Array(1);
      rowReduceF32(v > 1 || Number.isNaN(v) ? 'argmax' : 'argmin', x, 0, 1, n, o);
      return o[0];
    };
    for (const i of [0, 3, 4, 99996, 99999, 100000, 100002]) {
      expect(at(i, 5)).toBe(i);
      expect(at(i, -5)).toBe(i);
      expect(at(i, NaN)).toBe(i);
    }
    expect(() => rowReduceF32('argmax', x, 0, 1, n, new Float32Array(1) as unknown as Int32Array)).toThrow(/Int32Array/);
  });

  it('softmax and log-softmax match float64 within a few ulp', () => {
    for (const [rows, len] of [[1, 1], [3, 5], [7, 64], [2, 1001]] as const) {
      for (const log of [false, true]) {
        const x = randRows(rows, len, 20);
        const out = allocF32(rows * len);
        softmaxRowsF32(x, 0, rows, len, out, log);
        for (let r = 0; r < rows; r++) {
          let m = -Infinity;
          for (let i = 0; i < len; i++) m = Math.max(m, x[r * len + i]!);
          let s = 0;
          for (let i = 0; i < len; i++) s += Math.exp(x[r * len + i]! - m);
          for (let i = 0; i < len; i++) {
            const want = log ? x[r * len + i]! - m - Math.log(s) : Math.exp(x[r * len + i]! - m) / s;
            expect(Math.abs(out[r * len + i]! - want)).toBeLessThanOrEqual(Math.abs(want) * 4e-7 + 1e-30 + (log ? 2e-6 : 0));
          }
        }
      }
    }
  });

  it('attention\'s softmax: scaled, each row over its first first + i % period elements (the rest 0), in place; threads bit-identical', () => {
    const threads0 = getNumThreads();
    for (const [rows, len, scale, first, period] of [[12, 9, 0.3, 1, 4], [10, 37, 2, 5, 7], [6, 64, 0.125, 64, 1], [33, 130, 1, 100, 33]] as const) {
      const x = randRows(rows, len, 8);
      const want = Array.from(x);
      const run = (threads: number) => {
        setNumThreads(threads);
        setElementwiseParallelThreshold(threads > 1 ? 1 : 1 << 17);
        const y = allocF32(rows * len);
        y.set(x);
        expect(softmaxCausalRowsF32(y, rows, len, scale, first, period)).toBe(true);
        return y;
      };
      const one = run(1);
      const two = run(2);
      setElementwiseParallelThreshold(1 << 17);
      setNumThreads(threads0);
      expect(Array.from(two)).toEqual(Array.from(one));
      for (let r = 0; r < rows; r++) {
        const n = Math.min(len, first + (r % period));
        let m = -Infinity;
        for (let i = 0; i < n; i++) m = Math.max(m, want[r * len + i]!);
        let z = 0;
        for (let i = 0; i < n; i++) z += Math.exp((want[r * len + i]! - m) * scale);
        for (let i = 0; i < len; i++) {
          const w = i < n ? Math.exp((want[r * len + i]! - m) * scale) / z : 0;
          if (i >= n) expect(one[r * len + i]).toBe(0);
          else expect(Math.abs(one[r * len + i]! - w)).toBeLessThanOrEqual(w * 4e-7 + 1e-30);
        }
      }
    }
    const y = allocF32(4);
    expect(() => softmaxCausalRowsF32(y, 1, 4, 0, 1, 1)).toThrow(RangeError);
    expect(() => softmaxCausalRowsF32(y, 1, 4, 1, 0, 1)).toThrow(RangeError);
  });

  it('layerNorm matches float64, with and without weight/bias, returning mean and rstd', () => {
    for (const [rows, len] of [[1, 1], [3, 5], [4, 64], [2, 1001]] as const) {
      const x = randRows(rows, len, 3);
      for (let i = 0; i < x.length; i++) x[i]! += 5;
      const w = randRows(1, len);
      const b = randRows(1, len);
      for (const affine of [false, true]) {
        const out = new Float32Array(rows * len);
        const mean = new Float32Array(rows);
        const rstd = new Float32Array(rows);
        layerNormRowsF32(x, 0, rows, len, affine ? w : null, affine ? b : null, 1e-5, out, mean, rstd);
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let i = 0; i < len; i++) s += x[r * len + i]!;
          const mu = s / len;
          let v = 0;
          for (let i = 0; i < len; i++) v += (x[r * len + i]! - mu) ** 2;
          const rs = 1 / Math.sqrt(v / len + 1e-5);
          expect(mean[r]).toBeCloseTo(mu, 5);
          expect(Math.abs(rstd[r]! - rs)).toBeLessThanOrEqual(rs * 1e-6);
          for (let i = 0; i < len; i++) {
            let y = (x[r * len + i]! - mu) * rs;
            if (affine) y = y * w[i]! + b[i]!;
            expect(Math.abs(out[r * len + i]! - y)).toBeLessThanOrEqual(Math.abs(y) * 1e-6 + 1e-6);
          }
        }
      }
    }
  });

  it('threaded row and elementwise kernels equal single-thread results', () => {
    setElementwiseParallelThreshold(1);
    try {
      const x = randRows(64, 333, 5);
      const run = () => {
        const o1 = allocF32(64 * 333);
        softmaxRowsF32(x, 0, 64, 333, o1, false);
        const o2 = allocF32(64 * 333);
        unaryF32('gelu_tanh', x, 0, o2, 64 * 333);
        const o3 = allocF32(64);
        rowReduceF32('max', x, 0, 64, 333, o3);
        const o4 = allocF32(64 * 333);
        layerNormRowsF32(x, 0, 64, 333, null, null, 1e-5, o4);
        return [o1, o2, o3, o4];
      };
      setNumThreads(1);
      const one = run();
      setNumThreads(2);
      const two = run();
      for (let i = 0; i < one.length; i++) expect(two[i]).toEqual(one[i]);
      expect(poolInfo().failed).toBe(false);
    } finally {
      setElementwiseParallelThreshold(1 << 17);
    }
  });
});
