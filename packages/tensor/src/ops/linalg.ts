// Matrix products with torch.matmul's rules, and linear layers.
import { record } from '../autograd.js';
import { computeDtype, isQuantized, promoteTypes } from '../dtype.js';
import { broadcastShapes, fmtShape, numel, viewStrides } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, cast } from './elementwise.js';
import { backendOf, sumToShape, wrap } from './util.js';
import { contiguous, expand, reshape, squeeze, transpose, unsqueeze } from './view.js';

/** A 3-D [B, rows, cols] view of x expanded to batch shape `batch`, copying only if strides forbid a view. */
function as3d(x: Tensor, batch: readonly number[]): Tensor {
  const [r, c] = x.shape.slice(-2) as [number, number];
  const e = expand(x.detach(), [...batch, r, c]);
  const target = [numel(batch), r, c];
  const st = viewStrides(e.shape, e.strides, target);
  if (st) return new Tensor(e.storage, target, st, e.offset);
  return reshape(contiguous(e), target);
}

/** Product of tensors with >= 2 dims, batch dims broadcast. */
function mm(a: Tensor, b: Tensor): Tensor {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  if (k !== k2) throw new Error(`matmul: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  let batch: number[];
  try {
    batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    throw new Error(`matmul: batch dimensions cannot be broadcast: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const backend = backendOf('matmul', a, b);
  let y: Tensor;
  // A 2-D b shared by a batch: its gradient is one GEMM over the folded rows, not a batch of products then summed.
  const foldB = b.ndim === 2 && batch.length > 0;
  if (foldB) {
    // Fold the batch into the rows: one large GEMM instead of many small ones, and b is never expanded.
    const a2 = as3d(reshape(a.detach(), [numel(batch) * m, k]), []); // explicit rows: [-1, 0] cannot be inferred when k = 0
    y = reshape(wrap(backend.matmul(a2, as3d(b, []), a.dtype), [1, a2.shape[1]!, n]), [...batch, m, n]);
  } else {
    y = reshape(wrap(backend.matmul(as3d(a, batch), as3d(b, batch), a.dtype), [numel(batch), m, n]), [...batch, m, n]);
  }
  y = y.detach();
  return record(y, 'matmul', [a, b], (g) => [
    a.requiresGrad ? sumToShape(mm(g, transpose(b, -1, -2)), a.shape) : null,
    b.requiresGrad ? (foldB ? foldedGradB(a, g, b, numel(batch) * m) : sumToShape(mm(transpose(a, -1, -2), g), b.shape)) : null,
  ]);
}

/**
 * d(a @ b)/db for a 2-D b shared by the batch: one GEMM over the `rows` folded rows. A column-major b (linear's
 * transposed weight) gets its gradient in the same layout, (g^T a)^T, so the weight's own gradient is dense, not a
 * transposed view that must be copied into `.grad`.
 */
function foldedGradB(a: Tensor, g: Tensor, b: Tensor, rows: number): Tensor {
  const [k, n] = b.shape as [number, number];
  const a2 = reshape(a, [rows, k]);
  const g2 = reshape(g, [rows, n]);
  if (b.strides[0] === 1 && b.strides[1] !== 1) return transpose(mm(transpose(g2, 0, 1), a2), 0, 1);
  return mm(transpose(a2, 0, 1), g2);
}

/** Matrix product with torch.matmul's rules: 1-D dot, 2-D matrix product, batched with broadcasting. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: both arguments need at least 1 dimension, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  const dt = promoteTypes(computeDtype(a.dtype), computeDtype(b.dtype));
  if (dt === 'bool') throw new Error('matmul: bool tensors are not supported; cast to a numeric dtype');
  let a2 = cast(a, dt);
  // 16-bit weights reach the kernel as stored (decoded there): upcasting a bfloat16 matrix per call would double
  // its memory and traffic.
  let b2 = dt === 'float32' && (b.dtype === 'bfloat16' || b.dtype === 'float16' || isQuantized(b.dtype)) ? b : cast(b, dt);
  if (a.ndim === 1) a2 = unsqueeze(a2, 0);
  if (b.ndim === 1) b2 = unsqueeze(b2, -1);
  if (a2.shape[a2.ndim - 1] !== b2.shape[b2.ndim - 2]) throw new Error(`matmul: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  let y = mm(a2, b2);
  if (b.ndim === 1) y = squeeze(y, -1);
  if (a.ndim === 1) y = squeeze(y, a.ndim === 1 && b.ndim === 1 ? -1 : -2);
  return y;
}

/** x @ W^T + b with W stored [out, in], as torch.nn.functional.linear. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) throw new Error(`linear: weight must be 2-D [out_features, in_features], got ${fmtShape(weight.shape)}`);
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new Error(`linear: input features ${x.shape[x.ndim - 1]} (shape ${fmtShape(x.shape)}) do not match weight ${fmtShape(weight.shape)} [out, in]`);
  }
  const y = matmul(x, transpose(weight, 0, 1));
  if (!bias) return y;
  if (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0]) throw new Error(`linear: bias ${fmtShape(bias.shape)} must be [${weight.shape[0]}]`);
  return add(y, bias);
}
