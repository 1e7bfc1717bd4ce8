// Data types: what a tensor stores, how it is laid out in a typed array, and how types combine.

/**
 * The element types a tensor can hold. float16/bfloat16 are storage types: ops compute in float32. q8_0/q4_0 are
 * block-quantized weight types (llama.cpp's layouts): storage only, read by matmul/linear and dequantize.
 */
export type DType = 'float32' | 'float64' | 'int32' | 'bool' | 'float16' | 'bfloat16' | QuantDType;

/** Block-quantized weight dtypes: 32 weights per block with an f16 scale, int8 (q8_0) or 4-bit with offset 8 (q4_0). */
export type QuantDType = 'q8_0' | 'q4_0';

/** The typed array that backs each dtype on the CPU (16-bit floats as their raw bits, quantized blocks as bytes). */
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array;

/** The dtypes every op takes (the quantized weight dtypes, which only matmul reads, are QUANT_DTYPES). */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool', 'float16', 'bfloat16'];

/** Weights per quantization block (ggml's QK8_0 = QK4_0 = 32). */
export const QK = 32;

/** Whether a dtype is one of the block-quantized weight types. */
export function isQuantized(dtype: DType): dtype is QuantDType {
  return dtype === 'q8_0' || dtype === 'q4_0';
}

/** Bytes of one block: an f16 scale then 32 int8 (q8_0) or 16 bytes of nibble pairs (q4_0). */
export function blockBytes(dtype: QuantDType): number {
  return dtype === 'q8_0' ? 2 + QK : 2 + QK / 2;
}

/** Bytes per element (fractional for quantized dtypes: block bytes / 32). */
export function itemSize(dtype: DType): number {
  switch (dtype) {
    case 'float64': return 8;
    case 'float32': case 'int32': return 4;
    case 'float16': case 'bfloat16': return 2;
    case 'bool': return 1;
    case 'q8_0': case 'q4_0': return blockBytes(dtype) / QK;
  }
}

/** Length of the typed array holding `n` elements of `dtype` (bytes of whole blocks for quantized dtypes). */
export function arrayLength(dtype: DType, n: number): number {
  if (!isQuantized(dtype)) return n;
  if (n % QK !== 0) throw new RangeError(`${dtype}: ${n} elements is not a whole number of ${QK}-element blocks`);
  return (n / QK) * blockBytes(dtype);
}

/** Elements held by a typed array of `length` of `dtype` (the inverse of arrayLength). */
export function elementCount(dtype: DType, length: number): number {
  return isQuantized(dtype) ? (length / blockBytes(dtype)) * QK : length;
}

/** Whether values of this dtype are floating point (and so can carry gradients; quantized weights cannot). */
export function isFloating(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** The dtype arithmetic runs in: 16-bit and quantized storage types compute in float32. */
export function computeDtype(dtype: DType): DType {
  return dtype === 'float16' || dtype === 'bfloat16' || isQuantized(dtype) ? 'float32' : dtype;
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, float16: 2, bfloat16: 2, q8_0: 2, q4_0: 2, float32: 2, float64: 3 };

/** The result dtype of combining two tensors (torch's promotion, with 16-bit floats computing in float32). */
export function promoteTypes(a: DType, b: DType): DType {
  const r = Math.max(RANK[a], RANK[b]);
  return r === 3 ? 'float64' : r === 2 ? 'float32' : r === 1 ? 'int32' : 'bool';
}

/** The dtype of a tensor combined with a plain number: numbers are "weak" as in torch. */
export function promoteWithScalar(t: DType, x: number | boolean): DType {
  if (typeof x === 'boolean') return computeDtype(t);
  if (isFloating(t) || isQuantized(t)) return computeDtype(t);
  return Number.isInteger(x) ? 'int32' : 'float32';
}

/** Allocates a zeroed typed array for `n` elements of `dtype` (whole blocks of bytes for quantized dtypes). */
export function allocArray(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32': return slabbed(Float32Array, n);
    case 'float64': return slabbed(Float64Array, n);
    case 'int32': return slabbed(Int32Array, n);
    case 'bool': return slabbed(Uint8Array, n);
    case 'float16': case 'bfloat16': return slabbed(Uint16Array, n);
    case 'q8_0': case 'q4_0': return new Uint8Array(arrayLength(dtype, n));
  }
}

