// llama.cpp's block-quantized weight layouts, byte for byte (ggml-common.h), and their reference codecs
// (ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref / dequantize_row_*), in float32 arithmetic as in C.
//   block_q8_0 (34 bytes): f16 d, int8 qs[32];            x[j] = qs[j] * d
//   block_q4_0 (18 bytes): f16 d, uint8 qs[16] (nibbles); x[j] = ((qs[j] & 15) - 8) * d, x[j + 16] = ((qs[j] >> 4) - 8) * d
// A quantized tensor is [out, in] row-major with blocks along `in`: element i sits in block i >> 5 at position i & 31.
import { blockBytes, f16ToNumber, numberToF16, QK, type QuantDType } from './dtype.js';

const fr = Math.fround;

/** C's roundf: halves away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Quantizes float values (a whole number of 32-blocks) into `dtype` blocks, exactly as ggml's reference. */
export function quantizeBlocks(dtype: QuantDType, x: ArrayLike<number>): Uint8Array {
  if (x.length % QK !== 0) throw new RangeError(`quantize: ${x.length} values is not a whole number of ${QK}-value blocks`);
  const nb = x.length / QK;
  const bb = blockBytes(dtype);
  const out = new Uint8Array(nb * bb);
  for (let b = 0; b < nb; b++) {
    const o = b * bb;
    const x0 = b * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = fr(x[x0 + j]!);
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = dtype === 'q8_0' ? fr(amax / 127) : fr(max / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    const h = numberToF16(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    if (dtype === 'q8_0') {
      for (let j = 0; j < QK; j++) out[o + 2 + j] = roundf(fr(fr(x[x0 + j]!) * id)) & 0xff;
    } else {
      for (let j = 0; j < QK / 2; j++) {
        const lo = Math.min(15, Math.trunc(fr(fr(fr(x[x0 + j]!) * id) + 8.5)));
        const hi = Math.min(15, Math.trunc(fr(fr(fr(x[x0 + QK / 2 + j]!) * id) + 8.5)));
        out[o + 2 + j] = lo | (hi << 4);
      }
    }
  }
  return out;
}

/** The block scale of block `b` as a number (an exact f16). */
export function blockScale(dtype: QuantDType, bytes: Uint8Array, b: number): number {
  const o = b * blockBytes(dtype);
  return f16ToNumber(bytes[o]! | (bytes[o + 1]! << 8));
}

/** The integer quant of element i (the value is quant * scale of its block). */
export function quantAt(dtype: QuantDType, bytes: Uint8Array, i: number): number {
  const b = i >>> 5;
  const j = i & 31;
  if (dtype === 'q8_0') return (bytes[b * 34 + 2 + j]! << 24) >> 24;
  const q = bytes[b * 18 + 2 + (j & 15)]!;
  return (j < 16 ? q & 15 : q >>> 4) - 8;
}

/** Decodes `n` elements starting at element `start` (a block boundary) into `out` at `outOffset`, exactly. */
export function dequantizeBlocks(dtype: QuantDType, bytes: Uint8Array, start: number, n: number, out: Float32Array | Float64Array, outOffset = 0): void {
  if (start % QK !== 0 || n % QK !== 0) throw new RangeError(`dequantize: ${dtype} decodes whole ${QK}-element blocks (start ${start}, count ${n})`);
  for (let b = start / QK, e = 0; e < n; b++, e += QK) {
    const d = blockScale(dtype, bytes, b);
    const o = outOffset + e;
    if (dtype === 'q8_0') {
      const p = b * 34 + 2;
      for (let j = 0; j < QK; j++) out[o + j] = fr(((bytes[p + j]! << 24) >> 24) * d);
    } else {
      const p = b * 18 + 2;
      for (let j = 0; j < QK / 2; j++) {
        const q = bytes[p + j]!;
        out[o + j] = fr(((q & 15) - 8) * d);
        out[o + j + QK / 2] = fr(((q >>> 4) - 8) * d);
      }
    }
  }
}
