// CPU fused row ops of the forward pass (softmax, layer norm, attention, rotary): each allocates its output and
// runs the WebAssembly SIMD route when it can, otherwise the TypeScript kernel in ./kernels/.
import type { Storage, View } from '../../backend.js';
import { bf16ToNumber, f16ToNumber, type DType, type TypedArray } from '../../dtype.js';
import { contiguousStrides, numel } from '../../shape.js';
import { attentionRows } from './kernels/attention.js';
import { copy, dense } from './kernels/copy.js';
import { layerNormRows } from './kernels/layer-norm.js';
import { rotaryRows } from './kernels/rotary.js';
import { softmaxRows } from './kernels/softmax.js';
import { arr, cpuAlloc } from './storage.js';
import type { MatmulArgs16 } from './kernels/matmul.js';
import { binaryF32, layerNormRowsF32, matmulF32, matmulF32x16, rotaryF32, softmaxCausalRowsF32, softmaxRowsF32 } from './wasm/index.js';
import { getHeap, heapAlloc, heapBuffer, heapFree } from './wasm/heap.js';

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

/**
 * Attention of q [B, Hq, L, E] over keys and values [B, Hk, S, E] (float32, or 16-bit floats), causal or not, with an
 * optional float32 mask [B, 1, L, S] added to the scaled scores.
 */
export function attention(q: View, k: View, v: View, scale: number, causal: boolean, mask: View | null, dtype: DType): Storage {
  const [B, Hq, L, E] = q.shape as [number, number, number, number];
  const out = cpuAlloc(dtype, B * Hq * L * E);
  const [Q, K, V] = [arr(q.storage), arr(k.storage), arr(v.storage)];
  const M = mask ? (arr(mask.storage) as Float32Array) : null;
  const kv = (x: TypedArray, dt: DType) => x instanceof Float32Array || (x instanceof Uint16Array && (dt === 'bfloat16' || dt === 'float16'));
  if (!(Q instanceof Float32Array && kv(K, k.storage.dtype) && kv(V, v.storage.dtype) && attentionSimd(q, k, v, scale, causal, mask, Q, K as Float32Array | Uint16Array, V as Float32Array | Uint16Array, M, out.data as Float32Array))) {
    attentionRows(q, k, v, scale, causal, mask, out.data, Q, K, V, M, decoder(k.storage.dtype), decoder(v.storage.dtype));
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

/** Bytes of scores the SIMD route holds at once; past it, the query rows are taken in pieces. */
let SCORES_BYTES = 8 * 2 ** 20;
/** Test knob: the bytes of scores attention holds at once, so that small inputs take the several-pieces path. */
export function setAttentionScoresBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 4) throw new RangeError(`setAttentionScoresBytes: expected an integer >= 4, got ${bytes}`);
  SCORES_BYTES = bytes;
}
/**
 * Query positions per piece of causal attention: a piece scores only the keys its last position sees, so the products
 * skip the masked triangle but for a strip as wide as the piece (a 4,096-token prompt does 53% of the full products).
 */
const CAUSAL_ROWS = 256;

/**
 * The SIMD route of attention, a piece of query rows at a time, batched over the key/value heads: one product for the
 * scores (grouped heads read the shared keys in place: no repeat), then one softmax kernel in place on the heap that
 * scales and masks (the keys past a row's position are written 0), one product with the values, and the rows
 * copied to their place in out. A piece is the G query heads of a key/value head for one position (decoding), or up
 * to CAUSAL_ROWS positions of one query head (a prompt; all of them when not causal), cut smaller when its scores would
 * pass SCORES_BYTES (then one key/value head at a time). False when the kernels cannot run.
 */
