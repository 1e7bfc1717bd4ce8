// Layer norm over contiguous rows.
import type { TypedArray } from '../../../dtype.js';

/** A dense operand: values from `offset` on. */
export interface Dense {
  data: TypedArray;
  offset: number;
}

/** Normalizes each of `rows` rows of length `len` (then scales by w, shifts by b), recording mean and 1/std per row. */
export function layerNormRows(
  x: Dense, rows: number, len: number, w: Dense | null, b: Dense | null, eps: number, y: TypedArray, mean: TypedArray, rstd: TypedArray,
): void {
  const { data, offset } = x;
  for (let r = 0; r < rows; r++) {
    const base = offset + r * len;
    let s = 0;
    for (let i = 0; i < len; i++) s += data[base + i]!;
    const mu = s / len;
    let v = 0;
    for (let i = 0; i < len; i++) {
      const d = data[base + i]! - mu;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / len + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let i = 0; i < len; i++) {
      let z = (data[base + i]! - mu) * rs;
      if (w) z *= w.data[w.offset + i]!;
      if (b) z += b.data[b.offset + i]!;
      y[r * len + i] = z;
    }
  }
}

/**
 * Layer-norm backward over `rows` rows of length `len`: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with
 * gw = g * w, and (when given) dw += g * xhat, db += g summed over rows, accumulated in float64.
 */
export function layerNormBackwardRows(
  g: Dense, x: Dense, mean: Dense, rstd: Dense, w: Dense | null, rows: number, len: number,
  dx: TypedArray, dw: Float64Array | null, db: Float64Array | null,
): void {
  const gw = new Float64Array(len);
  const xh = new Float64Array(len);
  for (let r = 0; r < rows; r++) {
    const gb = g.offset + r * len, xb = x.offset + r * len;
    const mu = mean.data[mean.offset + r]!, rs = rstd.data[rstd.offset + r]!;
    let a = 0, b = 0;
    for (let i = 0; i < len; i++) {
      const gi = g.data[gb + i]!;
      const xhat = (x.data[xb + i]! - mu) * rs;
      const gwi = w ? gi * w.data[w.offset + i]! : gi;
      gw[i] = gwi;
      xh[i] = xhat;
      a += gwi;
      b += gwi * xhat;
      if (dw) dw[i] += gi * xhat;
      if (db) db[i] += gi;
    }
    a /= len;
    b /= len;
    for (let i = 0; i < len; i++) dx[r * len + i] = rs * (gw[i]! - a - xh[i]! * b);
  }
}
