// Shared helpers for the numerical op tests: float64 reference evaluation on flat row-major arrays,
// fast-check arbitraries (shapes with size-0/size-1 dims, broadcastable pairs, non-contiguous layouts),
// and a central finite-difference gradient check in float64.
import fc from 'fast-check';
import { expect } from 'vitest';
import * as tz from '../dist/index.js';

type Tensor = tz.Tensor;

/** A plain reference array: row-major float64 values with a shape. */
export interface Arr {
  shape: number[];
  data: Float64Array;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Multi-index of a row-major linear index. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    idx[d] = i % n;
    i = Math.floor(i / n);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let p = 0;
  for (let d = 0; d < shape.length; d++) p = p * shape[d]! + idx[d]!;
  return p;
}

/** Reference NumPy broadcasting (null when incompatible). */
export function refBroadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Value of `a` at output multi-index `idx` under broadcasting. */
export function bcastAt(a: Arr, idx: readonly number[]): number {
  const lead = idx.length - a.shape.length;
  let p = 0;
  for (let d = 0; d < a.shape.length; d++) p = p * a.shape[d]! + (a.shape[d] === 1 ? 0 : idx[lead + d]!);
  return a.data[p]!;
}

export function refMap(a: Arr, f: (x: number) => number): Arr {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function refMap2(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const shape = refBroadcastShape(a.shape, b.shape);
  if (!shape) throw new Error('refMap2: not broadcastable');
  const n = numelOf(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    data[i] = f(bcastAt(a, idx), bcastAt(b, idx));
  }
  return { shape, data };
}

/** Reference reduction: `f` gets the values (in order) of each reduced group. */
export function refReduce(a: Arr, dims: readonly number[], keepdim: boolean, f: (vals: number[]) => number): Arr {
  const rank = a.shape.length;
  const ds = dims.map((d) => (d < 0 ? d + rank : d));
  const outFull = a.shape.map((s, i) => (ds.includes(i) ? 1 : s));
  const groups = new Map<number, number[]>();
  const n = numelOf(a.shape);
  const nOut = numelOf(outFull);
  for (let j = 0; j < nOut; j++) groups.set(j, []);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, a.shape);
    const o = ravel(idx.map((v, d) => (ds.includes(d) ? 0 : v)), outFull);
    groups.get(o)!.push(a.data[i]!);
  }
  const data = new Float64Array(nOut);
  for (let j = 0; j < nOut; j++) data[j] = f(groups.get(j)!);
  return { shape: keepdim ? outFull : a.shape.filter((_, i) => !ds.includes(i)), data };
}

/** Transposes the last two dims of a reference array (or permutes generally). */
export function refPermute(a: Arr, perm: readonly number[]): Arr {
  const shape = perm.map((p) => a.shape[p]!);
  const n = numelOf(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    const src = new Array<number>(a.shape.length);
    perm.forEach((p, k) => (src[p] = idx[k]!));
    data[i] = a.data[ravel(src, a.shape)]!;
  }
  return { shape, data };
}

/** Reads a tensor into a reference array (bools and ints as numbers). */
export function toArr(t: Tensor): Arr {
  return { shape: [...t.shape], data: Float64Array.from(t.dataSync() as ArrayLike<number>) };
}

/** Rounds reference inputs to float32 (what a float32 tensor actually holds). */
export function fround(a: Arr): Arr {
  return { shape: [...a.shape], data: a.data.map(Math.fround) };
}

export interface Tol {
  rtol?: number;
  atol?: number;
}
export const F64: Tol = { rtol: 1e-12, atol: 1e-12 };
export const F32: Tol = { rtol: 2e-6, atol: 1e-6 };

/** Elementwise closeness with NaN == NaN and equal infinities; reports the first offender with context. */
export function expectClose(actual: Tensor | Arr, expected: Arr, tol: Tol = F64, msg = ''): void {
  const a = 'dataSync' in actual ? toArr(actual) : actual;
  expect(a.shape, `${msg} shape`).toEqual(expected.shape);
  const rtol = tol.rtol ?? 1e-12;
  const atol = tol.atol ?? 1e-12;
  for (let i = 0; i < expected.data.length; i++) {
    const x = a.data[i]!;
    const y = expected.data[i]!;
    if (Number.isNaN(y)) {
      if (!Number.isNaN(x)) throw new Error(`${msg} at ${i} [${unravel(i, expected.shape)}]: got ${x}, expected NaN`);
      continue;
    }
    if (!Number.isFinite(y)) {
      if (x !== y) throw new Error(`${msg} at ${i} [${unravel(i, expected.shape)}]: got ${x}, expected ${y}`);
      continue;
    }
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) {
      throw new Error(`${msg} at ${i} [${unravel(i, expected.shape)}] of shape [${expected.shape}]: got ${x}, expected ${y} (diff ${Math.abs(x - y)})`);
    }
  }
}

