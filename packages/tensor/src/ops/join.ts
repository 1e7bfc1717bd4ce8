// Ops that assemble or rearrange whole tensors: cat, stack, split, chunk, flip, pad, triu, tril.
import { record } from '../autograd.js';
import { promoteTypes, type DType } from '../dtype.js';
import { fmtShape, normDim, normDims, sameShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { arange, full } from '../creation.js';
import { cast, ge, le, sub, where } from './elementwise.js';
import { backendOf } from './util.js';
import { clone, narrow, reshape, slice, unsqueeze } from './view.js';

/** Joins tensors along an existing dim (shapes must agree elsewhere; dtypes promote). */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('cat: expected a non-empty list of tensors');
  // torch skips legacy empty 1-D tensors of shape [0] when the others have higher rank
  const parts = tensors.filter((t) => !(t.ndim === 1 && t.shape[0] === 0)) as Tensor[];
  const list = parts.length ? parts : [tensors[0]!];
  const ref = list[0]!;
  if (ref.ndim === 0) throw new Error('cat: zero-dimensional tensors cannot be concatenated; use stack()');
  const d = normDim('cat', dim, ref.ndim);
  let total = 0;
  let dt: DType = ref.dtype;
  for (const t of list) {
    if (t.ndim !== ref.ndim || t.shape.some((s, i) => i !== d && s !== ref.shape[i])) {
      throw new Error(`cat: sizes of tensors must match except in dimension ${d}: ${fmtShape(ref.shape)} vs ${fmtShape(t.shape)}`);
    }
    total += t.shape[d]!;
    dt = promoteTypes(dt, t.dtype);
  }
  // same dtype in, same dtype out (promotion would turn float16/bfloat16 storage into float32)
  if (list.every((t) => t.dtype === ref.dtype)) dt = ref.dtype;
  const ins = list.map((t) => cast(t, dt));
  const backend = backendOf('cat', ...ins);
  const shape = ref.shape.map((s, i) => (i === d ? total : s));
  const out = full(shape, 0, { dtype: dt, device: ref.device });
  let at = 0;
  for (const t of ins) {
    backend.write(narrow(out, d, at, t.shape[d]!), t);
    at += t.shape[d]!;
  }
  const y = out.detach();
  return record(y, 'cat', ins, (g) => {
    let o = 0;
    return ins.map((t) => {
      const part = narrow(g, d, o, t.shape[d]!);
      o += t.shape[d]!;
      return part;
    });
  });
}

/** Joins same-shaped tensors along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: expected a non-empty list of tensors');
  const ref = tensors[0]!;
  for (const t of tensors) {
    if (!sameShape(t.shape, ref.shape)) throw new Error(`stack: expects each tensor to be equal size, got ${fmtShape(ref.shape)} and ${fmtShape(t.shape)}`);
  }
  const d = normDim('stack', dim, ref.ndim + 1);
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/** Views of consecutive pieces along dim: equal pieces of `size` (the last may be smaller) or the given sizes. */
export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim('split', dim, x.ndim);
  const n = x.shape[d]!;
  let sizes: number[];
  if (typeof sizeOrSections === 'number') {
    if (!Number.isInteger(sizeOrSections) || sizeOrSections <= 0) {
      if (!(sizeOrSections === 0 && n === 0)) throw new Error(`split: split size must be a positive integer, got ${sizeOrSections}`);
    }
    sizes = [];
    for (let at = 0; at < n; at += sizeOrSections) sizes.push(Math.min(sizeOrSections, n - at));
    if (sizes.length === 0) sizes.push(0);
  } else {
    sizes = [...sizeOrSections];
    const sum = sizes.reduce((a, b) => a + b, 0);
    if (sizes.some((s) => !Number.isInteger(s) || s < 0) || sum !== n) {
      throw new Error(`split: sizes [${sizes.join(',')}] must be non-negative integers summing to dim ${d}'s size ${n} (shape ${fmtShape(x.shape)})`);
    }
  }
  let at = 0;
  return sizes.map((s) => {
    const part = narrow(x, d, at, s);
    at += s;
    return part;
  });
}

