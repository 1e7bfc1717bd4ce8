// Reductions over contiguous rows.
import type { ReduceOp } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';

/** out[r] = op over x[off + r*len .. off + (r+1)*len) for each of `rows` rows; max/min/arg* propagate NaN as torch. */
export function reduceRows(op: ReduceOp, data: TypedArray, offset: number, rows: number, len: number, o: TypedArray): void {
  for (let r = 0; r < rows; r++) {
    const base = offset + r * len;
    let acc: number;
    switch (op) {
      case 'sum': {
        // float64 accumulation: exact enough that float32 results are correctly rounded in practice
        acc = 0;
        for (let i = 0; i < len; i++) acc += data[base + i]!;
        break;
      }
      case 'prod':
        acc = 1;
        for (let i = 0; i < len; i++) acc *= data[base + i]!;
        break;
      case 'max': case 'min': {
        if (len === 0) throw new Error(`${op}: cannot reduce over an empty dimension (no identity)`);
        acc = data[base]!;
        for (let i = 1; i < len && !Number.isNaN(acc); i++) {
          const v = data[base + i]!;
          if (Number.isNaN(v) || (op === 'max' ? v > acc : v < acc)) acc = v;
        }
        break;
      }
      case 'argmax': case 'argmin': {
        if (len === 0) throw new Error(`${op}: cannot reduce over an empty dimension`);
        let best = data[base]!;
        acc = 0;
        for (let i = 1; i < len && !Number.isNaN(best); i++) {
          const v = data[base + i]!;
          if (Number.isNaN(v) || (op === 'argmax' ? v > best : v < best)) {
            best = v;
            acc = i;
          }
        }
        break;
      }
      case 'any':
        acc = 0;
        for (let i = 0; i < len; i++) if (data[base + i] !== 0) { acc = 1; break; }
        break;
      case 'all':
        acc = 1;
        for (let i = 0; i < len; i++) if (data[base + i] === 0) { acc = 0; break; }
        break;
    }
    o[r] = acc;
  }
}
