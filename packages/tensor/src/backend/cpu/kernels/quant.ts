// Copies out of block-quantized storage on the CPU: whole blocks as they are (contiguous views on block boundaries),
// or decoded exactly to float32 / float64 for any strided view (what dequantize and `.to('float32')` run); and
// quantizing float32 / bfloat16 into heap blocks with the wasm quantizers.
import type { Storage, View } from '../../../backend.js';
import { isQuantized, QK, type DType, type QuantDType } from '../../../dtype.js';
import { blockScale, dequantizeBlocks, quantAt } from '../../../quant-blocks.js';
import { isContiguous, numel } from '../../../shape.js';
import { arr, cpuAlloc } from '../storage.js';
import { quantizeInto } from '../wasm/quantize.js';

/**
 * A contiguous float32 / bfloat16 tensor (a whole number of 32-blocks) quantized into a heap storage, where the
 * kernels read weights in place; null when the wasm quantizers cannot run (the caller quantizes in TypeScript).
 */
export function quantizeCpu(x: View, dtype: QuantDType): Storage | null {
  const n = numel(x.shape);
  const kind = x.storage.dtype === 'float32' ? 'f32' : x.storage.dtype === 'bfloat16' ? 'bf16' : null;
  if (!kind || n === 0 || n % QK !== 0 || !isContiguous(x.shape, x.strides)) return null;
  const src = (arr(x.storage) as Float32Array | Uint16Array).subarray(x.offset, x.offset + n);
  const out = cpuAlloc(dtype, n, true);
  if (quantizeInto(dtype, src, kind, out.data as Uint8Array)) return out;
  out.dispose();
  return null;
}

/** backend.copy for a quantized source. */
export function copyQuantized(x: View, dtype: DType): Storage {
  const from = x.storage.dtype as QuantDType;
  const bytes = arr(x.storage) as Uint8Array;
  const n = numel(x.shape);
  const dense = isContiguous(x.shape, x.strides) && x.offset % QK === 0 && n % QK === 0;
  if (isQuantized(dtype)) {
    if (dtype !== from || !dense) {
      throw new Error(`copy: ${from} blocks can only be copied whole (a contiguous view on block boundaries); use dequantize(t) first`);
    }
    const out = cpuAlloc(dtype, n);
    const bb = bytes.length / (x.storage.length / QK);
    out.data.set(bytes.subarray((x.offset / QK) * bb, ((x.offset + n) / QK) * bb));
    return out;
  }
  if (dtype !== 'float32' && dtype !== 'float64') throw new Error(`cast: ${from} tensors dequantize to float32 or float64, not ${dtype}`);
  const out = cpuAlloc(dtype, n);
  const o = out.data as Float32Array | Float64Array;
  if (dense) {
    dequantizeBlocks(from, bytes, x.offset, n, o);
    return out;
  }
  // Any strided view: decode element by element, walking the output in row-major order.
  const nd = x.shape.length;
  const idx = new Array<number>(nd).fill(0);
  let src = x.offset;
  for (let e = 0; e < n; e++) {
    o[e] = Math.fround(quantAt(from, bytes, src) * blockScale(from, bytes, src >>> 5));
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      src += x.strides[d]!;
      if (idx[d]! < x.shape[d]!) break;
      src -= x.strides[d]! * x.shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
