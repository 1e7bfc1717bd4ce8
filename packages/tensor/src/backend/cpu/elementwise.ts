// CPU elementwise, where and reduction kernels: the SIMD loop when its layout fits and the operands are on the heap,
// otherwise the strided TypeScript loops.
import type { BinaryOp, ReduceOp, Storage, UnaryOp, View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { numel } from '../../shape.js';
import { BINARY, UNARY, type SimdBinaryOp, type SimdUnaryOp } from '../op-table.js';
import { collapse, forEachRow } from '../strided.js';
import { dense } from './kernels/copy.js';
import { reduceRows } from './kernels/reduce.js';
import { binaryLoop, unaryLoop, whereLoop } from './loops.js';
import { arr, cpuAlloc, onHeap } from './storage.js';
import { binaryF32, rowReduceF32, unaryF32 } from './wasm/index.js';

/** Elements from which a cheap op takes the SIMD kernel even when its operands must be copied onto the heap. */
const SIMD_COPY_MIN = 16384;
/** Innermost-row length from which a broadcast the SIMD layouts do not cover (a [b, 1, s, s] mask over heads) runs row by row. */
const SIMD_ROW_MIN = 4096;

/** Elementwise unary op into a new contiguous storage. */
export function unary(op: UnaryOp, x: View, outDtype: DType): Storage {
  const out = cpuAlloc(outDtype, numel(x.shape));
  const src = arr(x.storage);
  const { shape, strides } = collapse(x.shape, [x.strides]);
  const simd = UNARY[op].simd;
  // Transcendental ops are compute-bound, so the SIMD kernel wins even when it must copy the operand in and out; so
  // does any op on a large operand (relu over a 128 x 1024 activation: 2.3 ms in the loop here, 0.4 ms copied in).
  if (simd && src instanceof Float32Array && (onHeap(src) || simd.transcendental || numel(x.shape) >= SIMD_COPY_MIN) && out.data instanceof Float32Array && shape.length === 1 && (strides[0]![0] === 1 || shape[0] === 1)) {
    if (unaryF32(op as SimdUnaryOp, src, x.offset, out.data, shape[0]!)) return out;
  }
  unaryLoop(op, out.data, src)(out.data, [src], shape, strides, [x.offset], UNARY[op].ref);
  return out;
}

/** Elementwise binary op (operands already broadcast to one shape) into a new contiguous storage. */
export function binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
  const out = cpuAlloc(outDtype, numel(a.shape));
  const A = arr(a.storage);
  const B = arr(b.storage);
  const { shape, strides } = collapse(a.shape, [a.strides, b.strides]);
  const k = BINARY[op].simd;
  // The SIMD loops pay off only when the inputs are already on the heap, or are large: copying a small operand in
  // costs what the loop saves, while over a 4 x 128 x 128 attention score the strided loop costs several times the copy.
  if (k && A instanceof Float32Array && B instanceof Float32Array && ((onHeap(A) && onHeap(B)) || numel(a.shape) >= SIMD_COPY_MIN) && out.data instanceof Float32Array) {
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
    if (shape.length > 1 && shape[shape.length - 1]! >= SIMD_ROW_MIN && strides[0]!.at(-1) === 1 && strides[1]!.at(-1) === 1) {
      const o = out.data;
      let ok = true, at = 0;
      forEachRow(shape, strides, [a.offset, b.offset], (offs, len) => {
        ok &&= binaryF32(op as SimdBinaryOp, A, offs[0]!, B, offs[1]!, o.subarray(at, at + len), len, 'full');
        at += len;
      });
      if (ok) return out;
    }
  }
  binaryLoop(op, out.data, A, B)(out.data, [A, B], shape, strides, [a.offset, b.offset], BINARY[op].ref);
  return out;
}

/** cond ? a : b elementwise into a new contiguous storage. */
export function where(cond: View, a: View, b: View, dtype: DType): Storage {
  const out = cpuAlloc(dtype, numel(a.shape));
  const ins = [arr(cond.storage), arr(a.storage), arr(b.storage)];
  const { shape, strides } = collapse(a.shape, [cond.strides, a.strides, b.strides]);
  whereLoop(out.data, ins[0]!, ins[1]!, ins[2]!)(out.data, ins, shape, strides, [cond.offset, a.offset, b.offset], () => 0);
  return out;
}

/** Reduction over the trailing `reduceDims` dimensions. */
export function reduce(op: ReduceOp, x: View, reduceDims: number, outDtype: DType): Storage {
  const rows = numel(x.shape.slice(0, x.shape.length - reduceDims));
  const len = numel(x.shape.slice(x.shape.length - reduceDims));
  const out = cpuAlloc(outDtype, rows);
  const o = out.data;
  const { data, offset } = dense(x);
  // argmax / argmin copy the rows in when they are elsewhere: the SIMD scan still beats the TypeScript loop's compare
  // and NaN test per element (greedy decoding's last op; argmax over 256,000 logits 757 -> 212 us, 8,000: 51 -> 22)
  const simd = len > 0 && rows > 0 && data instanceof Float32Array && (
    ((op === 'max' || op === 'min') && onHeap(data) && o instanceof Float32Array && rowReduceF32(op, data, offset, rows, len, o)) ||
    ((op === 'argmax' || op === 'argmin') && o instanceof Int32Array && rowReduceF32(op, data, offset, rows, len, o)));
  if (!simd) {
    reduceRows(op, data, offset, rows, len, o);
  }
  return out;
}