/** Exact equality of values (NaN == NaN), e.g. for comparisons, indices, integer results. */
export function expectEqual(actual: Tensor | Arr, expected: Arr, msg = ''): void {
  expectClose(actual, expected, { rtol: 0, atol: 0 }, msg);
}

// ---------------- random values ----------------

/** mulberry32: a small seeded PRNG so one fast-check integer drives all the values of a case. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ValueOpts {
  min?: number;
  max?: number;
  /** Probability of a special value (0, -0, +-inf, NaN, +-1) instead of a uniform one. */
  special?: number;
  /** Round values to integers. */
  integer?: boolean;
  /** Keep |x| at least this far from 0 (for log, div, ...). */
  awayFromZero?: number;
}

const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1, -1];

export function randomData(n: number, seed: number, o: ValueOpts = {}): Float64Array {
  const r = prng(seed);
  const lo = o.min ?? -3;
  const hi = o.max ?? 3;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (o.special && r() < o.special) {
      out[i] = SPECIALS[Math.floor(r() * SPECIALS.length)]!;
      continue;
    }
    let v = lo + (hi - lo) * r();
    if (o.integer) v = Math.round(v);
    if (o.awayFromZero && Math.abs(v) < o.awayFromZero) v = v < 0 ? -o.awayFromZero - Math.abs(v) : o.awayFromZero + v;
    out[i] = v;
  }
  return out;
}

export function randomArr(shape: readonly number[], seed: number, o: ValueOpts = {}): Arr {
  return { shape: [...shape], data: randomData(numelOf(shape), seed, o) };
}

// ---------------- shapes ----------------

export interface ShapeOpts {
  minRank?: number;
  maxRank?: number;
  maxDim?: number;
  /** Allow size-0 dims (default true). */
  allowZero?: boolean;
  maxNumel?: number;
}

/** Shapes of rank 0..maxRank with dims 0..maxDim (size 0 and size 1 included, biased toward them). */
export function arbShape(o: ShapeOpts = {}): fc.Arbitrary<number[]> {
  const maxDim = o.maxDim ?? 4;
  const dim = fc.oneof(
    { weight: o.allowZero === false ? 0 : 1, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.constant(1) },
    { weight: 6, arbitrary: fc.integer({ min: 1, max: maxDim }) },
  );
  return fc
    .array(dim, { minLength: o.minRank ?? 0, maxLength: o.maxRank ?? 4 })
    .filter((s) => numelOf(s) <= (o.maxNumel ?? 96));
}

/** Two shapes that broadcast together: an output shape, then each operand drops leading dims / sets dims to 1. */
export function arbBroadcastPair(o: ShapeOpts = {}): fc.Arbitrary<[number[], number[]]> {
  return arbShape(o).chain((out) => {
    const operand = fc
      .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.map((d, i) => (ones[i] ? 1 : d)).slice(drop));
    return fc.tuple(operand, operand);
  });
}

// ---------------- tensors with non-contiguous layouts ----------------

export type Layout = 'contiguous' | 'transposed' | 'sliced' | 'expanded';
export const arbLayout: fc.Arbitrary<Layout> = fc.constantFrom<Layout>('contiguous', 'transposed', 'sliced', 'expanded');

/**
 * A tensor holding `a`'s values laid out as `layout`. 'expanded' needs `a` constant along some dim
 * (use `makeExpandable` first); otherwise it falls back to another layout. Padding elements of sliced bases are NaN,
 * so a kernel that reads outside the view shows up as NaN.
 */
