// The CPU backend object: each kernel tries its WebAssembly accelerator (when on and able to run) and otherwise runs
// the single TypeScript kernel in ./kernels/. `setWasmAccelerators(false)` turns every accelerator off (tests use it
// to run the TypeScript kernels on their own).
import type { AdamStepHyper, Backend, BinaryOp, ReduceOp, Storage, UnaryOp, View } from '../../backend.js';
import { elementCount, type DType, type TypedArray } from '../../dtype.js';
import { isContiguous, numel } from '../../shape.js';
import { BINARY, UNARY, type SimdBinaryOp, type SimdUnaryOp } from '../op-table.js';
import { arr, cpuAlloc, cpuLive, onHeap } from './storage.js';
import { collapse } from '../strided.js';
import { matmulCpu } from './matmul.js';
import { binaryLoop, unaryLoop, whereLoop } from './loops.js';
import { arange } from './kernels/arange.js';
import { decodeAttentionRows } from './kernels/attention.js';
import { copy, dense, write } from './kernels/copy.js';
import { gather, scatterAdd } from './kernels/gather.js';
import { layerNormBackwardRows, layerNormRows } from './kernels/layer-norm.js';
import { adamStep } from './kernels/adam.js';
import { logSumExpRows, nllRows, softmaxScaledRows, subtractOneHot } from './kernels/cross-entropy.js';
import { reduceRows } from './kernels/reduce.js';
import { rotaryRows } from './kernels/rotary.js';
import { cumsum } from './kernels/scan.js';
import { softmaxRows } from './kernels/softmax.js';
import { softmaxBackwardRows } from './kernels/softmax-backward.js';
import { sort } from './kernels/sort.js';
import { adamF32, binaryF32, crossEntropyGradF32, disableWasm, heapStats, layerNormRowsF32, matmulF32, rowLogSumExpF32, rowReduceF32, softmaxRowsF32, unaryF32, wasmKernels } from './wasm/index.js';

declare module '../../backend.js' {
  interface DeviceNames {
    cpu: true;
  }
}

/** Turns the WebAssembly accelerators on or off (on by default where WebAssembly SIMD exists). */
export function setWasmAccelerators(enabled: boolean): void {
  disableWasm(!enabled);
}

/** Whether the WebAssembly accelerators are on and available here. */
export function wasmAccelerators(): boolean {
  return wasmKernels() !== null;
}

function unary(op: UnaryOp, x: View, outDtype: DType): Storage {
  const out = cpuAlloc(outDtype, numel(x.shape));
  const src = arr(x.storage);
  const { shape, strides } = collapse(x.shape, [x.strides]);
  const simd = UNARY[op].simd;
  // Transcendental ops are compute-bound, so the SIMD kernel wins even when it must copy the operand in and out.
  if (simd && src instanceof Float32Array && (onHeap(src) || simd.transcendental) && out.data instanceof Float32Array && shape.length === 1 && (strides[0]![0] === 1 || shape[0] === 1)) {
    if (unaryF32(op as SimdUnaryOp, src, x.offset, out.data, shape[0]!)) return out;
  }
  unaryLoop(op, out.data, src)(out.data, [src], shape, strides, [x.offset], UNARY[op].ref);
  return out;
}

function binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
  const out = cpuAlloc(outDtype, numel(a.shape));
  const A = arr(a.storage);
  const B = arr(b.storage);
  const { shape, strides } = collapse(a.shape, [a.strides, b.strides]);
  const k = BINARY[op].simd;
  // The SIMD loops pay off only when the inputs are already on the heap; copying them in costs what the loop saves.
  if (k && A instanceof Float32Array && B instanceof Float32Array && onHeap(A) && onHeap(B) && out.data instanceof Float32Array) {
    const simd = (p: Float32Array, po: number, ps: readonly number[], q: Float32Array, qo: number, qs: readonly number[]): boolean => {
      const n = numel(shape);
      if (shape.length === 1 && (ps[0] === 1 || n === 1)) {
        if (qs[0] === 1 || n === 1) return binaryF32(op as SimdBinaryOp, p, po, q, qo, out.data as Float32Array, n, 'full');
        if (qs[0] === 0) return binaryF32(op as SimdBinaryOp, p, po, q, qo, out.data as Float32Array, n, 'scalar');
      }
      if (shape.length === 2 && ps[0] === shape[1] && ps[1] === 1 && qs[0] === 0 && qs[1] === 1) {
        return binaryF32(op as SimdBinaryOp, p, po, q, qo, out.data as Float32Array, n, 'row', shape[1]);
      }
      return false;
    };
    if (simd(A, a.offset, strides[0]!, B, b.offset, strides[1]!)) return out;
    if (k.commutative && simd(B, b.offset, strides[1]!, A, a.offset, strides[0]!)) return out;
  }
  binaryLoop(op, out.data, A, B)(out.data, [A, B], shape, strides, [a.offset, b.offset], BINARY[op].ref);
  return out;
}

