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
