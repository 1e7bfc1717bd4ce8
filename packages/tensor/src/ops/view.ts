// Views: ops that reinterpret a storage through new shape/strides/offset without copying,
// plus contiguous/clone that copy when they must.
import { bumpVersion } from '../version.js';
import { record } from '../autograd.js';
import { fmtShape, isContiguous, normDim, numel, viewStrides, type Shape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { cast } from './elementwise.js';
import { indexSelectBackward } from './indexing.js';
import { asTensor, backendOf, sumToShape, wrap } from './util.js';

function makeView(x: Tensor, shape: number[], strides: number[], offset: number): Tensor {
  return new Tensor(x.storage, shape, strides, offset);
}

/** Whether a view is dense row-major. */
export function isContiguousView(x: Tensor): boolean {
  return isContiguous(x.shape, x.strides);
}

/** Resolves one -1 in a requested shape against the element count. */
function inferShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  const out = [...shape];
  const neg = out.flatMap((d, i) => (d === -1 ? [i] : []));
  if (neg.length > 1) throw new Error(`${op}: only one dimension can be inferred (-1), got ${fmtShape(shape)}`);
  for (const d of out) if (!Number.isInteger(d) || d < -1) throw new Error(`${op}: invalid shape ${fmtShape(shape)}`);
  const n = x.numel();
  if (neg.length === 1) {
    const known = numel(out.filter((d) => d !== -1));
    if (known === 0 || n % known !== 0) throw new Error(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${n}`);
    out[neg[0]!] = n / known;
  }
  if (numel(out) !== n) throw new Error(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${n} (shape ${fmtShape(x.shape)})`);
  return out;
}

/** Same data under a new shape; copies only when the strides make a view impossible. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = inferShape('reshape', x, shape);
  const st = viewStrides(x.shape, x.strides, s);
  const src = st ? x : contiguous(x);
  const y = makeView(src, s, st ?? viewStrides(src.shape, src.strides, s)!, src.offset);
  return record(y, 'reshape', [x], (g) => [reshape(g, x.shape)]);
}

/** A view under a new shape; an error when the strides do not allow one (use reshape). */
export function view(x: Tensor, shape: Shape): Tensor {
  const s = inferShape('view', x, shape);
  const st = viewStrides(x.shape, x.strides, s);
  if (!st) throw new Error(`view: size ${fmtShape(s)} is not compatible with input tensor's size ${fmtShape(x.shape)} and stride [${x.strides.join(',')}]; use reshape()`);
  return record(makeView(x, s, st, x.offset), 'view', [x], (g) => [reshape(g, x.shape)]);
}

/** Merges dims startDim..endDim into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim('flatten', startDim, x.ndim);
  const e = normDim('flatten', endDim, x.ndim);
  if (s > e) throw new Error(`flatten: startDim ${startDim} cannot come after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Reorders dims. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) throw new Error(`permute: number of dims ${dims.length} does not match the tensor's rank ${x.ndim} (shape ${fmtShape(x.shape)})`);
  const d = dims.map((v) => normDim('permute', v, x.ndim));
  if (new Set(d).size !== d.length) throw new Error(`permute: repeated dim in [${dims.join(',')}]`);
  const y = makeView(x, d.map((i) => x.shape[i]!), d.map((i) => x.strides[i]!), x.offset);
  const inv = new Array<number>(d.length);
  d.forEach((v, i) => (inv[v] = i));
  return record(y, 'permute', [x], (g) => [permute(g, inv)]);
}

/** Swaps two dims. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  if (x.ndim === 0) return x;
  const a = normDim('transpose', dim0, x.ndim);
  const b = normDim('transpose', dim1, x.ndim);
  const dims = x.shape.map((_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** Transposes a 2-D tensor (0-d and 1-d are returned as they are). */
export function t(x: Tensor): Tensor {
  if (x.ndim > 2) throw new Error(`t: expects a tensor with <= 2 dimensions, got shape ${fmtShape(x.shape)}; use transpose()`);
  return x.ndim < 2 ? x : transpose(x, 0, 1);
}

/** Broadcasts size-1 dims (and new leading dims) to `shape` without copying; -1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < x.ndim) throw new Error(`expand: the number of sizes ${fmtShape(shape)} must be at least the tensor's rank (shape ${fmtShape(x.shape)})`);
  const lead = shape.length - x.ndim;
  const outShape: number[] = [];
  const strides: number[] = [];
  shape.forEach((d, i) => {
    const j = i - lead;
    const cur = j >= 0 ? x.shape[j]! : 1;
    const target = d === -1 ? (j >= 0 ? cur : -1) : d;
    if (target < 0 || !Number.isInteger(target)) throw new Error(`expand: invalid size ${d} at dim ${i} for shape ${fmtShape(x.shape)} -> ${fmtShape(shape)}`);
    if (cur !== target && cur !== 1) throw new Error(`expand: the expanded size ${target} must match the existing size ${cur} at non-singleton dim ${i} (shape ${fmtShape(x.shape)} -> ${fmtShape(shape)})`);
    outShape.push(target);
    strides.push(j >= 0 && cur === target ? x.strides[j]! : 0);
  });
  return record(makeView(x, outShape, strides, x.offset), 'expand', [x], (g) => [sumToShape(g, x.shape)]);
}

/** Removes size-1 dims (all of them, or the given ones if they have size 1). */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  const dims = dim === undefined ? x.shape.map((_, i) => i) : (typeof dim === 'number' ? [dim] : dim).map((d) => normDim('squeeze', d, x.ndim));
  const keep = x.shape.map((s, i) => !(s === 1 && dims.includes(i)));
  const y = makeView(x, x.shape.filter((_, i) => keep[i]), x.strides.filter((_, i) => keep[i]), x.offset);
  return record(y, 'squeeze', [x], (g) => [reshape(g, x.shape)]);
}

