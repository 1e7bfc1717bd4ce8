// The fused cross-entropy backward over rows of logits: softmax minus the one-hot target, scaled per row.
import type { TypedArray } from '../../../dtype.js';

/**
 * o (rows x len, holding softmax of the logits on entry) becomes (o - onehot(target[r])) * scale[r] per row; a target
 * outside [0, len) (an ignored position) subtracts nothing.
 */
export function crossEntropyBackwardRows(o: TypedArray, rows: number, len: number, target: TypedArray, tOff: number, scale: TypedArray, sOff: number): void {
  for (let r = 0; r < rows; r++) {
    const s = scale[sOff + r]!;
    const base = r * len;
    for (let i = 0; i < len; i++) o[base + i] = o[base + i]! * s;
    const t = target[tOff + r]!;
    if (t >= 0 && t < len) o[base + t] = o[base + t]! - s;
  }
}
