// Helpers for the structural tests (views, joins, indexing, creation, autograd): random shapes,
// a flat row-major reference representation, non-contiguous copies and a float64 finite-difference check.
import fc from 'fast-check';
import { expect } from 'vitest';
import * as T from '../dist/index.js';
import type { Tensor } from '../dist/index.js';

/** A plain reference array: row-major values plus shape. */
export interface Ref {
  shape: number[];
  data: number[];
}

import { numelOf, stridesOf, unravel } from './helpers.js';

export { numelOf, stridesOf, unravel };

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let k = 0;
  for (let d = 0; d < shape.length; d++) k = k * shape[d]! + idx[d]!;
  return k;
}

/** Builds a reference tensor whose value at each multi-index is fn(index). */
export function refFrom(shape: readonly number[], fn: (idx: number[]) => number): Ref {
  const n = numelOf(shape);
  const data = new Array<number>(n);
  for (let k = 0; k < n; k++) data[k] = fn(unravel(k, shape));
  return { shape: [...shape], data };
}

export function refGet(r: Ref, idx: readonly number[]): number {
  return r.data[ravel(idx, r.shape)]!;
}

/** Nested arrays from a reference (what tolist() should give). */
export function toNested(r: Ref): unknown {
  const build = (dim: number, base: number): unknown => {
    if (dim === r.shape.length) return r.data[base];
    const inner = numelOf(r.shape.slice(dim + 1));
    return Array.from({ length: r.shape[dim]! }, (_, i) => build(dim + 1, base + i * inner));
  };
  return build(0, 0);
}

/** Shape and values of a tensor, for exact comparison against a Ref. */
export function refOf(t: Tensor): Ref {
  return { shape: [...t.shape], data: Array.from(t.dataSync(), Number) };
}

/** Asserts exact equality of a tensor's shape and values with a reference. */
export function expectRef(t: Tensor, r: Ref): void {
  expect([...t.shape]).toEqual(r.shape);
  expect(Array.from(t.dataSync(), Number)).toEqual(r.data);
}

/** A float64 tensor from a reference. */
export function fromRef(r: Ref, dtype: T.DType = 'float64'): Tensor {
  return T.tensor(Float64Array.from(r.data), { shape: r.shape, dtype });
}

/** Dims in 0..maxDim, biased towards 0 and 1 (the edge cases). */
export const dimArb = (maxDim = 4): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 5, arbitrary: fc.integer({ min: 2, max: maxDim }) });

export const shapeArb = (minRank = 0, maxRank = 4, maxDim = 4): fc.Arbitrary<number[]> =>
  fc.array(dimArb(maxDim), { minLength: minRank, maxLength: maxRank });

/** Shapes with no zero dims (for ops that need elements). */
export const nonEmptyShapeArb = (minRank = 0, maxRank = 4, maxDim = 4): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });

/** Distinct small values so that any misplaced element is visible. */
export function iotaRef(shape: readonly number[]): Ref {
  return refFrom(shape, (idx) => ravel(idx, shape) + 1);
}

/**
 * A tensor with the reference's values but a non-contiguous layout (when `mode` asks): a transposed
 * buffer viewed back, or every other element of a bigger buffer, or a slice at an offset.
 */
export function layoutTensor(r: Ref, mode: 'contig' | 'permuted' | 'strided' | 'offset', dtype: T.DType = 'float64'): Tensor {
  const rank = r.shape.length;
  if (mode === 'contig' || rank === 0) return fromRef(r, dtype);
  if (mode === 'permuted') {
    // store the reversed-dims layout, then permute back: strides are reversed
    const rev = [...r.shape].reverse();
    const buf = refFrom(rev, (idx) => refGet(r, [...idx].reverse()));
    const perm = Array.from({ length: rank }, (_, i) => rank - 1 - i);
    return fromRef(buf, dtype).permute(perm);
  }
  if (mode === 'strided') {
    // every other element along the last dim of a buffer twice as wide
    const big = [...r.shape];
    big[rank - 1] = big[rank - 1]! * 2;
    const buf = refFrom(big, (idx) => (idx[rank - 1]! % 2 === 0 ? refGet(r, [...idx.slice(0, -1), idx[rank - 1]! / 2]) : -999));
    return fromRef(buf, dtype).slice(rank - 1, 0, null, 2);
  }
  // offset: a window at index 1 of a bigger first dim
  const big = [...r.shape];
  big[0] = big[0]! + 2;
  const buf = refFrom(big, (idx) => (idx[0]! >= 1 && idx[0]! <= r.shape[0]! ? refGet(r, [idx[0]! - 1, ...idx.slice(1)]) : -777));
  return fromRef(buf, dtype).narrow(0, 1, r.shape[0]!);
}

export const layoutArb = fc.constantFrom('contig', 'permuted', 'strided', 'offset') as fc.Arbitrary<'contig' | 'permuted' | 'strided' | 'offset'>;

/** Deterministic pseudo-random float64 values in [-2, 2) from a seed (for gradient checks). */
export function seededValues(n: number, seed: number): number[] {
  const g = new T.Generator(seed);
  return Array.from({ length: n }, () => g.random() * 4 - 2);
}

/**
 * Checks autograd against central finite differences in float64: loss = sum(f(inputs) * w) for fixed random weights w.
 * `inputs` are float64 refs; `f` maps leaf tensors to an output tensor.
 */
export function gradCheck(f: (...xs: Tensor[]) => Tensor, inputs: Ref[], opts: { eps?: number; tol?: number; seed?: number } = {}): void {
  const eps = opts.eps ?? 1e-6;
  const tol = opts.tol ?? 1e-6;
  const leaves = inputs.map((r) => fromRef(r).requiresGrad_());
  const out = f(...leaves);
  const w = T.tensor(Float64Array.from(seededValues(out.numel(), opts.seed ?? 7)), { shape: out.shape, dtype: 'float64' });
  const lossOf = (ts: Tensor[]) => T.noGrad(() => T.sum(T.mul(f(...ts), w)).item());
  if (out.requiresGrad) T.sum(T.mul(out, w)).backward();
  inputs.forEach((r, i) => {
    const analytic = leaves[i]!.grad ? Array.from(leaves[i]!.grad!.dataSync()) : new Array<number>(r.data.length).fill(0);
    expect(leaves[i]!.grad === null || [...leaves[i]!.grad!.shape].join(',') === r.shape.join(',')).toBe(true);
    for (let k = 0; k < r.data.length; k++) {
      const plus = inputs.map((q, j) => (j === i ? { shape: q.shape, data: q.data.map((v, m) => (m === k ? v + eps : v)) } : q));
      const minus = inputs.map((q, j) => (j === i ? { shape: q.shape, data: q.data.map((v, m) => (m === k ? v - eps : v)) } : q));
      const numeric = (lossOf(plus.map((q) => fromRef(q))) - lossOf(minus.map((q) => fromRef(q)))) / (2 * eps);
      expect(Math.abs(analytic[k]! - numeric)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(numeric)));
    }
  });
}

/** Expects fn to throw an Error whose message matches every pattern. */
export function expectError(fn: () => unknown, ...patterns: (string | RegExp)[]): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an error matching ${patterns.join(' & ')}`).toBeInstanceOf(Error);
  for (const p of patterns) {
    if (typeof p === 'string') expect((err as Error).message).toContain(p);
    else expect((err as Error).message).toMatch(p);
  }
  return err as Error;
}

/** fast-check settings: deterministic seed, enough runs to hit edge cases, fast. */
export const FC = { numRuns: 150, seed: 20240611 } as const;
