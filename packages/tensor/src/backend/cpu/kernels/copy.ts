// Copies and casts between strided views.
import type { Storage, View } from '../../../backend.js';
import { bf16ToNumber, f16ToNumber, isQuantized, numberToBf16, numberToF16, type DType, type TypedArray } from '../../../dtype.js';
import { isContiguous, numel } from '../../../shape.js';
import { collapse, forEachRow } from '../../strided.js';
import { copyLoop } from '../loops.js';
import { arr, cpuAlloc } from '../storage.js';
import { copyQuantized } from './quant.js';

/** A contiguous typed array with the view's values (the view's own storage when already dense). */
export function dense(x: View): { data: TypedArray; offset: number } {
  if (isContiguous(x.shape, x.strides)) return { data: arr(x.storage), offset: x.offset };
  return { data: arr(copy(x, x.storage.dtype)), offset: 0 };
}

/** Dense innermost-row length from which a same-dtype copy moves whole rows rather than elements. */
const ROW_COPY_MIN = 32;

/** A contiguous copy of a view, cast to `dtype` (16-bit floats decoded and re-encoded, torch's int/bool rules). */
export function copy(x: View, dtype: DType): Storage {
  if (isQuantized(x.storage.dtype)) return copyQuantized(x, dtype);
  const n = numel(x.shape);
  const out = cpuAlloc(dtype, n);
  const src = arr(x.storage);
  const from = x.storage.dtype;
  if (from === dtype && isContiguous(x.shape, x.strides)) {
    out.data.set(src.subarray(x.offset, x.offset + n));
    return out;
  }
  const { shape, strides } = collapse(x.shape, [x.strides]);
  const inner = shape[shape.length - 1]!;
  if (from === dtype && strides[0]![shape.length - 1] === 1 && inner >= ROW_COPY_MIN) {
    // dense innermost rows (a head transpose): one block copy per row
    const o = out.data;
    let at = 0;
    forEachRow(shape, strides, [x.offset], (offs, len) => {
      o.set(src.subarray(offs[0]!, offs[0]! + len), at);
      at += len;
    });
    return out;
  }
  const is16 = (d: DType) => d === 'float16' || d === 'bfloat16';
  let expr = 'a';
  let conv: (v: number) => number = (v) => v;
  if (is16(from) || is16(dtype)) {
    const dec = from === 'bfloat16' ? bf16ToNumber : from === 'float16' ? f16ToNumber : (v: number) => v;
    const enc = dtype === 'bfloat16' ? numberToBf16 : dtype === 'float16' ? numberToF16 : dtype === 'bool' ? (v: number) => (v !== 0 ? 1 : 0) : dtype === 'int32' ? (v: number) => (Number.isFinite(v) ? Math.trunc(v) : 0) : (v: number) => v;
    conv = (v) => enc(dec(v));
    expr = 'F(a)';
  } else if (dtype === 'bool') {
    expr = '(a !== 0 ? 1 : 0)';
  } else if (dtype === 'int32' && from !== 'int32' && from !== 'bool') {
    // typed-array stores map NaN/inf to 0 and wrap large values modulo 2^32 after truncation
    expr = 'Math.trunc(a)';
  }
  copyLoop(`${from}>${dtype}`, out.data, src, expr, conv)(out.data, [src], shape, strides, [x.offset], conv);
  return out;
}

/** Writes src's values into the view dst (same shape and dtype), in place. */
export function write(dst: View, src: View): void {
  const D = arr(dst.storage);
  const S = arr(src.storage);
  const { shape, strides } = collapse(dst.shape, [dst.strides, src.strides]);
  const r = shape.length - 1;
  const sd = strides[0]![r]!;
  const ss = strides[1]![r]!;
  if (sd === 1 && ss === 1 && shape[r]! >= ROW_COPY_MIN) {
    // dense rows on both sides (keys and values written into a cache slice): one block copy per row
    forEachRow(shape, strides, [dst.offset, src.offset], (offs, len) => D.set(S.subarray(offs[1]!, offs[1]! + len), offs[0]!));
    return;
  }
  forEachRow(shape, strides, [dst.offset, src.offset], (offs, len) => {
    let p = offs[0]!;
    let q = offs[1]!;
    for (let i = 0; i < len; i++, p += sd, q += ss) D[p] = S[q]!;
  });
}
