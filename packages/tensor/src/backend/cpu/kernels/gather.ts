// gather / scatterAdd along a dim over strided views.
import type { Storage, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { contiguousStrides, numel } from '../../../shape.js';
import { forEachIndex } from '../../strided.js';
import { arr, cpuAlloc, type CpuStorage } from '../storage.js';
import { copy } from './copy.js';

/** Maps a multi-index to a storage offset. */
function at(v: View, idx: readonly number[]): number {
  let p = v.offset;
  for (let d = 0; d < idx.length; d++) p += idx[d]! * v.strides[d]!;
  return p;
}

function checkIndex(op: string, i: number, size: number): void {
  // negative indices are errors, as in torch's gather/scatter_add/index_select/embedding
  if (!(i >= 0 && i < size)) throw new Error(`${op}: index ${i} is out of bounds for dimension with size ${size}`);
}

/** out[idx] = x[idx with idx[dim] replaced by index[idx]], as torch.gather (stored values, no decoding). */
export function gather(x: View, dim: number, index: View, dtype: DType): Storage {
  const out = cpuAlloc(dtype, numel(index.shape));
  const o = out.data;
  const X = arr(x.storage);
  const I = arr(index.storage);
  const size = x.shape[dim] ?? 1; // a 0-d tensor has one position along dim 0
  forEachIndex(index.shape, (idx, k) => {
    const j = I[at(index, idx)]!;
    checkIndex('gather', j, size);
    let p = x.offset;
    for (let d = 0; d < idx.length; d++) p += (d === dim ? j : idx[d]!) * x.strides[d]!;
    o[k] = X[p]!;
  });
  return out;
}

/** A copy of x with src added at the index positions along dim (duplicates accumulate), as torch.scatter_add. */
export function scatterAdd(x: View, dim: number, index: View, src: View, dtype: DType): Storage {
  const out = copy(x, dtype) as CpuStorage;
  const o = out.data;
  const strides = contiguousStrides(x.shape);
  const I = arr(index.storage);
  const S = arr(src.storage);
  const size = x.shape[dim] ?? 1;
  forEachIndex(index.shape, (idx) => {
    const j = I[at(index, idx)]!;
    checkIndex('scatterAdd', j, size);
    let p = 0;
    for (let d = 0; d < idx.length; d++) p += (d === dim ? j : idx[d]!) * strides[d]!;
    o[p] = o[p]! + S[at(src, idx)]!;
  });
  return out;
}
