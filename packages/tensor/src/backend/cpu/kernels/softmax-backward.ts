// Softmax / log-softmax backward over contiguous rows, one pass per row after its dot product.
import type { TypedArray } from '../../../dtype.js';
import type { Dense } from './layer-norm.js';

/**
 * dx for rows of `len` given the output y and its gradient g: softmax y (g - sum(g y)); log-softmax
 * g - exp(y) sum(g). Row sums in float64.
 */
export function softmaxBackwardRows(g: Dense, y: Dense, rows: number, len: number, log: boolean, dx: TypedArray): void {
  const G = g.data, Y = y.data;
  for (let r = 0; r < rows; r++) {
    const gb = g.offset + r * len, yb = y.offset + r * len, ob = r * len;
    let s = 0;
    if (log) {
      for (let i = 0; i < len; i++) s += G[gb + i]!;
      for (let i = 0; i < len; i++) dx[ob + i] = G[gb + i]! - Math.exp(Y[yb + i]!) * s;
    } else {
      for (let i = 0; i < len; i++) s += G[gb + i]! * Y[yb + i]!;
      for (let i = 0; i < len; i++) dx[ob + i] = Y[yb + i]! * (G[gb + i]! - s);
    }
  }
}