export function makeTensor(a: Arr, layout: Layout, dtype: tz.DType = 'float64', requiresGrad = false): Tensor {
  const rank = a.shape.length;
  const arr = dtype === 'float64' ? Float64Array.from(a.data) : Array.from(a.data);
  const mk = (data: ArrayLike<number>, shape: number[]) => tz.tensor(data instanceof Float64Array ? data : Array.from(data), { dtype, shape });
  let t: Tensor;
  if (layout === 'transposed' && rank >= 2) {
    const perm = a.shape.map((_, i) => rank - 1 - i);
    const base = refPermute(a, perm);
    t = tz.permute(mk(base.data, base.shape), perm);
  } else if (layout === 'sliced' || (layout === 'transposed' && rank < 2)) {
    if (rank === 0) {
      t = tz.select(mk([NaN, a.data[0]!, NaN], [3]), 0, 1);
    } else {
      const d = rank - 1;
      const n = a.shape[d]!;
      const bshape = a.shape.map((s, i) => (i === d ? 2 * s + 1 : s));
      const bdata = new Float64Array(numelOf(bshape)).fill(NaN);
      for (let i = 0; i < a.data.length; i++) {
        const idx = unravel(i, a.shape);
        idx[d] = 1 + 2 * idx[d]!;
        bdata[ravel(idx, bshape)] = a.data[i]!;
      }
      t = tz.slice(mk(bdata, bshape), d, 1, 1 + 2 * n, 2);
    }
  } else if (layout === 'expanded') {
    const d = expandableDim(a);
    if (d < 0) return makeTensor(a, 'sliced', dtype, requiresGrad);
    const bshape = a.shape.map((s, i) => (i === d ? 1 : s));
    const b = refReduce(a, [d], true, (v) => v[0] ?? 0);
    t = tz.expand(mk(b.data, bshape), a.shape);
  } else {
    t = mk(arr, a.shape);
  }
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

/** A dim along which `a` is constant with size > 1, or -1. */
function expandableDim(a: Arr): number {
  for (let d = 0; d < a.shape.length; d++) {
    if (a.shape[d]! <= 1) continue;
    let ok = true;
    for (let i = 0; i < a.data.length && ok; i++) {
      const idx = unravel(i, a.shape);
      if (idx[d] === 0) continue;
      idx[d] = 0;
      if (!Object.is(a.data[i], a.data[ravel(idx, a.shape)])) ok = false;
    }
    if (ok) return d;
  }
  return -1;
}

/** Makes `a` constant along its first dim of size > 1 (copies row 0), so it can be laid out as an expanded view. */
export function makeExpandable(a: Arr): Arr {
  const d = a.shape.findIndex((s) => s > 1);
  if (d < 0) return a;
  const data = a.data.slice();
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, a.shape);
    idx[d] = 0;
    data[i] = a.data[ravel(idx, a.shape)]!;
  }
  return { shape: [...a.shape], data };
}

/** An arbitrary input: a shape, seeded values and a layout, realised as a reference Arr + the layout. */
export interface Input {
  arr: Arr;
  layout: Layout;
}

export function arbInput(shape: fc.Arbitrary<number[]>, v: ValueOpts = {}): fc.Arbitrary<Input> {
  return fc.tuple(shape, fc.integer(), arbLayout).map(([s, seed, layout]) => {
    let arr = randomArr(s, seed, v);
    if (layout === 'expanded') arr = makeExpandable(arr);
    return { arr, layout };
  });
}

// ---------------- gradient check ----------------

export interface GradcheckOpts {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
  /** Also run the op in float32 and compare its analytic gradients to the float64 ones at float32 tolerance. */
  float32?: Tol | false;
}

/** Sum of out * w over all elements, in float64. */
function dot(out: Tensor, w: Float64Array): number {
  const d = out.dataSync();
  let s = 0;
  for (let i = 0; i < w.length; i++) s += Number(d[i]) * w[i]!;
  return s;
}

