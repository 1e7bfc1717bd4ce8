// Softmax / log-softmax over contiguous rows.
import type { TypedArray } from '../../../dtype.js';

/** (log-)softmax of each of `rows` rows of length `len` starting at data[offset], into o[0 .. rows*len). */
export function softmaxRows(data: TypedArray, offset: number, rows: number, len: number, o: TypedArray, log: boolean): void {
  const row = new Float64Array(len); // exp values kept in float64 so the output is rounded once
  for (let base = 0; base < rows * len; base += len) {
    let m = -Infinity;
    for (let i = 0; i < len; i++) m = Math.max(m, data[offset + base + i]!);
    if (m === -Infinity) m = 0; // a row of -inf gives NaN in torch too (0/0); keep the arithmetic identical
    let s = 0;
    for (let i = 0; i < len; i++) {
      const e = Math.exp(data[offset + base + i]! - m);
      s += e;
      row[i] = e;
    }
    if (log) {
      const ls = Math.log(s);
      for (let i = 0; i < len; i++) o[base + i] = data[offset + base + i]! - m - ls;
    } else {
      const inv = 1 / s;
      for (let i = 0; i < len; i++) o[base + i] = row[i]! * inv;
    }
  }
}
