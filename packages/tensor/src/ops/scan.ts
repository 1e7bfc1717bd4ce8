// Ops along one dim that look at a whole row: cumulative sums and sorting.
import { record } from '../autograd.js';
import { computeDtype, isFloating } from '../dtype.js';
import { fmtShape, normDim } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { zeros } from '../creation.js';
import { cast } from './elementwise.js';
import { scatterAdd } from './indexing.js';
import { flip } from './join.js';
import { backendOf, wrap } from './util.js';
import { narrow, transpose } from './view.js';

/** Running sum along dim (integers accumulate in int32). */
export function cumsum(x: Tensor, dim: number): Tensor {
  const d = normDim('cumsum', dim, x.ndim);
  const xc = cast(x, computeDtype(x.dtype));
  const dt = isFloating(xc.dtype) ? xc.dtype : 'int32';
  const moved = x.ndim === 0 ? xc.detach() : transpose(xc.detach(), d, -1);
  const r = wrap(backendOf('cumsum', xc).cumsum(moved, dt), moved.shape);
  const y = x.ndim === 0 ? r : transpose(r, d, -1).detach();
  return record(y, 'cumsum', [xc], (g) => [flip(cumsum(flip(g, d), d), d)]);
}

/** Sorts along dim (stable; NaN sorts as the largest), returning `{ values, indices }`. */
export function sort(x: Tensor, dim = -1, descending = false): { values: Tensor; indices: Tensor } {
  const d = normDim('sort', dim, x.ndim);
  const xc = cast(x, computeDtype(x.dtype));
  const moved = x.ndim === 0 ? xc.detach() : transpose(xc.detach(), d, -1);
  const r = backendOf('sort', xc).sort(moved, descending, xc.dtype);
  const back = (t: Tensor) => (x.ndim === 0 ? t : transpose(t, d, -1).detach());
  const values = back(wrap(r.values, moved.shape));
  const indices = back(wrap(r.indices, moved.shape));
  const v = record(values, 'sort', [xc], (g) => [x.ndim === 0 ? g : scatterAdd(zeros(xc.shape, { dtype: g.dtype, device: g.device }), d, indices, g)]);
  return { values: v, indices };
}

/** The k largest (or smallest) entries along dim, sorted, as `{ values, indices }`. */
export function topk(x: Tensor, k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
  const d = normDim('topk', dim, x.ndim);
  const n = x.ndim === 0 ? 1 : x.shape[d]!;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`topk: k (${k}) must be an integer in [0, ${n}] for dim ${dim} of shape ${fmtShape(x.shape)}`);
  const s = sort(x, d, largest);
  if (x.ndim === 0) return s;
  return { values: narrow(s.values, d, 0, k), indices: narrow(s.indices, d, 0, k) };
}
