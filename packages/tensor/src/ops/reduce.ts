// Reductions over one or more dims, with keepdim, and their gradients.
import { noGrad, record } from '../autograd.js';
import type { ReduceOp } from '../backend.js';
import { computeDtype, isFloating, type DType } from '../dtype.js';
import { fmtShape, normDims, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, cast, div, eq, exp, isfinite, log, mul, sqrt, sub, where } from './elementwise.js';
import { gather, scatterAdd } from './indexing.js';
import { backendOf, wrap } from './util.js';
import { expand, permute, reshape, unsqueeze } from './view.js';

/** dims accepted by reductions: one dim, a list, or null/undefined for all. */
export type Dims = number | readonly number[] | null | undefined;

function resolve(op: string, x: Tensor, dim: Dims): number[] {
  if (dim === null || dim === undefined || (Array.isArray(dim) && dim.length === 0)) return x.shape.map((_, i) => i);
  return normDims(op, dim as number | readonly number[], x.ndim);
}

/** The shape with reduced dims kept as 1. */
function keptShape(x: Tensor, dims: readonly number[]): number[] {
  return x.shape.map((s, i) => (dims.includes(i) ? 1 : s));
}

/** Runs a reduction kernel over `dims`: permutes them last, reduces, restores keepdim. */
function reduceRaw(op: ReduceOp, x: Tensor, dims: readonly number[], keepdim: boolean, outDtype: DType): Tensor {
  const rest = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const v = permute(x.detach(), [...rest, ...dims]);
  const out = wrap(backendOf(op, x).reduce(op, v, dims.length, outDtype), rest.map((i) => x.shape[i]!));
  return keepdim ? reshape(out, keptShape(x, dims)) : out;
}

/** Broadcasts a reduced gradient back to the input's shape. */
function expandBack(g: Tensor, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  return expand(keepdim ? g : reshape(g, keptShape(x, dims)), x.shape);
}

function countOf(x: Tensor, dims: readonly number[]): number {
  return numel(dims.map((d) => x.shape[d]!));
}

/** Sum over dims (all by default); integers and bools sum to int32. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const dims = resolve('sum', x, dim);
  const dt: DType = isFloating(x.dtype) ? computeDtype(x.dtype) : 'int32';
  const xc = cast(x, computeDtype(x.dtype));
  const y = reduceRaw('sum', xc, dims, keepdim, dt);
  return record(y, 'sum', [xc], (g) => [expandBack(g, xc, dims, keepdim)]);
}

/** Mean over dims (all by default); floating point only, as torch. */
export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  if (!isFloating(x.dtype)) throw new Error(`mean: could not infer output dtype: input dtype must be floating point, got ${x.dtype}`);
  const dims = resolve('mean', x, dim);
  return div(sum(x, dims, keepdim), countOf(x, dims));
}

/** Product over one dim (or all). Gradients handle zeros exactly. */
export function prod(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  const dims = resolve('prod', x, dim);
  const dt: DType = isFloating(x.dtype) ? computeDtype(x.dtype) : 'int32';
  const xc = cast(x, computeDtype(x.dtype));
  const y = reduceRaw('prod', xc, dims, keepdim, dt);
  return record(y, 'prod', [xc], (g) => {
    const isZero = eq(xc, 0);
    const zeros = reduceRaw('sum', cast(isZero, 'int32'), dims, true, 'int32');
    const others = reduceRaw('prod', where(isZero, 1, xc), dims, true, xc.dtype);
    const yk = keepdim ? y : reshape(y, keptShape(xc, dims));
    const gk = expandBack(g, xc, dims, keepdim);
    return [mul(gk, where(isZero, where(eq(zeros, 1), others, 0), div(yk, xc)))];
  });
}

/** Largest value over dims; ties share the gradient evenly (torch.amax). */
export function amax(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return extremum('amax', 'max', x, dim, keepdim);
}
/** Smallest value over dims; ties share the gradient evenly (torch.amin). */
export function amin(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return extremum('amin', 'min', x, dim, keepdim);
}

function extremum(name: string, op: 'max' | 'min', x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  const dims = resolve(name, x, dim);
  if (dims.some((d) => x.shape[d] === 0)) throw new Error(`${name}: cannot reduce over a zero-size dimension (shape ${fmtShape(x.shape)})`);
  const xc = cast(x, computeDtype(x.dtype));
  const y = reduceRaw(op, xc, dims, keepdim, xc.dtype);
  return record(y, name, [xc], (g) => {
    const hit = eq(xc, expandBack(y, xc, dims, keepdim));
    const count = reduceRaw('sum', cast(hit, 'int32'), dims, true, xc.dtype);
    return [where(hit, div(expandBack(g, xc, dims, keepdim), count), 0)];
  });
}

