// CPU training kernels (relu2 / softmax / layer-norm backward, cross entropy, the AdamW update): output allocation and the
// choice between the WebAssembly SIMD route and the TypeScript kernels in ./kernels/.
import type { AdamStepHyper, Storage, View } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { isContiguous, numel } from '../../shape.js';
import { adamStep } from './kernels/adam.js';
import { dense } from './kernels/copy.js';
import { logSumExpRows, nllRows, softmaxScaledRows, subtractOneHot } from './kernels/cross-entropy.js';
import { layerNormBackwardRows } from './kernels/layer-norm.js';
import { relu2BackwardLoop } from './kernels/relu2-backward.js';
import { softmaxBackwardRows } from './kernels/softmax-backward.js';
import { arr, cpuAlloc } from './storage.js';
import { adamF32, crossEntropyGradF32, layerNormBackwardF32, relu2BackwardF32, rowLogSumExpF32, softmaxBackwardF32 } from './wasm/index.js';

/** Gradient of relu2 (relu(x)^2): g * 2 relu(x). */
export function relu2Backward(g: View, x: View, dtype: DType): Storage {
  const n = numel(x.shape);
  const out = cpuAlloc(dtype, n);
  const G = dense(g), X = dense(x);
  const simd = G.data instanceof Float32Array && X.data instanceof Float32Array && out.data instanceof Float32Array &&
    relu2BackwardF32(G.data, G.offset, X.data, X.offset, out.data, n);
  if (!simd) relu2BackwardLoop(G, X, n, out.data);
  return out;
}

/** Gradient of softmax (or log-softmax) over the last dimension from its output y. */
export function softmaxBackward(g: View, y: View, log: boolean, dtype: DType): Storage {
  const n = numel(y.shape);
  const len = y.shape[y.shape.length - 1] ?? 1;
  const rows = len === 0 ? 0 : n / len;
  const out = cpuAlloc(dtype, n);
  const G = dense(g), Y = dense(y);
  const simd = !log && G.data instanceof Float32Array && Y.data instanceof Float32Array && out.data instanceof Float32Array &&
    softmaxBackwardF32(G.data, G.offset, Y.data, Y.offset, rows, len, out.data);
  if (!simd) softmaxBackwardRows(G, Y, rows, len, log, out.data);
  return out;
}

/** Gradients of layer norm: dx, and the weight / bias gradients summed over rows when asked. */
export function layerNormBackward(g: View, x: View, mean: View, rstd: View, weight: View | null, normDims: number, needWeight: boolean, needBias: boolean, dtype: DType): { dx: Storage; dweight: Storage | null; dbias: Storage | null } {
  const n = numel(x.shape);
  const len = numel(x.shape.slice(x.shape.length - normDims));
  const rows = len === 0 ? 0 : n / len;
  const dx = cpuAlloc(dtype, n);
  const dw = needWeight ? new Float64Array(len) : null;
  const db = needBias ? new Float64Array(len) : null;
  const [G, X, M, R] = [dense(g), dense(x), dense(mean), dense(rstd)];
  const W = weight ? dense(weight) : null;
  const f32 = (a: TypedArray | undefined): a is Float32Array => a instanceof Float32Array;
  const simd = f32(G.data) && f32(X.data) && f32(M.data) && f32(R.data) && (!W || f32(W.data)) && f32(dx.data) &&
    layerNormBackwardF32(G.data, G.offset, X.data, X.offset, M.data, M.offset, R.data, R.offset, W ? (W.data as Float32Array) : null, W?.offset ?? 0, rows, len, dx.data, dw, db);
  if (!simd) layerNormBackwardRows(G, X, M, R, W, rows, len, dx.data, dw, db);
  const rowSums = (a: Float64Array | null) => {
    if (!a) return null;
    const s = cpuAlloc(dtype, len);
    s.data.set(a);
    return s;
  };
  return { dx, dweight: rowSums(dw), dbias: rowSums(db) };
}

/** Per-row negative log-likelihood and log-sum-exp of [rows, classes] logits. */
export function crossEntropyForward(logits: View, target: View, dtype: DType): { nll: Storage; lse: Storage } {
  const [rows, len] = logits.shape as [number, number];
  const x = dense(logits);
  const t = dense(target);
  const lse = cpuAlloc(dtype, rows);
  const nll = cpuAlloc(dtype, rows);
  if (!(x.data instanceof Float32Array && lse.data instanceof Float32Array && len > 0 && rowLogSumExpF32(x.data, x.offset, rows, len, lse.data))) {
    logSumExpRows(x.data, x.offset, rows, len, lse.data);
  }
  nllRows(x.data, x.offset, rows, len, lse.data, t.data, t.offset, nll.data);
  return { nll, lse };
}

/** Gradient of the scaled per-row cross entropy with respect to the logits. */
export function crossEntropyBackward(logits: View, lse: View, target: View, scale: View, dtype: DType): Storage {
  const [rows, len] = logits.shape as [number, number];
  const out = cpuAlloc(dtype, rows * len);
  const x = dense(logits), l = dense(lse), t = dense(target), s = dense(scale);
  const f32 = (a: TypedArray): a is Float32Array => a instanceof Float32Array;
  const simd = f32(x.data) && f32(l.data) && f32(s.data) && f32(out.data) &&
    crossEntropyGradF32(x.data, x.offset, rows, len, l.data.subarray(l.offset, l.offset + rows), s.data.subarray(s.offset, s.offset + rows), out.data);
  if (!simd) softmaxScaledRows(x.data, x.offset, rows, len, l.data, l.offset, s.data, s.offset, out.data);
  subtractOneHot(out.data, rows, len, t.data, t.offset, s.data, s.offset);
  return out;
}

/** One in-place AdamW update; false when the layouts do not fit (the caller runs the generic ops). */
export function adamStepCpu(param: View, grad: View, expAvg: View, expAvgSq: View, h: AdamStepHyper): boolean {
  const n = numel(param.shape);
  const flat = (v: View) => {
    const a = arr(v.storage);
    return (a instanceof Float32Array || a instanceof Float64Array) && isContiguous(v.shape, v.strides) ? a.subarray(v.offset, v.offset + n) : null;
  };
  const p = flat(param), m = flat(expAvg), v = flat(expAvgSq);
  if (!p || !m || !v || p.constructor !== m.constructor || p.constructor !== v.constructor) return false;
  const g = dense(grad);
  if (g.data.constructor !== p.constructor) return false;
  const gd = g.data as Float32Array | Float64Array;
  // The SIMD kernel takes whole groups of four; the TypeScript loop (same arithmetic) does the rest.
  const n4 = p instanceof Float32Array ? n & ~3 : 0;
  if (n4 > 0 && !adamF32(p as Float32Array, gd as Float32Array, g.offset, m as Float32Array, v as Float32Array, n4, h)) {
    adamStep(p, gd, g.offset, m, v, n, h);
    return true;
  }
  adamStep(p.subarray(n4), gd, g.offset + n4, m.subarray(n4), v.subarray(n4), n - n4, h);
  return true;
}
