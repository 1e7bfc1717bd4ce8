// Indexing: gather/scatter along a dim and the ops built on them (indexSelect, embedding, maskedFill).
import { record } from '../autograd.js';
import { computeDtype } from '../dtype.js';
import { broadcastShapes, fmtShape, normDim, sameShape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { zeros } from '../creation.js';
import { cast, where } from './elementwise.js';
import { asTensor, backendOf, wrap } from './util.js';

function checkIndexTensor(op: string, index: Tensor): void {
  if (index.dtype !== 'int32') throw new Error(`${op}: index must be an int32 tensor, got ${index.dtype}`);
}

/** out[i][j] = x[index[i][j]][j] (for dim 0), as torch.gather; index has x's rank. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndexTensor('gather', index);
  const d = normDim('gather', dim, x.ndim);
  if (index.ndim !== x.ndim) throw new Error(`gather: index ${fmtShape(index.shape)} must have the same number of dims as input ${fmtShape(x.shape)}`);
  for (let i = 0; i < x.ndim; i++) {
    if (i !== d && index.shape[i]! > x.shape[i]!) throw new Error(`gather: index ${fmtShape(index.shape)} is larger than input ${fmtShape(x.shape)} at dim ${i}`);
  }
  if (x.ndim > 0 && x.shape[d] === 0 && index.numel() > 0) throw new Error(`gather: cannot gather from an empty dimension ${d} of ${fmtShape(x.shape)}`);
  // Gather the stored values first (16-bit floats are copied as bits), then decode only what was picked:
  // an embedding lookup must not upcast a whole bfloat16 vocabulary table.
  const y = wrap(backendOf('gather', x, index).gather(x, d, index, x.dtype), index.shape);
  const picked = record(y, 'gather', [x], (g) => [scatterAdd(zeros(x.shape, { dtype: g.dtype, device: g.device }), d, index, g)]);
  return cast(picked, computeDtype(x.dtype));
}

/** out = x with src added at index positions along dim (duplicates accumulate), as torch.scatter_add. */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkIndexTensor('scatterAdd', index);
  const d = normDim('scatterAdd', dim, x.ndim);
  if (index.ndim !== x.ndim || src.ndim !== x.ndim) throw new Error(`scatterAdd: input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)} and src ${fmtShape(src.shape)} must have the same number of dims`);
  for (let i = 0; i < x.ndim; i++) {
    if (index.shape[i]! > src.shape[i]! || (i !== d && index.shape[i]! > x.shape[i]!)) {
      throw new Error(`scatterAdd: index ${fmtShape(index.shape)} is larger than src ${fmtShape(src.shape)} or input ${fmtShape(x.shape)} at dim ${i}`);
    }
  }
  const dt = computeDtype(x.dtype);
  const xc = cast(x, dt);
  const sc = cast(src, dt);
  const y = wrap(backendOf('scatterAdd', xc, index, sc).scatterAdd(xc, d, index, sc, dt), x.shape);
  return record(y, 'scatterAdd', [xc, sc], (g) => [g, gather(g, d, index)]);
}

/** The entries of x at the given positions (1-D int32 index) along dim, as torch.index_select. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndexTensor('indexSelect', index);
  if (index.ndim > 1) throw new Error(`indexSelect: index must be 1-D, got shape ${fmtShape(index.shape)}`);
  if (x.ndim === 0) return gather(x.reshape([1]), 0, index.reshape([-1])).reshape(index.ndim === 0 ? [] : [index.numel()]);
  const d = normDim('indexSelect', dim, x.ndim);
  const k = index.numel();
  const bshape = x.shape.map((s, i) => (i === d ? k : s));
  const idx = index.reshape(x.shape.map((_, i) => (i === d ? k : 1))).expand(bshape);
  try {
    return gather(x, d, idx);
  } catch (e) {
    throw new Error(`indexSelect: ${(e as Error).message}`);
  }
}

/** Rows of `weight` [num, dim] picked by integer ids of any shape: out has shape [...ids.shape, dim]. */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  if (weight.ndim !== 2) throw new Error(`embedding: weight must be 2-D [num_embeddings, embedding_dim], got ${fmtShape(weight.shape)}`);
  if (ids.dtype !== 'int32') throw new Error(`embedding: ids must be an int32 tensor, got ${ids.dtype}`);
  try {
    return indexSelect(weight, 0, ids.reshape([-1])).reshape([...ids.shape, weight.shape[1]!]);
  } catch (e) {
    throw new Error(`embedding: ${(e as Error).message.replace(/^indexSelect: gather: /, '')} (num_embeddings ${weight.shape[0]})`);
  }
}

/** x with `value` wherever mask is true (mask broadcasts to x); keeps x's dtype. */
export function maskedFill(x: Tensor, mask: Tensor, value: TensorLike): Tensor {
  if (mask.dtype !== 'bool') throw new Error(`maskedFill: mask must be a bool tensor, got ${mask.dtype}`);
  if (!sameShape(broadcastShapes('maskedFill', x.shape, mask.shape), x.shape)) {
    throw new Error(`maskedFill: mask of shape ${fmtShape(mask.shape)} cannot be broadcast to the input's shape ${fmtShape(x.shape)}`);
  }
  const dt = computeDtype(x.dtype);
  return where(mask, cast(asTensor(value, dt, x), dt), x);
}

/**
 * Gradient of a strided slice: g placed at start, start+step, ... along dim in zeros of `shape`, written in place
 * through a strided view (a gradient rule: it runs without recording).
 */
export function indexSelectBackward(g: Tensor, dim: number, start: number, step: number, shape: readonly number[]): Tensor {
  const out = zeros(shape, { dtype: g.dtype, device: g.device });
  const strides = [...out.strides];
  strides[dim] = strides[dim]! * step;
  const target = new Tensor(out.storage, [...g.shape], strides, out.offset + start * out.strides[dim]!);
  backendOf('slice', out, g).write(target, g.detach());
  return out;
}
