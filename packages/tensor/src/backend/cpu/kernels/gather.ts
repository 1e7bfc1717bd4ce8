// gather / scatterAdd along a dim over strided views.
import type { Storage, View } from '../../../backend.js';
import type { DType, TypedArray } from '../../../dtype.js';
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
  if (copyRows(o, X, x, dim, index)) return out;
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

/**
 * The embedding case of gather, row by row: along dim 0 of a 2-D x with dense rows, one index per output row repeated
 * across the columns (index strides [s, 0]). False, touching nothing, for any other layout.
 */
function copyRows(o: TypedArray, X: TypedArray, x: View, dim: number, index: View): boolean {
  if (dim !== 0 || x.shape.length !== 2 || index.shape.length !== 2 || index.strides[1] !== 0) return false;
  const [rows, cols] = index.shape as [number, number];
  if (cols !== x.shape[1] || (cols > 1 && x.strides[1] !== 1)) return false;
  const I = arr(index.storage);
  const size = x.shape[0]!;
  for (let r = 0; r < rows; r++) {
    const j = I[index.offset + r * index.strides[0]!]!;
    checkIndex('gather', j, size);
    const xb = x.offset + j * x.strides[0]!;
    o.set(X.subarray(xb, xb + cols), r * cols);
  }
  return true;
}

/** A copy of x with src added at the index positions along dim (duplicates accumulate), as torch.scatter_add. */
export function scatterAdd(x: View, dim: number, index: View, src: View, dtype: DType): Storage {
  const out = copy(x, dtype) as CpuStorage;
  const o = out.data;
  if (addRows(o, x.shape, dim, index, src)) return out;
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

/**
 * The embedding-gradient case of scatterAdd, row by row: along dim 0 of a 2-D x, with one index per row repeated
 * across the columns (index strides [s, 0]) and dense src rows. False, touching nothing, for any other layout.
 */
function addRows(o: TypedArray, shape: readonly number[], dim: number, index: View, src: View): boolean {
  if (dim !== 0 || shape.length !== 2 || index.shape.length !== 2 || index.strides[1] !== 0) return false;
  const [rows, cols] = index.shape as [number, number];
  if (cols !== shape[1] || src.strides[1] !== 1 || (rows > 1 && src.strides[0] !== cols)) return false;
  const I = arr(index.storage);
  const S = arr(src.storage);
  const size = shape[0]!;
  for (let r = 0; r < rows; r++) {
    const j = I[index.offset + r * index.strides[0]!]!;
    checkIndex('scatterAdd', j, size);
    const ob = j * cols, sb = src.offset + r * cols;
    for (let c = 0; c < cols; c++) o[ob + c] = o[ob + c]! + S[sb + c]!;
  }
  return true;
}
