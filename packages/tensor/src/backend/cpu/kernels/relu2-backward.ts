// relu2's backward over contiguous elements.
import type { TypedArray } from '../../../dtype.js';
import type { Dense } from './layer-norm.js';

/** dx = g * 2 relu(x) for n elements (NaN in x propagates, as relu); 2 relu(x) is exact, so one rounding per element. */
export function relu2BackwardLoop(g: Dense, x: Dense, n: number, dx: TypedArray): void {
  const G = g.data, X = x.data;
  for (let i = 0; i < n; i++) {
    const v = X[x.offset + i]!;
    const r = v > 0 || v !== v ? v : 0;
    dx[i] = G[g.offset + i]! * (r + r);
  }
}