/**
 * Checks the analytic gradients of `fn` at `inputs` (float64 leaves) against central finite differences of
 * sum(fn(...) * w) for a random cotangent w. Returns the float64 analytic grads.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Arr[], o: GradcheckOpts = {}): Arr[] {
  const eps = o.eps ?? 1e-6;
  const atol = o.atol ?? 1e-6;
  const rtol = o.rtol ?? 1e-5;
  const leaves = inputs.map((a) => tz.tensor(Float64Array.from(a.data), { dtype: 'float64', shape: a.shape, requiresGrad: true }));
  const out = fn(...leaves);
  expect(out.dtype).toBe('float64');
  const w = randomData(out.numel(), o.seed ?? 12345, { min: -1, max: 1 });
  const wt = tz.tensor(w, { dtype: 'float64', shape: out.shape });
  const analytic = leaves.map((l) => l);
  if (out.requiresGrad) out.backward(wt);
  const grads: Arr[] = analytic.map((l, k) => (l.grad ? toArr(l.grad) : { shape: [...inputs[k]!.shape], data: new Float64Array(numelOf(inputs[k]!.shape)) }));
  grads.forEach((g, k) => expect(g.shape, `grad ${k} shape`).toEqual(inputs[k]!.shape));
  tz.noGrad(() => {
    inputs.forEach((a, k) => {
      const num = new Float64Array(a.data.length);
      for (let j = 0; j < a.data.length; j++) {
        const eval1 = (delta: number) => {
          const xs = inputs.map((b, m) => {
            const d = Float64Array.from(b.data);
            if (m === k) d[j] = d[j]! + delta;
            return tz.tensor(d, { dtype: 'float64', shape: b.shape });
          });
          return dot(fn(...xs), w);
        };
        num[j] = (eval1(eps) - eval1(-eps)) / (2 * eps);
      }
      expectClose(grads[k]!, { shape: [...a.shape], data: num }, { atol, rtol }, `d/dinput${k} (analytic vs finite difference)`);
    });
  });
  if (o.float32 !== false) {
    const leaves32 = inputs.map((a) => tz.tensor(Array.from(a.data), { dtype: 'float32', shape: a.shape, requiresGrad: true }));
    const out32 = fn(...leaves32);
    expect(out32.dtype).toBe('float32');
    if (out32.requiresGrad) out32.backward(tz.tensor(Array.from(w), { dtype: 'float32', shape: out32.shape }));
    leaves32.forEach((l, k) => {
      const g = l.grad ? toArr(l.grad) : { shape: [...inputs[k]!.shape], data: new Float64Array(numelOf(inputs[k]!.shape)) };
      expectClose(g, grads[k]!, o.float32 || { rtol: 1e-4, atol: 1e-5 }, `float32 grad ${k} vs float64`);
    });
  }
  return grads;
}

/** fast-check settings used across the op tests. */
export const RUNS = { numRuns: 60 };

/** Broadcasts a reference array to `shape`. */
export function refExpand(a: Arr, shape: readonly number[]): Arr {
  const n = numelOf(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = bcastAt(a, unravel(i, shape));
  return { shape: [...shape], data };
}

/** Applies f to every 1-D line along `dim` (a 0-d array is one line of one value). */
export function alongDim(a: Arr, dim: number, f: (line: number[]) => number[]): Arr {
  if (a.shape.length === 0) return { shape: [], data: Float64Array.from(f([a.data[0]!])) };
  const d = dim < 0 ? dim + a.shape.length : dim;
  const out = new Float64Array(a.data.length);
  const n = a.shape[d]!;
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    if (idx[d] !== 0) continue;
    const pos = [...Array(n).keys()].map((k) => ravel(idx.map((v, m) => (m === d ? k : v)), a.shape));
    const res = f(pos.map((p) => a.data[p]!));
    pos.forEach((p, k) => (out[p] = res[k]!));
  }
  return { shape: [...a.shape], data: out };
}

const f32Cell = new Float32Array(1);
const u32Cell = new Uint32Array(f32Cell.buffer);
/** A float32's bit pattern as an integer ordered like the values (-0 and +0 both 0). */
function orderedBits(x: number): number {
  f32Cell[0] = x;
  const b = u32Cell[0]!;
  return b & 0x80000000 ? -(b & 0x7fffffff) : b;
}
/** Distance in float32 ulps (NaN only equals NaN; +0 equals -0). */
export function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return Math.abs(orderedBits(a) - orderedBits(b));
}
/** The float32 whose bit pattern is the 32-bit integer `bits`. */
export function f32FromBits(bits: number): number {
  u32Cell[0] = bits;
  return f32Cell[0]!;
}

/** The strided operands of a wasm matmul call (MatmulArgs and its 16-bit variant share these fields). */
export interface StridedMatmul {
  batch: number; m: number; n: number; k: number;
  a: ArrayLike<number>; aOffset: number; aBatchStride: number; aRowStride: number; aColStride: number;
  b: ArrayLike<number>; bOffset: number; bBatchStride: number; bRowStride: number; bColStride: number;
}

/** float64 reference of a strided batched matmul; `decodeB` maps B's stored values (e.g. bfloat16 bits) to numbers. */
export function stridedMatmul64(x: StridedMatmul, decodeB: (v: number) => number = (v) => v): Float64Array {
  const { batch, m, n, k } = x;
  const o = new Float64Array(batch * m * n);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let kk = 0; kk < k; kk++) {
          s += x.a[x.aOffset + b * x.aBatchStride + i * x.aRowStride + kk * x.aColStride]! *
            decodeB(x.b[x.bOffset + b * x.bBatchStride + kk * x.bRowStride + j * x.bColStride]!);
        }
        o[(b * m + i) * n + j] = s;
      }
  return o;
}
