// Scans along the last dim.
import type { Storage, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { numel } from '../../../shape.js';
import { cpuAlloc } from '../storage.js';
import { dense } from './copy.js';

/** Running sums along the last dim. */
export function cumsum(x: View, dtype: DType): Storage {
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const out = cpuAlloc(dtype, n);
  const o = out.data;
  const { data, offset } = dense(x);
  for (let base = 0; base < n; base += len) {
    let acc = 0;
    for (let i = 0; i < len; i++) o[base + i] = acc += data[offset + base + i]!;
  }
  return out;
}