/** Inserts a size-1 dim at `dim` (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d]! * x.shape[d]! : 1);
  return record(makeView(x, shape, strides, x.offset), 'unsqueeze', [x], (g) => [reshape(g, x.shape)]);
}

/** Elements start, start+step, ... before end along `dim` (Python slice semantics: negatives count from the end, bounds clamp). */
export function slice(x: Tensor, dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
  const d = normDim('slice', dim, x.ndim);
  if (x.ndim === 0) throw new Error('slice: cannot slice a 0-d tensor');
  if (!Number.isInteger(step) || step <= 0) throw new Error(`slice: step must be a positive integer, got ${step}`);
  const n = x.shape[d]!;
  const norm = (v: number | null | undefined, dflt: number) => {
    if (v === undefined || v === null) return dflt;
    if (!Number.isInteger(v)) throw new Error(`slice: indices must be integers, got ${v}`);
    return Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  };
  const s = norm(start, 0);
  const e = Math.max(norm(end, n), s);
  const len = Math.ceil((e - s) / step);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape[d] = len;
  strides[d] = x.strides[d]! * step;
  const y = makeView(x, shape, strides, x.offset + s * x.strides[d]!);
  return record(y, 'slice', [x], (g) => [indexSelectBackward(g, d, s, step, x.shape)]);
}

/** `length` elements from `start` along `dim` (start may be negative; the range must fit). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  if (x.ndim === 0) throw new Error('narrow: cannot be applied to a 0-d tensor');
  const d = normDim('narrow', dim, x.ndim);
  const n = x.shape[d]!;
  const s = start < 0 ? start + n : start;
  if (s < 0 || length < 0 || s + length > n) throw new Error(`narrow: start ${start} + length ${length} exceeds dimension size ${n} (shape ${fmtShape(x.shape)}, dim ${dim})`);
  return slice(x, d, s, s + length);
}

/** The slice at `index` along `dim`, with that dim removed. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  if (x.ndim === 0) throw new Error('select: cannot be applied to a 0-d tensor');
  const d = normDim('select', dim, x.ndim);
  const n = x.shape[d]!;
  if (!Number.isInteger(index) || index < -n || index >= n) throw new Error(`select: index ${index} out of range for dimension ${dim} of size ${n}`);
  return squeeze(slice(x, d, index < 0 ? index + n : index, (index < 0 ? index + n : index) + 1), d);
}

/** The tensor itself if dense, else a dense copy. */
export function contiguous(x: Tensor): Tensor {
  if (isContiguousView(x)) return x;
  const y = wrap(backendOf('contiguous', x).copy(x, x.dtype), x.shape);
  return record(y, 'contiguous', [x], (g) => [g]);
}

/** A dense copy that owns its memory. */
export function clone(x: Tensor): Tensor {
  const y = wrap(backendOf('clone', x).copy(x, x.dtype), x.shape);
  return record(y, 'clone', [x], (g) => [g]);
}

/** In place: dst[...] = src (broadcast and cast); autograd does not see it. */
export function copyInto(dst: Tensor, src: TensorLike): void {
  const given = asTensor(src, dst.dtype, dst);
  let s = cast(given, dst.dtype).detach();
  // a source that shares memory with dst (dst.copy_(dst.t())) is read before anything is written
  if (s.storage === dst.storage) s = clone(s).detach();
  // what was made here (a scalar's tensor, a cast, a clone) is freed once written, not left to the garbage collector
  const made = [given, s].filter((t) => !(src instanceof Tensor && t.storage === src.storage));
  try {
    let e: Tensor;
    try {
      e = expand(s, dst.shape).detach();
    } catch {
      throw new Error(`copy_: source of shape ${fmtShape(s.shape)} cannot be broadcast to the destination's shape ${fmtShape(dst.shape)}`);
    }
    backendOf('copy_', dst, s).write(dst, e);
    bumpVersion(dst.storage);
  } finally {
    for (const t of made) t.dispose();
  }
}