/** Splits into `chunks` nearly equal pieces (each ceil(n/chunks) long; possibly fewer pieces), as torch.chunk. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new Error(`chunk: chunks must be a positive integer, got ${chunks}`);
  const n = x.shape[normDim('chunk', dim, x.ndim)]!;
  // torch: an empty dim still gives `chunks` (empty) pieces
  if (n === 0) return split(x, new Array<number>(chunks).fill(0), dim);
  return split(x, Math.ceil(n / chunks), dim);
}

/** Reverses the order of elements along the given dims (a copy, as in torch). */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  const ds = normDims('flip', dims, x.ndim);
  let offset = x.offset;
  const strides = [...x.strides];
  for (const d of ds) {
    if (x.shape[d]! > 0) offset += (x.shape[d]! - 1) * x.strides[d]!;
    strides[d] = -strides[d]!;
  }
  const y = clone(new Tensor(x.storage, [...x.shape], strides, offset)).detach(); // always a copy, as torch
  return record(y, 'flip', [x], (g) => [flip(g, ds)]);
}

/**
 * Pads with a constant, as torch.nn.functional.pad: `pad` lists (before, after) pairs starting from the last dim;
 * negative amounts crop.
 */
export function pad(x: Tensor, padding: readonly number[], opts: { mode?: 'constant'; value?: number } = {}): Tensor {
  if ((opts.mode ?? 'constant') !== 'constant') throw new Error(`pad: only mode 'constant' is supported, got '${opts.mode}'`);
  if (padding.length % 2 !== 0 || padding.length / 2 > x.ndim) throw new Error(`pad: padding length ${padding.length} must be even and at most 2 * rank (${2 * x.ndim})`);
  if (padding.some((p) => !Number.isInteger(p))) throw new Error(`pad: padding must be integers, got [${padding.join(',')}]`);
  let src = x;
  const before = new Array<number>(x.ndim).fill(0);
  const after = new Array<number>(x.ndim).fill(0);
  for (let i = 0; i < padding.length / 2; i++) {
    const d = x.ndim - 1 - i;
    before[d] = padding[2 * i]!;
    after[d] = padding[2 * i + 1]!;
    const lo = Math.max(-before[d]!, 0);
    const hi = x.shape[d]! - Math.max(-after[d]!, 0);
    if (hi < lo) throw new Error(`pad: negative padding [${padding.join(',')}] removes more than dim ${d} of ${fmtShape(x.shape)}`);
    if (lo > 0 || hi < x.shape[d]!) src = slice(src, d, lo, hi);
  }
  const shape = src.shape.map((s, d) => s + Math.max(before[d]!, 0) + Math.max(after[d]!, 0));
  const out = full(shape, opts.value ?? 0, { dtype: src.dtype, device: src.device });
  let inner = out;
  for (let d = 0; d < x.ndim; d++) inner = narrow(inner, d, Math.max(before[d]!, 0), src.shape[d]!);
  backendOf('pad', src).write(inner, src);
  const y = out.detach();
  return record(y, 'pad', [src], (g) => {
    let r = g;
    for (let d = 0; d < x.ndim; d++) r = narrow(r, d, Math.max(before[d]!, 0), src.shape[d]!);
    return [r];
  });
}

function triangle(op: string, x: Tensor, diagonal: number, upper: boolean): Tensor {
  if (x.ndim < 2) throw new Error(`${op}: input must have at least 2 dims, got shape ${fmtShape(x.shape)}`);
  const [n, m] = x.shape.slice(-2) as [number, number];
  const rows = reshape(arange(0, n, 1, { device: x.device }), [n, 1]);
  const cols = reshape(arange(0, m, 1, { device: x.device }), [1, m]);
  const diff = sub(cols, rows);
  // a 0-d zero of x's own dtype: a plain 0 would promote bool to int32
  return where(upper ? ge(diff, diagonal) : le(diff, diagonal), x, full([], 0, { dtype: x.dtype, device: x.device }));
}

/** The upper triangle (col - row >= diagonal) of the last two dims; the rest zeroed. */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return triangle('triu', x, diagonal, true);
}
/** The lower triangle (col - row <= diagonal) of the last two dims; the rest zeroed. */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return triangle('tril', x, diagonal, false);
}