/** With no dim: the largest element (like amax). With a dim: `{ values, indices }` along it (gradient to the index). */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
  return dim === undefined ? amax(x) : withIndices('max', x, dim, keepdim);
}
/** With no dim: the smallest element (like amin). With a dim: `{ values, indices }` along it. */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
  return dim === undefined ? amin(x) : withIndices('min', x, dim, keepdim);
}

function withIndices(op: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean): { values: Tensor; indices: Tensor } {
  const dims = resolve(op, x, dim);
  if (x.ndim > 0 && x.shape[dims[0]!] === 0) throw new Error(`${op}: cannot reduce over a zero-size dimension ${dim} (shape ${fmtShape(x.shape)})`);
  const xc = cast(x, computeDtype(x.dtype));
  const indices = reduceRaw(op === 'max' ? 'argmax' : 'argmin', xc, dims, true, 'int32');
  const values = noGrad(() => (x.ndim === 0 ? xc : gather(xc.detach(), dims[0]!, indices)));
  const v = keepdim || x.ndim === 0 ? values.detach() : reshape(values.detach(), xc.shape.filter((_, i) => i !== dims[0]));
  const out = record(v, op, [xc], (g) => {
    if (x.ndim === 0) return [g];
    const gk = keepdim ? g : unsqueeze(g, dims[0]!);
    return [scatterAdd(mul(xc.detach(), 0), dims[0]!, indices, gk)];
  });
  return { values: out, indices: keepdim || x.ndim === 0 ? indices : reshape(indices, v.shape) };
}

/** Index of the largest value (over the flattened tensor when dim is omitted); the first one on ties. */
export function argmax(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argext('argmax', x, dim, keepdim);
}
/** Index of the smallest value (over the flattened tensor when dim is omitted). */
export function argmin(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argext('argmin', x, dim, keepdim);
}

function argext(op: 'argmax' | 'argmin', x: Tensor, dim: number | null | undefined, keepdim: boolean): Tensor {
  if (dim === undefined || dim === null) {
    if (x.numel() === 0) throw new Error(`${op}: expected a non-empty tensor`);
    const r = reduceRaw(op, reshape(cast(x, computeDtype(x.dtype)).detach(), [-1]), [0], false, 'int32');
    return keepdim ? reshape(r, x.shape.map(() => 1)) : r;
  }
  const dims = resolve(op, x, dim);
  if (x.ndim > 0 && x.shape[dims[0]!] === 0) throw new Error(`${op}: cannot reduce over a zero-size dimension ${dim} (shape ${fmtShape(x.shape)})`);
  return reduceRaw(op, cast(x, computeDtype(x.dtype)).detach(), dims, keepdim, 'int32');
}

/** Variance over dims with Bessel's `correction` (default 1), as torch.var. */
export function var_(x: Tensor, dim?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  if (!isFloating(x.dtype)) throw new Error(`var: expected a floating point tensor, got ${x.dtype}`);
  const dims = resolve('var', x, dim);
  const d = sub(x, mean(x, dims, true));
  const n = countOf(x, dims) - (opts.correction ?? 1);
  return div(sum(mul(d, d), dims, opts.keepdim ?? false), Math.max(n, 0));
}

/** Standard deviation: sqrt(var). */
export function std(x: Tensor, dim?: Dims, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return sqrt(var_(x, dim, opts));
}

/** log(sum(exp(x))) over dims, computed stably. */
export function logsumexp(x: Tensor, dim: number | readonly number[], keepdim = false): Tensor {
  const xc = isFloating(x.dtype) ? x : cast(x, 'float32');
  const dims = resolve('logsumexp', xc, dim);
  if (xc.numel() === 0) return log(sum(exp(xc), dims, keepdim));
  const m0 = amax(xc.detach(), dims, true);
  const m = where(isfinite(m0), m0, 0);
  const r = add(log(sum(exp(sub(xc, m)), dims, true)), m);
  return keepdim ? r : reshape(r, xc.shape.filter((_, i) => !dims.includes(i)));
}

/** True if any element over dims is truthy. */
export function any(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return reduceRaw('any', cast(x, computeDtype(x.dtype)).detach(), resolve('any', x, dim), keepdim, 'bool');
}
/** True if every element over dims is truthy. */
export function all(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return reduceRaw('all', cast(x, computeDtype(x.dtype)).detach(), resolve('all', x, dim), keepdim, 'bool');
}