function where(cond: View, a: View, b: View, dtype: DType): Storage {
  const out = cpuAlloc(dtype, numel(a.shape));
  const ins = [arr(cond.storage), arr(a.storage), arr(b.storage)];
  const { shape, strides } = collapse(a.shape, [cond.strides, a.strides, b.strides]);
  whereLoop(out.data, ins[0]!, ins[1]!, ins[2]!)(out.data, ins, shape, strides, [cond.offset, a.offset, b.offset], () => 0);
  return out;
}

function reduce(op: ReduceOp, x: View, reduceDims: number, outDtype: DType): Storage {
  const rows = numel(x.shape.slice(0, x.shape.length - reduceDims));
  const len = numel(x.shape.slice(x.shape.length - reduceDims));
  const out = cpuAlloc(outDtype, rows);
  const o = out.data;
  const { data, offset } = dense(x);
  const simd = (op === 'max' || op === 'min') && len > 0 && rows > 0 && data instanceof Float32Array && onHeap(data) && o instanceof Float32Array;
  if (!(simd && rowReduceF32(op, data, offset, rows, len, o))) {
    reduceRows(op, data, offset, rows, len, o);
  }
  return out;
}

function softmax(x: View, log: boolean, dtype: DType): Storage {
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

function layerNorm(x: View, normDims: number, weight: View | null, bias: View | null, eps: number, dtype: DType): { y: Storage; mean: Storage; rstd: Storage } {
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

function decodeAttention(q: View, k: View, v: View, scale: number, dtype: DType): Storage {
  const [B, Hq, , E] = q.shape as [number, number, number, number];
  const out = cpuAlloc(dtype, B * Hq * E);
  const [Q, K, V] = [arr(q.storage), arr(k.storage), arr(v.storage)];
  if (!(Q instanceof Float32Array && K instanceof Float32Array && V instanceof Float32Array && decodeAttentionGemv(q, k, v, scale, Q, K, V, out.data as Float32Array))) {
    decodeAttentionRows(q, k, v, scale, out.data, Q, K, V);
  }
  return out;
}

/**
 * The SIMD route of decodeAttention: per batch row, one batched product over the key/value heads for the scores of
 * each head's group of queries (q [G, E] against the head's keys as read in place: grouped heads share them, no
 * repeat), the softmax rows, and one batched product with the values. False when the kernels cannot run.
 */
function decodeAttentionGemv(q: View, k: View, v: View, scale: number, Q: Float32Array, K: Float32Array, V: Float32Array, out: Float32Array): boolean {
  const [B, Hq, , E] = q.shape as [number, number, number, number];
  const [, Hk, S] = k.shape as [number, number, number, number];
  const G = Hq / Hk;
  const [qB, qH, , qE] = q.strides as [number, number, number, number];
  const [kB, kH, kS, kE] = k.strides as [number, number, number, number];
  const [vB, vH, vS, vE] = v.strides as [number, number, number, number];
  const scores = new Float32Array(Hk * G * S);
  for (let b = 0; b < B; b++) {
    const ok = matmulF32({
      batch: Hk, m: G, n: S, k: E,
      a: Q, aOffset: q.offset + b * qB, aBatchStride: G * qH, aRowStride: qH, aColStride: qE,
      b: K, bOffset: k.offset + b * kB, bBatchStride: kH, bRowStride: kE, bColStride: kS, out: scores,
    });
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
    const done = matmulF32({
      batch: Hk, m: G, n: E, k: S,
      a: scores, aOffset: 0, aBatchStride: G * S, aRowStride: S, aColStride: 1,
      b: V, bOffset: v.offset + b * vB, bBatchStride: vH, bRowStride: vS, bColStride: vE, out: B === 1 ? out : out.subarray(b * Hq * E),
    });
    if (!done) return false;
  }
  return true;
}

function rotaryEmbedding(x: View, cos: View, sin: View, dtype: DType): Storage {
  const out = cpuAlloc(dtype, numel(x.shape));
  rotaryRows(x, cos, sin, arr(x.storage), arr(cos.storage), arr(sin.storage), out.data, dtype === 'float32');
  return out;
}

function softmaxBackward(g: View, y: View, log: boolean, dtype: DType): Storage {
  const n = numel(y.shape);
  const len = y.shape[y.shape.length - 1] ?? 1;
  const rows = len === 0 ? 0 : n / len;
  const out = cpuAlloc(dtype, n);
  softmaxBackwardRows(dense(g), dense(y), rows, len, log, out.data);
  return out;
}

function layerNormBackward(g: View, x: View, mean: View, rstd: View, weight: View | null, normDims: number, needWeight: boolean, needBias: boolean, dtype: DType): { dx: Storage; dweight: Storage | null; dbias: Storage | null } {
  const n = numel(x.shape);
  const len = numel(x.shape.slice(x.shape.length - normDims));
  const rows = len === 0 ? 0 : n / len;
  const dx = cpuAlloc(dtype, n);
  const dw = needWeight ? new Float64Array(len) : null;
  const db = needBias ? new Float64Array(len) : null;
  layerNormBackwardRows(dense(g), dense(x), dense(mean), dense(rstd), weight ? dense(weight) : null, rows, len, dx.data, dw, db);
  const rowSums = (a: Float64Array | null) => {
    if (!a) return null;
    const s = cpuAlloc(dtype, len);
    s.data.set(a);
    return s;
  };
  return { dx, dweight: rowSums(dw), dbias: rowSums(db) };
}

function crossEntropyForward(logits: View, target: View, dtype: DType): { nll: Storage; lse: Storage } {
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

function crossEntropyBackward(logits: View, lse: View, target: View, scale: View, dtype: DType): Storage {
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

function adamStepCpu(param: View, grad: View, expAvg: View, expAvgSq: View, h: AdamStepHyper): boolean {
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

/** The CPU backend. */
export const cpuBackend: Backend = {
  device: 'cpu',
  zeros: (dtype, n) => cpuAlloc(dtype, n),
  upload: (dtype, data) => {
    const s = cpuAlloc(dtype, elementCount(dtype, data.length));
    s.data.set(data);
    return s;
  },
  pin: (s) => {
    const a = arr(s);
    if (onHeap(a)) return s;
    // The heap places it in one of its memories, keeping room in each for kernel scratch (wasm/heap.ts).
    const p = cpuAlloc(s.dtype, s.length, true);
    if (!onHeap(p.data)) {
      p.dispose(); // a dtype the heap does not hold (float64, bool): counted in memory() until collected otherwise
      return null;
    }
    p.data.set(a);
    return p;
  },
  read: async (s) => arr(s).slice(),
  readSync: (s) => arr(s),
  write,
  copy,
  unary,
  binary,
  where,
  reduce,
  matmul: matmulCpu,
  gather,
  scatterAdd,
  cumsum,
  sort,
  softmax,
  layerNorm,
  decodeAttention,
  rotaryEmbedding,
  softmaxBackward,
  layerNormBackward,
  crossEntropyForward,
  crossEntropyBackward,
  adamStep: adamStepCpu,
  arange,
  memory: () => {
    const { storages, bytes } = cpuLive();
    return { numTensors: storages, numBytes: bytes, pooledBuffers: 0, pooledBytes: 0, kernelBytes: heapStats().liveBytes, pipelines: 0 };
  },
};
