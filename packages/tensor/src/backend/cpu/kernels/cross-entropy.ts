// Fused cross entropy over rows of logits: per-row logsumexp and NLL for the forward, softmax minus the one-hot
// target scaled per row for the backward, without any intermediate [rows, classes] array.
import type { TypedArray } from '../../../dtype.js';

/** lse[r] = log(sum(exp(x_r))) for rows of `len` from x[off], in float64, stable (max subtracted). */
export function logSumExpRows(x: TypedArray, off: number, rows: number, len: number, lse: TypedArray): void {
  for (let r = 0; r < rows; r++) {
    const base = off + r * len;
    let m = -Infinity;
    for (let i = 0; i < len; i++) m = Math.max(m, x[base + i]!);
    if (m === -Infinity) m = 0; // a row of -inf: log(0) = -inf, as torch
    let s = 0;
    for (let i = 0; i < len; i++) s += Math.exp(x[base + i]! - m);
    lse[r] = m + Math.log(s);
  }
}

/** nll[r] = lse[r] - x[r, target[r]], 0 for a target outside [0, len). */
export function nllRows(x: TypedArray, off: number, rows: number, len: number, lse: TypedArray, target: TypedArray, tOff: number, nll: TypedArray): void {
  for (let r = 0; r < rows; r++) {
    const t = target[tOff + r]!;
    nll[r] = t >= 0 && t < len ? lse[r]! - x[off + r * len + t]! : 0;
  }
}

/** o = exp(x - lse[r]) * scale[r] per row (softmax times the row's scale), in float64. */
export function softmaxScaledRows(x: TypedArray, off: number, rows: number, len: number, lse: TypedArray, lOff: number, scale: TypedArray, sOff: number, o: TypedArray): void {
  for (let r = 0; r < rows; r++) {
    const l = lse[lOff + r]!, s = scale[sOff + r]!;
    const base = off + r * len;
    for (let i = 0; i < len; i++) o[r * len + i] = Math.exp(x[base + i]! - l) * s;
  }
}

/** o[r, target[r]] -= scale[r] (the one-hot part of the gradient); a target outside [0, len) subtracts nothing. */
export function subtractOneHot(o: TypedArray, rows: number, len: number, target: TypedArray, tOff: number, scale: TypedArray, sOff: number): void {
  for (let r = 0; r < rows; r++) {
    const t = target[tOff + r]!;
    if (t >= 0 && t < len) o[r * len + t] = o[r * len + t]! - scale[sOff + r]!;
  }
}
