// Stable sort along the last dim with torch's NaN placement.
import type { Storage, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { numel } from '../../../shape.js';
import { cpuAlloc } from '../storage.js';
import { dense } from './copy.js';

/** Sorted values and their original positions (int32) along the last dim. */
export function sort(x: View, descending: boolean, dtype: DType): { values: Storage; indices: Storage } {
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const values = cpuAlloc(dtype, n);
  const indices = cpuAlloc('int32', n);
  const { data, offset } = dense(x);
  const order = new Array<number>(len);
  // torch puts NaN after every number in ascending order and before in descending order.
  const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
  for (let base = 0; base < n; base += len) {
    for (let i = 0; i < len; i++) order[i] = i;
    order.sort((i, j) => {
      const a = data[offset + base + i]!;
      const b = data[offset + base + j]!;
      const d = descending ? key(b) - key(a) : key(a) - key(b);
      if (d !== 0 && !Number.isNaN(d)) return d;
      const na = Number.isNaN(a) ? 1 : 0;
      const nb = Number.isNaN(b) ? 1 : 0;
      return (descending ? nb - na : na - nb) || i - j;
    });
    for (let i = 0; i < len; i++) {
      values.data[base + i] = data[offset + base + order[i]!]!;
      indices.data[base + i] = order[i]!;
    }
  }
  return { values, indices };
}
