// CPU fused row ops of the forward pass (softmax, layer norm, decode attention, rotary): each allocates its output and
// runs the WebAssembly SIMD route when it can, otherwise the TypeScript kernel in ./kernels/.
import type { Storage, View } from '../../backend.js';
import { bf16ToNumber, f16ToNumber, type DType, type TypedArray } from '../../dtype.js';
import { contiguousStrides, numel } from '../../shape.js';
import { decodeAttentionRows } from './kernels/attention.js';
import { copy, dense } from './kernels/copy.js';
import { layerNormRows } from './kernels/layer-norm.js';
import { rotaryRows } from './kernels/rotary.js';
import { softmaxRows } from './kernels/softmax.js';
import { arr, cpuAlloc } from './storage.js';
import type { MatmulArgs16 } from './kernels/matmul.js';
import { layerNormRowsF32, matmulF32, matmulF32x16, rotaryF32, softmaxRowsF32 } from './wasm/index.js';

/** Softmax (or log-softmax) over the last dimension. */
export function softmax(x: View, log: boolean, dtype: DType): Storage {
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const rows = len === 0 ? 0 : n / len;
  const out = cpuAlloc(dtype, n);
  const o = out.data;
  const { data, offset } = dense(x);
  if (!(data instanceof Float32Array && o instanceof Float32Array && len > 0 && n > 0 && softmaxRowsF32(data, offset, rows, len, o, log))) {
    softmaxRows(data, offset, rows, len, o, log);
  }
  return out;
}

/** Layer norm over the trailing `normDims` dimensions, with the saved mean and reciprocal std. */
export function layerNorm(x: View, normDims: number, weight: View | null, bias: View | null, eps: number, dtype: DType): { y: Storage; mean: Storage; rstd: Storage } {
  const n = numel(x.shape);
  const len = numel(x.shape.slice(x.shape.length - normDims));
  const rows = len === 0 ? 0 : n / len;
  const y = cpuAlloc(dtype, n);
  const mean = cpuAlloc(dtype, rows);
  const rstd = cpuAlloc(dtype, rows);
  const xd = dense(x);
  const w = weight ? dense(weight) : null;
  const b = bias ? dense(bias) : null;
  const f32 = (a: { data: TypedArray } | null) => a === null || a.data instanceof Float32Array;
  const f32rows = () => {
    const wv = w ? (w.data as Float32Array).subarray(w.offset, w.offset + len) : null;
    const bv = b ? (b.data as Float32Array).subarray(b.offset, b.offset + len) : null;
    return layerNormRowsF32(xd.data as Float32Array, xd.offset, rows, len, wv, bv, eps, y.data as Float32Array, mean.data as Float32Array, rstd.data as Float32Array);
  };
  if (!(xd.data instanceof Float32Array && y.data instanceof Float32Array && f32(w) && f32(b) && len > 0 && rows > 0 && f32rows())) {
    layerNormRows(xd, rows, len, w, b, eps, y.data, mean.data, rstd.data);
  }
  return { y, mean, rstd };
}

/** Single-position attention of q [B, Hq, 1, E] over keys and values [B, Hk, S, E] (float32, or 16-bit floats). */
export function decodeAttention(q: View, k: View, v: View, scale: number, dtype: DType): Storage {
  const [B, Hq, , E] = q.shape as [number, number, number, number];
  const out = cpuAlloc(dtype, B * Hq * E);
  const [Q, K, V] = [arr(q.storage), arr(k.storage), arr(v.storage)];
  const kv = (x: TypedArray, dt: DType) => x instanceof Float32Array || (x instanceof Uint16Array && (dt === 'bfloat16' || dt === 'float16'));
  if (!(Q instanceof Float32Array && kv(K, k.storage.dtype) && kv(V, v.storage.dtype) && decodeAttentionGemv(q, k, v, scale, Q, K as Float32Array | Uint16Array, V as Float32Array | Uint16Array, out.data as Float32Array))) {
    decodeAttentionRows(q, k, v, scale, out.data, Q, K, V, decoder(k.storage.dtype), decoder(v.storage.dtype));
  }
  return out;
}

