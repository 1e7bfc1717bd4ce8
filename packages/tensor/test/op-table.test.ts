// The op table is complete and consistent: every row is well formed, and for every op the generated JavaScript loop
// (float32 and float64), the wasm SIMD kernel where one exists, and the float64 reference compute the same function.
// Tolerances: the JavaScript loops round the float64 value once, so they equal the rounded reference exactly; SIMD
// kernels on f32 lanes are exact, those on f64 lanes (exp polynomial) are within 2 float32 ulp.
import { describe, expect, it } from 'vitest';
import { f32FromBits, ulps } from './helpers.js';
import { getBackend, type BinaryOp, type DType, type UnaryOp } from '../dist/index.js';
import { BINARY, BINARY_OPS, REDUCE_OPS, SIMD_BINARY, SIMD_UNARY, UNARY, UNARY_OPS, boolResult } from '../dist/backend/op-table.js';
import { allocF32, binaryF32, unaryF32 } from '../dist/backend/cpu/wasm/index.js';

const cpu = getBackend('cpu');
/** Same value, NaN equal to NaN, and the sign of zero kept. */
const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 3.4028235e38, -3.4028235e38,
  1, -1, 0.5, -0.5, 1.5, -2.5, 2 ** -12, -(2 ** -12), 1e-4, -1e-4, 9.01, -9.01, 20, -20, 88.8, -87.34, -104, 100, -100, 1e10, -1e10];

/** Specials, random float32 bit patterns (every exponent, denormals, NaNs) and values of moderate size. */
function inputs(n: number, seed: number): Float32Array {
  const xs = allocF32(SPECIALS.length + 2 * n);
  xs.set(SPECIALS);
  let s = seed;
  const next = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), s >>> 0);
  for (let i = 0; i < n; i++) {
    xs[SPECIALS.length + i] = f32FromBits(next());
    xs[SPECIALS.length + n + i] = (next() / 2 ** 32 - 0.5) * 2 ** ((next() % 24) - 8);
  }
  return xs;
}

/** Runs the CPU backend's generated loop: a stride-2 view, which no SIMD kernel takes. */
function loop1(op: UnaryOp, xs: ArrayLike<number>, dtype: DType): ArrayLike<number> {
  const n = xs.length;
  const data = dtype === 'float64' ? new Float64Array(2 * n) : dtype === 'int32' ? new Int32Array(2 * n) : new Float32Array(2 * n);
  for (let i = 0; i < n; i++) data[2 * i] = xs[i]!;
  const x = { storage: cpu.upload(dtype, data), shape: [n], strides: [2], offset: 0 };
  return cpu.readSync!(cpu.unary(op, x, boolResult(UNARY[op].kind) ? 'bool' : dtype));
}
function loop2(op: BinaryOp, as: ArrayLike<number>, bs: ArrayLike<number>, dtype: DType): ArrayLike<number> {
  const n = as.length;
  const view = (v: ArrayLike<number>) => {
    const data = dtype === 'float64' ? new Float64Array(2 * n) : dtype === 'int32' ? new Int32Array(2 * n) : new Float32Array(2 * n);
    for (let i = 0; i < n; i++) data[2 * i] = v[i]!;
    return { storage: cpu.upload(dtype, data), shape: [n], strides: [2], offset: 0 };
  };
  return cpu.readSync!(cpu.binary(op, view(as), view(bs), boolResult(BINARY[op].kind) ? 'bool' : dtype));
}
/** What a store of `v` into an array of `dtype` keeps. */
function stored(v: number, dtype: DType | 'bool'): number {
  if (dtype === 'bool') return v !== 0 ? 1 : 0;
  if (dtype === 'int32') return new Int32Array([v])[0]!;
  return dtype === 'float32' ? Math.fround(v) : v;
}

describe('op table rows', () => {
  it('every row is well formed: a kind, a reference, WGSL for f32, and for i32 exactly where integers reach it', () => {
    const kinds = ['float', 'arith', 'select', 'compare', 'logic'];
    for (const [op, row] of [...Object.entries(UNARY), ...Object.entries(BINARY)]) {
      expect(kinds, op).toContain(row.kind);
      expect(typeof row.ref, op).toBe('function');
      expect(row.wgsl.f32.length, op).toBeGreaterThan(0);
      // float ops get their integer inputs cast to float32 first, so an i32 form would be dead code
      expect(row.wgsl.i32 === undefined, op).toBe(row.kind === 'float');
      if (row.simd) expect(['f32', 'f64'], op).toContain(row.simd.lanes);
    }
    expect(Object.keys(UNARY)).toEqual(Object.keys(UNARY_OPS));
    expect(Object.keys(BINARY)).toEqual(Object.keys(BINARY_OPS));
    for (const [op, row] of Object.entries(REDUCE_OPS)) expect([...kinds, 'index'], op).toContain(row.kind);
    expect(SIMD_UNARY.map(([op]) => op)).toEqual(Object.keys(UNARY).filter((op) => UNARY[op as UnaryOp].simd));
    expect(SIMD_BINARY.map(([op]) => op)).toEqual(Object.keys(BINARY).filter((op) => BINARY[op as BinaryOp].simd));
  });
});

