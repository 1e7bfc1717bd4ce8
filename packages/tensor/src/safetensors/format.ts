// The safetensors dtype table, and conversion between file bytes (always little-endian) and tensor storage.
import type { DType, TypedArray } from '../dtype.js';
import { SafetensorsError } from './errors.js';

/**
 * Every dtype the reference implementation (huggingface/safetensors, tensor.rs) knows, with its size in bits and
 * its rank in the reference's `Dtype` enum (declared in increasing alignment order; the writer sorts by it).
 * All of them are accepted by the header validator; `tensorDtype` says what `get()` turns them into
 * (null: readable header, but no tensorzoo dtype to load the data into).
 */
export interface FileDtype {
  readonly name: string;
  readonly bits: number;
  readonly rank: number;
  readonly tensorDtype: DType | null;
}

const TABLE: [string, number, DType | null][] = [
  ['BOOL', 8, 'bool'],
  ['F4', 4, null],
  ['F6_E2M3', 6, null],
  ['F6_E3M2', 6, null],
  ['U8', 8, 'int32'],
  ['I8', 8, 'int32'],
  ['F8_E5M2', 8, null],
  ['F8_E4M3', 8, null],
  ['F8_E8M0', 8, null],
  ['F8_E4M3FNUZ', 8, null],
  ['F8_E5M2FNUZ', 8, null],
  ['I16', 16, 'int32'],
  ['U16', 16, 'int32'],
  ['F16', 16, 'float16'],
  ['BF16', 16, 'bfloat16'],
  ['I32', 32, 'int32'],
  ['U32', 32, 'int32'],
  ['F32', 32, 'float32'],
  ['C64', 64, null],
  ['F64', 64, 'float64'],
  ['I64', 64, 'int32'],
  ['U64', 64, 'int32'],
];

export const FILE_DTYPES: ReadonlyMap<string, FileDtype> = new Map(
  TABLE.map(([name, bits, tensorDtype], rank) => [name, { name, bits, rank, tensorDtype }]),
);

/** The file dtype a tensor dtype is saved as (quantized dtypes: their block bytes as U8, see quant.ts blockBytesShape). */
export const SAVE_DTYPE: Readonly<Partial<Record<DType, string>>> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
  int32: 'I32',
  bool: 'BOOL',
  q8_0: 'U8',
  q4_0: 'U8',
};

/** Whether this host stores typed arrays little-endian (every mainstream platform; the DataView path covers the rest). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Context for error messages. */
export interface DecodeContext {
  file: string;
  tensor: string;
}

/**
 * Decodes `n` elements of file dtype `fd` from little-endian `bytes` (exactly n * size bytes) into the typed array
 * tensorzoo stores for `fd.tensorDtype`. The result may be a view of `bytes` (callers upload, which copies).
 * `fast` = use typed-array views when the host is little-endian (tests force the DataView path with false).
 */
export function decodeElements(bytes: Uint8Array, fd: FileDtype, n: number, ctx: DecodeContext, fast = HOST_LITTLE_ENDIAN): TypedArray {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const aligned = (k: number) => bytes.byteOffset % k === 0;
  const range = (i: number, value: bigint | number): never => {
    throw new SafetensorsError(ctx.file, ctx.tensor, 'value-out-of-range', `${fd.name} value ${value} at flat index ${i} does not fit in int32`);
  };
  switch (fd.name) {
    case 'F32': {
      if (fast) return aligned(4) ? new Float32Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(bytes.slice().buffer, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    }
    case 'F64': {
      if (fast) return aligned(8) ? new Float64Array(bytes.buffer, bytes.byteOffset, n) : new Float64Array(bytes.slice().buffer, 0, n);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    case 'F16':
    case 'BF16': {
      if (fast) return aligned(2) ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(bytes.slice().buffer, 0, n);
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      return out;
    }
    case 'I32': {
      if (fast) return aligned(4) ? new Int32Array(bytes.buffer, bytes.byteOffset, n) : new Int32Array(bytes.slice().buffer, 0, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      return out;
    }
    case 'U32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = dv.getUint32(i * 4, true);
        if (v > 0x7fffffff) range(i, v);
        out[i] = v;
      }
      return out;
    }
    case 'I64':
    case 'U64': {
      const out = new Int32Array(n);
      const signed = fd.name === 'I64';
      // A 64-bit value fits in int32 iff its high word is the sign extension of its low word (for U64: both >= 0).
      const src = fast ? (aligned(4) ? new Int32Array(bytes.buffer, bytes.byteOffset, 2 * n) : new Int32Array(bytes.slice().buffer, 0, 2 * n)) : null;
      for (let i = 0; i < n; i++) {
        const lo = src ? src[2 * i]! : dv.getInt32(i * 8, true);
        const hi = src ? src[2 * i + 1]! : dv.getInt32(i * 8 + 4, true);
        if (hi !== lo >> 31 || (!signed && hi !== 0)) {
          range(i, signed ? dv.getBigInt64(i * 8, true) : dv.getBigUint64(i * 8, true));
        }
        out[i] = lo;
      }
      return out;
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      return out;
    }
    case 'U16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      return out;
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      return out;
    }
    case 'U8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = bytes[i]!;
      return out;
    }
    case 'BOOL': {
      for (let i = 0; i < n; i++) {
        const b = bytes[i]!;
        if (b > 1) throw new SafetensorsError(ctx.file, ctx.tensor, 'invalid-bool', `BOOL byte ${b} at flat index ${i} is neither 0 nor 1`);
      }
      return bytes.subarray(0, n);
    }
    default:
      throw new SafetensorsError(ctx.file, ctx.tensor, 'unsupported-dtype', `dtype ${fd.name} is valid safetensors but tensorzoo has no tensor dtype for it`);
  }
}

/** Little-endian bytes of a tensor's storage elements (a view when the host is little-endian, else a swapped copy). */
export function encodeElements(data: TypedArray, dtype: DType, fast = HOST_LITTLE_ENDIAN): Uint8Array {
  if (dtype === 'bool') {
    let clean = true;
    for (let i = 0; i < data.length; i++) if (data[i]! > 1) { clean = false; break; }
    if (clean) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i] ? 1 : 0;
    return out;
  }
  if (fast || data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  const n = data.length;
  switch (dtype) {
    case 'float32': for (let i = 0; i < n; i++) dv.setFloat32(i * 4, data[i]!, true); break;
    case 'float64': for (let i = 0; i < n; i++) dv.setFloat64(i * 8, data[i]!, true); break;
    case 'int32': for (let i = 0; i < n; i++) dv.setInt32(i * 4, data[i]!, true); break;
    case 'float16': case 'bfloat16': for (let i = 0; i < n; i++) dv.setUint16(i * 2, data[i]!, true); break;
  }
  return out;
}
