// The CPU backend: every kernel in plain TypeScript over strided typed arrays.
import type { Backend, BinaryOp, ReduceOp, Storage, UnaryOp, View } from '../../backend.js';
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16, type DType, type TypedArray } from '../../dtype.js';
import { contiguousStrides, isContiguous, numel } from '../../shape.js';
import { BINARY, UNARY, type SimdBinaryOp, type SimdUnaryOp } from '../op-table.js';
import { arr, cpuAlloc, CpuStorage, onHeap } from './storage.js';
import { collapse, forEachIndex, forEachRow } from './strided.js';
import { matmulCpu } from './matmul.js';
import { binaryLoop, copyLoop, unaryLoop, whereLoop } from './loops.js';
import { binaryF32, heapStats, layerNormRowsF32, rowReduceF32, softmaxRowsF32, unaryF32 } from './wasm/index.js';

/** A contiguous typed array with the view's values (the view's own storage when already dense). */
export function dense(x: View): { data: TypedArray; offset: number } {
  if (isContiguous(x.shape, x.strides)) return { data: arr(x.storage), offset: x.offset };
  return { data: arr(copy(x, x.storage.dtype)), offset: 0 };
}

function copy(x: View, dtype: DType): Storage {
  const n = numel(x.shape);
  const out = cpuAlloc(dtype, n);
  const src = arr(x.storage);
  const from = x.storage.dtype;
  if (from === dtype && isContiguous(x.shape, x.strides)) {
    out.data.set(src.subarray(x.offset, x.offset + n));
    return out;
  }
  const { shape, strides } = collapse(x.shape, [x.strides]);
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

function write(dst: View, src: View): void {
  const D = arr(dst.storage);
  const S = arr(src.storage);
  const { shape, strides } = collapse(dst.shape, [dst.strides, src.strides]);
  const r = shape.length - 1;
  const sd = strides[0]![r]!;
  const ss = strides[1]![r]!;
  forEachRow(shape, strides, [dst.offset, src.offset], (offs, len) => {
    let p = offs[0]!;
    let q = offs[1]!;
    for (let i = 0; i < len; i++, p += sd, q += ss) D[p] = S[q]!;
  });
}

/** Bytes of pinned (resident) tensors allowed on the wasm heap. */
const RESIDENT_LIMIT = 3 * 2 ** 30;

function unary(op: UnaryOp, x: View, outDtype: DType): Storage {
  const out = cpuAlloc(outDtype, numel(x.shape));
  const src = arr(x.storage);
  const { shape, strides } = collapse(x.shape, [x.strides]);
  const simd = UNARY[op].simd;
  // Transcendental ops are compute-bound, so the SIMD kernel wins even when it must copy the operand in and out.
  if (simd && src instanceof Float32Array && (onHeap(src) || simd.transcendental) && out.data instanceof Float32Array && shape.length === 1 && (strides[0]![0] === 1 || shape[0] === 1)) {
    unaryF32(op as SimdUnaryOp, src, x.offset, out.data, shape[0]!);
    return out;
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
        if (qs[0] === 1 || n === 1) return binaryF32(op as SimdBinaryOp, p, po, q, qo, out.data as Float32Array, n, 'full'), true;
        if (qs[0] === 0) return binaryF32(op as SimdBinaryOp, p, po, q, qo, out.data as Float32Array, n, 'scalar'), true;
      }
      if (shape.length === 2 && ps[0] === shape[1] && ps[1] === 1 && qs[0] === 0 && qs[1] === 1) {
        return binaryF32(op as SimdBinaryOp, p, po, q, qo, out.data as Float32Array, n, 'row', shape[1]), true;
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
  const lead = x.shape.slice(0, x.shape.length - reduceDims);
  const rows = numel(lead);
  const len = numel(x.shape.slice(x.shape.length - reduceDims));
  const out = cpuAlloc(outDtype, rows);
  const o = out.data;
  const { data, offset } = dense(x);
  if ((op === 'max' || op === 'min') && len > 0 && rows > 0 && data instanceof Float32Array && onHeap(data) && o instanceof Float32Array) {
    rowReduceF32(op, data, offset, rows, len, o);
    return out;
  }
  for (let r = 0; r < rows; r++) {
    const base = offset + r * len;
    let acc: number;
    switch (op) {
      case 'sum': {
        // float64 accumulation: exact enough that float32 results are correctly rounded in practice
        acc = 0;
        for (let i = 0; i < len; i++) acc += data[base + i]!;
        break;
      }
      case 'prod':
        acc = 1;
        for (let i = 0; i < len; i++) acc *= data[base + i]!;
        break;
      case 'max': case 'min': {
        if (len === 0) throw new Error(`${op}: cannot reduce over an empty dimension (no identity)`);
        acc = data[base]!;
        for (let i = 1; i < len && !Number.isNaN(acc); i++) {
          const v = data[base + i]!;
          if (Number.isNaN(v) || (op === 'max' ? v > acc : v < acc)) acc = v;
        }
        break;
      }
      case 'argmax': case 'argmin': {
        if (len === 0) throw new Error(`${op}: cannot reduce over an empty dimension`);
        let best = data[base]!;
        acc = 0;
        for (let i = 1; i < len && !Number.isNaN(best); i++) {
          const v = data[base + i]!;
          if (Number.isNaN(v) || (op === 'argmax' ? v > best : v < best)) {
            best = v;
            acc = i;
          }
        }
        break;
      }
      case 'any':
        acc = 0;
        for (let i = 0; i < len; i++) if (data[base + i] !== 0) { acc = 1; break; }
        break;
      case 'all':
        acc = 1;
        for (let i = 0; i < len; i++) if (data[base + i] === 0) { acc = 0; break; }
        break;
    }
    o[r] = acc;
  }
  return out;
}

/** Maps a multi-index to a storage offset. */
function at(v: View, idx: readonly number[]): number {
  let p = v.offset;
  for (let d = 0; d < idx.length; d++) p += idx[d]! * v.strides[d]!;
  return p;
}

function checkIndex(op: string, i: number, size: number): void {
  // negative indices are errors, as in torch's gather/scatter_add/index_select/embedding
  if (!(i >= 0 && i < size)) throw new Error(`${op}: index ${i} is out of bounds for dimension with size ${size}`);
}

function gather(x: View, dim: number, index: View, dtype: DType): Storage {
  const out = cpuAlloc(dtype, numel(index.shape));
  const o = out.data;
  const X = arr(x.storage);
  const I = arr(index.storage);
  const size = x.shape[dim] ?? 1; // a 0-d tensor has one position along dim 0
  forEachIndex(index.shape, (idx, k) => {
    const j = I[at(index, idx)]!;
    checkIndex('gather', j, size);
    let p = x.offset;
    for (let d = 0; d < idx.length; d++) p += (d === dim ? j : idx[d]!) * x.strides[d]!;
    o[k] = X[p]!;
  });
  return out;
}

function scatterAdd(x: View, dim: number, index: View, src: View, dtype: DType): Storage {
  const out = copy(x, dtype) as CpuStorage;
  const o = out.data;
  const strides = contiguousStrides(x.shape);
  const I = arr(index.storage);
  const S = arr(src.storage);
  const size = x.shape[dim] ?? 1;
  forEachIndex(index.shape, (idx) => {
    const j = I[at(index, idx)]!;
    checkIndex('scatterAdd', j, size);
    let p = 0;
    for (let d = 0; d < idx.length; d++) p += (d === dim ? j : idx[d]!) * strides[d]!;
    o[p] = o[p]! + S[at(src, idx)]!;
  });
  return out;
}

function cumsum(x: View, dtype: DType): Storage {
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const out = cpuAlloc(dtype, n);
  const o = out.data;
  const { data, offset } = dense(x);
  for (let base = 0; base < n; base += len) {
    let acc = 0;
    for (let i = 0; i < len; i++) o[base + i] = acc += data[offset + base + i]!;
  }
  return out;
}

function sort(x: View, descending: boolean, dtype: DType): { values: Storage; indices: Storage } {
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const values = cpuAlloc(dtype, n);
  const indices = cpuAlloc('int32', n);
  const { data, offset } = dense(x);
  const order = new Array<number>(len);
  // torch puts NaN after every number in ascending order and before in descending order.
  const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
  for (let base = 0; base < n; base += len) {
    for (let i = 0; i < len; i++) order[i] = i;
    order.sort((i, j) => {
      const a = data[offset + base + i]!;
      const b = data[offset + base + j]!;
      const d = descending ? key(b) - key(a) : key(a) - key(b);
      if (d !== 0 && !Number.isNaN(d)) return d;
      const na = Number.isNaN(a) ? 1 : 0;
      const nb = Number.isNaN(b) ? 1 : 0;
      return (descending ? nb - na : na - nb) || i - j;
    });
    for (let i = 0; i < len; i++) {
      values.data[base + i] = data[offset + base + order[i]!]!;
      indices.data[base + i] = order[i]!;
    }
  }
  return { values, indices };
}

function softmax(x: View, log: boolean, dtype: DType): Storage {
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const out = cpuAlloc(dtype, n);
  const o = out.data;
  const { data, offset } = dense(x);
  if (data instanceof Float32Array && o instanceof Float32Array && len > 0 && n > 0) {
    softmaxRowsF32(data, offset, n / len, len, o, log);
    return out;
  }
  const row = new Float64Array(len); // exp values kept in float64 so the output is rounded once
  for (let base = 0; base < n; base += len) {
    let m = -Infinity;
    for (let i = 0; i < len; i++) m = Math.max(m, data[offset + base + i]!);
    if (m === -Infinity) m = 0; // a row of -inf gives NaN in torch too (0/0); keep the arithmetic identical
    let s = 0;
    for (let i = 0; i < len; i++) {
      const e = Math.exp(data[offset + base + i]! - m);
      s += e;
      row[i] = e;
    }
    if (log) {
      const ls = Math.log(s);
      for (let i = 0; i < len; i++) o[base + i] = data[offset + base + i]! - m - ls;
    } else {
      const inv = 1 / s;
      for (let i = 0; i < len; i++) o[base + i] = row[i]! * inv;
    }
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
  const { data, offset } = dense(x);
  const w = weight ? dense(weight) : null;
  const b = bias ? dense(bias) : null;
  const f32 = (a: { data: TypedArray } | null) => a === null || a.data instanceof Float32Array;
  if (data instanceof Float32Array && y.data instanceof Float32Array && f32(w) && f32(b) && len > 0 && rows > 0) {
    const wv = w ? (w.data as Float32Array).subarray(w.offset, w.offset + len) : null;
    const bv = b ? (b.data as Float32Array).subarray(b.offset, b.offset + len) : null;
    layerNormRowsF32(data, offset, rows, len, wv, bv, eps, y.data, mean.data as Float32Array, rstd.data as Float32Array);
    return { y, mean, rstd };
  }
  for (let r = 0; r < rows; r++) {
    const base = offset + r * len;
    let s = 0;
    for (let i = 0; i < len; i++) s += data[base + i]!;
    const mu = s / len;
    let v = 0;
    for (let i = 0; i < len; i++) {
      const d = data[base + i]! - mu;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / len + eps);
    mean.data[r] = mu;
    rstd.data[r] = rs;
    for (let i = 0; i < len; i++) {
      let z = (data[base + i]! - mu) * rs;
      if (w) z *= w.data[w.offset + i]!;
      if (b) z += b.data[b.offset + i]!;
      y.data[r * len + i] = z;
    }
  }
  return { y, mean, rstd };
}

function arange(start: number, step: number, length: number, dtype: DType): Storage {
  const out = cpuAlloc(dtype, length);
  for (let i = 0; i < length; i++) out.data[i] = start + i * step;
  return out;
}

/** The CPU backend. */
export const cpuBackend: Backend = {
  device: 'cpu',
  zeros: (dtype, n) => cpuAlloc(dtype, n),
  upload: (dtype, data) => {
    const s = cpuAlloc(dtype, data.length);
    s.data.set(data);
    return s;
  },
  pin: (s) => {
    const a = arr(s);
    if (onHeap(a)) return s;
    // Keep the last GiB of the 4 GiB heap for kernel scratch (packing panels, copies of operands that live outside):
    // weights beyond that stay ordinary arrays and are copied in per call, slower but never out of memory.
    if (heapStats().liveBytes + a.byteLength > RESIDENT_LIMIT) return null;
    const p = cpuAlloc(s.dtype, a.length, true);
    if (!onHeap(p.data)) return null;
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
  arange,
};