/** Value of a stored element of a 16-bit float dtype (its bits), null for dtypes stored as numbers. */
function decoder(dt: DType): ((bits: number) => number) | null {
  return dt === 'bfloat16' ? bf16ToNumber : dt === 'float16' ? f16ToNumber : null;
}

/** out = A B with B float32 or 16-bit float bits (decoded in the kernels). */
function matmulKV(args: Omit<MatmulArgs16, 'b' | 'bDtype'>, b: Float32Array | Uint16Array, dt: DType): boolean {
  if (b instanceof Float32Array) return matmulF32({ ...args, b });
  return matmulF32x16({ ...args, b, bDtype: dt as 'bfloat16' | 'float16' });
}

/**
 * The SIMD route of decodeAttention: per batch row, one batched product over the key/value heads for the scores of
 * each head's group of queries (q [G, E] against the head's keys as read in place: grouped heads share them, no
 * repeat), the softmax rows, and one batched product with the values. False when the kernels cannot run.
 */
function decodeAttentionGemv(q: View, k: View, v: View, scale: number, Q: Float32Array, K: Float32Array | Uint16Array, V: Float32Array | Uint16Array, out: Float32Array): boolean {
  const [B, Hq, , E] = q.shape as [number, number, number, number];
  const [, Hk, S] = k.shape as [number, number, number, number];
  const G = Hq / Hk;
  const [qB, qH, , qE] = q.strides as [number, number, number, number];
  const [kB, kH, kS, kE] = k.strides as [number, number, number, number];
  const [vB, vH, vS, vE] = v.strides as [number, number, number, number];
  const scores = new Float32Array(Hk * G * S);
  for (let b = 0; b < B; b++) {
    const ok = matmulKV({
      batch: Hk, m: G, n: S, k: E,
      a: Q, aOffset: q.offset + b * qB, aBatchStride: G * qH, aRowStride: qH, aColStride: qE,
      bOffset: k.offset + b * kB, bBatchStride: kH, bRowStride: kE, bColStride: kS, out: scores,
    }, K, k.storage.dtype);
    if (!ok) return false;
    for (let r = 0; r < Hk * G; r++) {
      const o = r * S;
      let m = -Infinity;
      for (let j = 0; j < S; j++) m = Math.max(m, scores[o + j]! * scale);
      let sum = 0;
      for (let j = 0; j < S; j++) sum += scores[o + j] = Math.exp(scores[o + j]! * scale - m);
      const inv = 1 / sum;
      for (let j = 0; j < S; j++) scores[o + j] = scores[o + j]! * inv;
    }
    const done = matmulKV({
      batch: Hk, m: G, n: E, k: S,
      a: scores, aOffset: 0, aBatchStride: G * S, aRowStride: S, aColStride: 1,
      bOffset: v.offset + b * vB, bBatchStride: vH, bRowStride: vS, bColStride: vE, out: B === 1 ? out : out.subarray(b * Hq * E),
    }, V, v.storage.dtype);
    if (!done) return false;
  }
  return true;
}

/** Rotary position embedding (rotate-half form) of x with the given cos / sin tables. */
export function rotaryEmbedding(x: View, cos: View, sin: View, dtype: DType): Storage {
  const out = cpuAlloc(dtype, numel(x.shape));
  const [X, C, S, O] = [arr(x.storage), arr(cos.storage), arr(sin.storage), out.data];
  if (X instanceof Float32Array && C instanceof Float32Array && S instanceof Float32Array && O instanceof Float32Array) {
    // A gradient arriving through a transpose has a strided last dim: a contiguous copy lets the SIMD kernel run.
    const xd = x.strides[x.strides.length - 1] === 1 ? x : { storage: copy(x, dtype), shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 };
    const done = rotaryF32(xd, cos, sin, arr(xd.storage) as Float32Array, C, S, O);
    if (xd !== x) xd.storage.dispose(); // the copy made here
    if (done) return out;
  }
  rotaryRows(x, cos, sin, X, C, S, O, dtype === 'float32');
  return out;
}
