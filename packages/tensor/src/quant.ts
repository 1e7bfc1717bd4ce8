// Weight-only quantization: 2-D [out, in] weights stored as llama.cpp's q8_0 / q4_0 blocks along `in` (the K of
// x @ W^T), read by matmul / linear (decoded inside the kernels) and decoded exactly by dequantize.
import { getBackend, type Device } from './backend.js';
import { blockBytes, isQuantized, QK, type QuantDType } from './dtype.js';
import { cast } from './ops/elementwise.js';
import { backendOf, wrap } from './ops/util.js';
import { quantizeBlocks } from './quant-blocks.js';
import { fmtShape, numel } from './shape.js';
import type { Tensor } from './tensor.js';

/** The quantized weight dtypes, for option parsing. */
export const QUANT_DTYPES: readonly QuantDType[] = ['q8_0', 'q4_0'];

/**
 * Quantizes a 2-D [out, in] weight (in a multiple of 32) to q8_0 or q4_0 blocks on the same device, rounding as
 * ggml's reference quantize_row_q8_0 / q4_0. The values are read on the host, so the tensor must be readable
 * synchronously (quantize on the CPU, then move the result with `.to(device)`). On the CPU the wasm quantizers do it
 * (the same bytes) into the heap, where the matmul kernels read the blocks in place.
 */
export function quantize(t: Tensor, dtype: QuantDType): Tensor {
  if (!isQuantized(dtype)) throw new Error(`quantize: dtype must be one of ${QUANT_DTYPES.join(', ')}, got ${String(dtype)}`);
  if (t.ndim !== 2) throw new Error(`quantize: expected a 2-D [out_features, in_features] weight, got ${fmtShape(t.shape)}`);
  if (t.shape[1]! % QK !== 0) throw new Error(`quantize: in_features ${t.shape[1]} of ${fmtShape(t.shape)} must be a multiple of ${QK} for ${dtype} blocks`);
  if (isQuantized(t.dtype)) {
    if (t.dtype === dtype) return t;
    throw new Error(`quantize: ${fmtShape(t.shape)} is already ${t.dtype}; dequantize it first`);
  }
  const b = getBackend(t.device);
  if (b.quantize) {
    const src = t.dtype === 'bfloat16' ? t.detach().contiguous() : cast(t.detach(), 'float32').contiguous();
    const s = b.quantize(src, dtype);
    if (src.storage !== t.storage) src.dispose(); // a cast or contiguous copy made here
    if (s) return wrap(s, t.shape);
  }
  if (!b.readSync) throw new Error(`quantize: reads the weight on the host; quantize on the CPU and move the result with .to('${t.device}')`);
  const values = cast(t.detach(), 'float32').dataSync();
  return wrap(b.upload(dtype, quantizeBlocks(dtype, values)), t.shape);
}

/** The float32 values of a quantized tensor (exactly the block quants times their f16 scales); others unchanged. */
export function dequantize(t: Tensor): Tensor {
  return isQuantized(t.dtype) ? wrap(backendOf('dequantize', t).copy(t, 'float32'), t.shape) : t;
}

/**
 * The shape of a quantized tensor's block bytes as a uint8 array: [..., in] -> [..., in / 32 * block bytes] (34 per
 * block for q8_0, 18 for q4_0). Row r of it is row r of the weight, exactly as ggml / GGUF store Q8_0 / Q4_0 rows.
 */
export function blockBytesShape(dtype: QuantDType, shape: readonly number[]): number[] {
  const last = shape[shape.length - 1] ?? 0;
  if (shape.length === 0 || last % QK !== 0) throw new RangeError(`${dtype}: shape ${fmtShape([...shape])} has no whole ${QK}-element blocks along its last dimension`);
  return [...shape.slice(0, -1), (last / QK) * blockBytes(dtype)];
}

/** A quantized tensor of `shape` from its llama.cpp block bytes (copied), e.g. as read from a file. */
export function fromBlocks(bytes: Uint8Array, dtype: QuantDType, shape: readonly number[], opts: { device?: Device } = {}): Tensor {
  if (!isQuantized(dtype)) throw new Error(`fromBlocks: dtype must be one of ${QUANT_DTYPES.join(', ')}, got ${String(dtype)}`);
  const want = numel(blockBytesShape(dtype, shape));
  if (bytes.length !== want) throw new Error(`fromBlocks: ${dtype} ${fmtShape([...shape])} is ${want} bytes of blocks, got ${bytes.length}`);
  return wrap(getBackend(opts.device).upload(dtype, bytes), [...shape]);
}