// Small arrays are cut from shared zeroed slabs, as Node's Buffer pool does: each fresh ArrayBuffer costs a backing
// store allocation and garbage-collector tracking, about a microsecond at 1 KiB, which made most of a small op's cost.
// In Chromium 156 a fresh buffer of 4 to 64 KiB cost 20 to 46 us (Node 20: 3.5 to 9), about the same at every size
// in that range, so slabs are 64 KiB: a quarter of the allocations of 16 KiB ones at the same price each.
// A slab is freed once every array cut from it is; an array outliving its neighbours holds at most SLAB bytes.
// The tiniest arrays are cut from it too, although V8 keeps a typed array of up to 64 bytes on its own heap, cheaper to
// make: the first read of such an array's `.buffer` (the CPU heap's lookups, heapPtr and memoryOf, read it on every
// kernel call) moves it to a backing store of its own. That cost 0.9 us in a loop in Node 20 and 1.4 us in Chromium
// 156, but 9 to 16 us inside a decode step in Chromium, where a layer norm's saved mean and rstd (one float each)
// made the norm 6x slower than in Node and the shipped model's page decode 1.4x to 1.8x slower than Node's.
const SLAB = 65536;
/** Bytes up to which allocArray cuts arrays from a slab (bigger ones are the CPU backend's pool's to reuse). */
export const SLAB_MAX = 4096;
let slab = new ArrayBuffer(0);
let slabTop = 0;
/** A zeroed array of n elements: cut from the current slab (8-byte aligned; a fresh slab when it is full) when small. */
function slabbed<T>(C: { new (n: number): T; new (b: ArrayBuffer, offset: number, n: number): T; BYTES_PER_ELEMENT: number }, n: number): T {
  const bytes = n * C.BYTES_PER_ELEMENT;
  if (bytes > SLAB_MAX) return new C(n);
  let start = (slabTop + 7) & ~7;
  if (start + bytes > slab.byteLength) {
    slab = new ArrayBuffer(SLAB);
    start = 0;
  }
  slabTop = start + bytes;
  return new C(slab, start, n);
}

// --- 16-bit floats: exact decode, round-to-nearest-even encode ---

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decodes bfloat16 bits to a number (exact). */
export function bf16ToNumber(bits: number): number {
  u32[0] = bits << 16;
  return f32[0]!;
}

/** Encodes a number as bfloat16 bits, rounding to nearest even from the exact value; NaN stays a quiet NaN. */
export function numberToBf16(x: number): number {
  f32[0] = x;
  let u = u32[0]!;
  if ((u & 0x7f800000) === 0x7f800000) {
    if ((u & 0x7fffff) !== 0) return ((u >>> 16) | 0x40) & 0xffff; // NaN
    return u >>> 16; // +-inf (x itself was infinite or beyond float32's range, which is beyond bfloat16's too)
  }
  // Plain f64 -> f32 -> bf16 double rounding is wrong near bf16 ties (1 + 2^-8 + 2^-40 would round down).
  // Rounding to odd in the intermediate step makes the second rounding exact: keep a sticky bit when f32 was inexact.
  const r = f32[0]!;
  if (r !== x && (u & 1) === 0) u += Math.abs(x) > Math.abs(r) ? 1 : -1;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 0) >>> 16 & 0xffff;
}

/** Decodes IEEE half-precision bits to a number (exact). */
export function f16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1024 + m) * 2 ** (e - 25);
}

/** Encodes a number as IEEE half-precision bits, rounding to nearest even (from the float64 value directly). */
export function numberToF16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  let a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65520 is the midpoint between max half (65504) and 2^16: ties go up to inf
  if (a < 2 ** -14) {
    // subnormal: units of 2^-24, round half to even
    const q = a / 2 ** -24;
    let r = Math.round(q);
    if (r - q === 0.5 && r % 2 === 1) r -= 1;
    return sign | r;
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  const q = (a / 2 ** e - 1) * 1024; // exact in float64
  let m = Math.round(q);
  if (m - q === 0.5 && m % 2 === 1) m -= 1;
  if (m === 1024) { m = 0; e += 1; }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

/** Converts a number to the value a dtype can hold (integer truncation, float32 rounding, bool). */
export function castScalar(x: number, dtype: DType): number {
  switch (dtype) {
    case 'float64': return x;
    case 'float32': return Math.fround(x);
    case 'int32': return Number.isFinite(x) ? Math.trunc(x) | 0 : 0;
    case 'bool': return x !== 0 ? 1 : 0; // NaN is truthy, as in torch
    case 'float16': return f16ToNumber(numberToF16(x));
    case 'bfloat16': return bf16ToNumber(numberToBf16(x));
    case 'q8_0': case 'q4_0': throw new TypeError(`${dtype} holds whole blocks of weights: quantize a 2-D tensor with quantize(t, '${dtype}')`);
  }
}