describe('unary ops: JavaScript loop, SIMD kernel and reference agree', () => {
  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    it(op, () => {
      const row = UNARY[op];
      const xs = inputs(4096, 7 + op.length);
      const outDt = boolResult(row.kind) ? 'bool' : 'float32';
      const js = loop1(op, xs, 'float32');
      for (let i = 0; i < xs.length; i++) {
        if (!same(js[i]!, stored(row.ref(xs[i]!), outDt))) throw new Error(`${op}(${xs[i]}): loop ${js[i]}, reference ${stored(row.ref(xs[i]!), outDt)}`);
      }
      const x64 = Float64Array.from(xs, (v, i) => v * (1 + (i % 7) * 2 ** -40)); // values float32 cannot hold
      const js64 = loop1(op, x64, 'float64');
      for (let i = 0; i < x64.length; i++) expect(same(js64[i]!, stored(row.ref(x64[i]!), boolResult(row.kind) ? 'bool' : 'float64')), `${op}(${x64[i]}) in float64`).toBe(true);
      if (row.kind !== 'float') {
        const ints = Int32Array.from(xs, (v) => (Number.isFinite(v) ? Math.trunc(v) % 100000 : 3));
        const ji = loop1(op, ints, 'int32');
        for (let i = 0; i < ints.length; i++) expect(ji[i], `${op}(${ints[i]}) in int32`).toBe(stored(row.ref(ints[i]!), boolResult(row.kind) ? 'bool' : 'int32'));
      }
      if (row.simd) {
        const out = allocF32(xs.length);
        unaryF32(op as never, xs, 0, out, xs.length);
        const tol = row.simd.lanes === 'f32' ? 0 : 2;
        for (let i = 0; i < xs.length; i++) {
          const e = ulps(out[i]!, Math.fround(row.ref(xs[i]!)));
          if (e > tol) throw new Error(`${op}(${xs[i]}): SIMD ${out[i]}, reference ${Math.fround(row.ref(xs[i]!))} (${e} ulp)`);
        }
      }
    });
  }
});

describe('binary ops: JavaScript loop, SIMD kernel and reference agree', () => {
  for (const op of Object.keys(BINARY) as BinaryOp[]) {
    it(op, () => {
      const row = BINARY[op];
      const as = inputs(2048, 11 + op.length);
      // b: the same values shuffled, plus a's own values (ties for comparisons, x op x)
      const bs = Float32Array.from(as, (_, i) => (i % 5 === 0 ? as[i]! : as[(i * 7919) % as.length]!));
      const outDt = boolResult(row.kind) ? 'bool' : 'float32';
      const js = loop2(op, as, bs, 'float32');
      for (let i = 0; i < as.length; i++) {
        const want = stored(row.ref(as[i]!, bs[i]!), outDt);
        if (!same(js[i]!, want)) throw new Error(`${op}(${as[i]}, ${bs[i]}): loop ${js[i]}, reference ${want}`);
      }
      if (row.kind !== 'float') {
        const ai = Int32Array.from(as, (v) => (Number.isFinite(v) ? Math.trunc(v) % 1000 : 3));
        const bi = Int32Array.from(bs, (v) => (Number.isFinite(v) ? Math.trunc(v) % 7 : -2));
        const ji = loop2(op, ai, bi, 'int32');
        for (let i = 0; i < ai.length; i++) expect(ji[i], `${op}(${ai[i]}, ${bi[i]}) in int32`).toBe(stored(row.ref(ai[i]!, bi[i]!), boolResult(row.kind) ? 'bool' : 'int32'));
      }
      if (row.simd) {
        const a = allocF32(as.length);
        const b = allocF32(bs.length);
        a.set(as);
        b.set(bs);
        const out = allocF32(as.length);
        binaryF32(op as never, a, 0, b, 0, out, as.length, 'full');
        for (let i = 0; i < as.length; i++) {
          if (!same(out[i]!, Math.fround(row.ref(as[i]!, bs[i]!)))) throw new Error(`${op}(${as[i]}, ${bs[i]}): SIMD ${out[i]}, reference ${Math.fround(row.ref(as[i]!, bs[i]!))}`);
        }
      }
    });
  }
});