function attentionSimd(q: View, k: View, v: View, scale: number, causal: boolean, mask: View | null, Q: Float32Array, K: Float32Array | Uint16Array, V: Float32Array | Uint16Array, M: Float32Array | null, out: Float32Array): boolean {
  const [B, Hq, L, E] = q.shape as [number, number, number, number];
  const [, Hk, S] = k.shape as [number, number, number, number];
  const G = Hq / Hk;
  const [qB, qH, qL, qE] = q.strides as [number, number, number, number];
  const [kB, kH, kS, kE] = k.strides as [number, number, number, number];
  const [vB, vH, vS, vE] = v.strides as [number, number, number, number];
  // rows of a piece: the group's heads at one position (stride qH), or positions of one head (stride qL)
  const one = L === 1;
  const rowsPerHead = one ? G : L;
  const rowStride = one ? qH : qL;
  const maxRows = Math.max(1, Math.floor(SCORES_BYTES / 4 / S));
  let R = causal && !one ? Math.min(CAUSAL_ROWS, L) : rowsPerHead;
  const nk = Hk * R <= maxRows ? Hk : 1;
  if (nk === 1) R = Math.min(R, maxRows);
  // scratch blocks on the heap where it is shared (the kernels work in place there; an unshared heap's views detach
  // when it grows), freed below: no tensor storage, no registry; ordinary arrays otherwise (the kernels copy them)
  const shared = getHeap()?.shared === true;
  const scAt = shared ? heapAlloc(nk * R * S * 4) : -1;
  const pvAt = shared ? heapAlloc(nk * R * E * 4) : -1;
  // the softmax kernel scales (x - max) in f64, which needs scale > 0; any other scale, or a mask to add after it, is
  // a pass of its own
  const scaleInSoftmax = scale > 0 && Number.isFinite(scale) && !mask;
  const [mB, , mL, mS] = mask ? (mask.strides as [number, number, number, number]) : [0, 0, 0, 0];
  const scaleArr = new Float32Array([scale]);
  try {
    const sc = scAt >= 0 ? new Float32Array(heapBuffer(), scAt, nk * R * S) : new Float32Array(nk * R * S);
    const pv = pvAt >= 0 ? new Float32Array(heapBuffer(), pvAt, nk * R * E) : new Float32Array(nk * R * E);
    for (let b = 0; b < B; b++) {
      for (let g = 0; g < (one ? 1 : G); g++) {
        for (let hk0 = 0; hk0 < Hk; hk0 += nk) {
          for (let r0 = 0; r0 < rowsPerHead; r0 += R) {
            const m = Math.min(R, rowsPerHead - r0);
            const rows = nk * m;
            const keys = causal ? Math.min(S, one ? 1 : r0 + m) : S;
            const head0 = hk0 * G + (one ? r0 : g); // the piece's first query head
            const ok = matmulKV({
              batch: nk, m, n: keys, k: E,
              a: Q, aOffset: q.offset + b * qB + head0 * qH + (one ? 0 : r0 * qL), aBatchStride: G * qH, aRowStride: rowStride, aColStride: qE,
              bOffset: k.offset + b * kB + hk0 * kH, bBatchStride: kH, bRowStride: kE, bColStride: kS, out: sc,
            }, K, k.storage.dtype);
            if (!ok) return false;
            if (mask && M) {
              // scores * scale + the mask row of the piece's position (every head of the piece shares it)
              for (let i = 0; i < rows; i++) {
                const mo = mask.offset + b * mB + (one ? 0 : r0 + (i % m)) * mL;
                for (let c = 0, o = i * keys; c < keys; c++, o++) sc[o] = sc[o]! * scale + M[mo + c * mS]!;
              }
            } else if (!scaleInSoftmax && !binaryF32('mul', sc, 0, scaleArr, 0, sc, rows * keys, 'scalar')) return false;
            // the causal mask inside the softmax: row i of the piece sees keys 0 .. r0 + i % m
            const first = causal ? (one ? 1 : r0 + 1) : keys;
            if (!softmaxCausalRowsF32(sc, rows, keys, scaleInSoftmax ? scale : 1, first, causal && !one ? m : 1)) return false;
            const done = matmulKV({
              batch: nk, m, n: E, k: keys,
              a: sc, aOffset: 0, aBatchStride: m * keys, aRowStride: keys, aColStride: 1,
              bOffset: v.offset + b * vB + hk0 * vH, bBatchStride: vH, bRowStride: vS, bColStride: vE, out: pv,
            }, V, v.storage.dtype);
            if (!done) return false;
            // the piece's rows of each key/value head are contiguous in out ([B, Hq, L, E]); the heads G * L * E apart
            for (let j = 0; j < nk; j++) out.set(pv.subarray(j * m * E, (j + 1) * m * E), ((b * Hq + head0 + j * G) * L + (one ? 0 : r0)) * E);
          }
        }
      }
    }
    return true;
  } finally {
    if (scAt >= 0) heapFree(scAt);
    if (pvAt >= 0) heapFree(pvAt);
  }
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
