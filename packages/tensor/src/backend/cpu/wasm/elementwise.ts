// Contiguous float32 elementwise, row-reduction, softmax and layer-norm kernels (WebAssembly SIMD, split over threads
// for large inputs). Accelerators only: each entry point returns false, writing nothing, when it cannot run (no
// WebAssembly, no heap room for its operands), and the CPU backend's single TypeScript kernel does the work instead.
import type { AdamStepHyper, View } from '../../../backend.js';
import { numel } from '../../../shape.js';
import { forEachRow } from '../../strided.js';
import { BINARY, UNARY, type SimdBinaryOp, type SimdUnaryOp } from '../../op-table.js';
import { RELU2_BACKWARD_OP } from './emit-elementwise.js';
import { freeOperand, heapAlloc, heapBuffer, heapFree, heapPtr, operand, type Operand } from './heap.js';
import { kernels, type Kernels } from './module.js';
import { runJobs, threadsFor, type Job } from './pool.js';

export type { SimdBinaryOp, SimdUnaryOp };

/** Elements below which elementwise work stays on one thread. */
let PAR_ELEMS = 1 << 17;
export function setElementwiseParallelThreshold(n: number): void {
  PAR_ELEMS = n;
}

function check(name: string, arr: ArrayLike<number>, off: number, n: number): void {
  if (!Number.isInteger(off) || off < 0 || off + n > arr.length) {
    throw new RangeError(`${name}: range [${off}, ${off + n}) outside array of length ${arr.length}`);
  }
}

/** Output placement: the array itself when in the heap, else a temporary copied back by `finish`. */
function outPlace(out: Float32Array | Int32Array, off: number, n: number): Operand | null {
  const p = heapPtr(out);
  if (p >= 0) return { ptr: p + off * 4, temp: -1 };
  const t = heapAlloc(n * 4);
  return t < 0 ? null : { ptr: t, temp: t };
}
function finish(out: Float32Array | Int32Array, off: number, n: number, o: Operand): void {
  if (o.temp < 0 || n === 0) return;
  if (out instanceof Int32Array) out.set(new Int32Array(heapBuffer(), o.ptr, n), off);
  else out.set(new Float32Array(heapBuffer(), o.ptr, n), off);
}

/** Splits `count` units over threads; makes one job per non-empty part. */
function parts(count: number, work: number, align: number): number[] {
  const t = threadsFor(work, PAR_ELEMS);
  const units = Math.ceil(count / align);
  const b = [0];
  for (let i = 1; i < t; i++) b.push(Math.min(count, Math.round((units * i) / t) * align));
  b.push(count);
  return b;
}
function run(K: Kernels, jobs: Job[]): void {
  if (jobs.length === 1) (K[jobs[0]!.fn] as (...a: number[]) => void)(...jobs[0]!.args);
  else if (jobs.length > 1) runJobs(jobs);
}

// ---------------- binary ----------------

/** out = op(a, b) for the op table's SIMD binary ops; b is full, one scalar, or one row repeated. */
export function binaryF32(
  op: SimdBinaryOp, a: Float32Array, aOff: number, b: Float32Array, bOff: number, out: Float32Array, n: number,
  bMode: 'full' | 'scalar' | 'row', rowLen?: number,
): boolean {
  if (!BINARY[op]?.simd) throw new Error(`binaryF32: no SIMD kernel for ${op}`);
  const rl = bMode === 'row' ? (rowLen ?? -1) : 0;
  if (bMode === 'row' && (!Number.isInteger(rl) || rl <= 0 || n % rl !== 0)) {
    if (!(n === 0 && rl === 0)) throw new RangeError(`binaryF32: row mode needs rowLen dividing n (n=${n}, rowLen=${rowLen})`);
  }
  return binaryKernel('binaryF32', op, a, aOff, b, bOff, out, n, bMode, rl);
}

/** relu2's backward out = g * 2 relu(x) over n contiguous float32 elements (emit-elementwise.ts's RELU2_BACKWARD). */
export function relu2BackwardF32(g: Float32Array, gOff: number, x: Float32Array, xOff: number, out: Float32Array, n: number): boolean {
  return binaryKernel('relu2BackwardF32', RELU2_BACKWARD_OP, g, gOff, x, xOff, out, n, 'full', 0);
}

/** Runs the bin_<op> / binrow_<op> kernels, rows split over threads. */
function binaryKernel(
  name: string, op: string, a: Float32Array, aOff: number, b: Float32Array, bOff: number, out: Float32Array, n: number,
  bMode: 'full' | 'scalar' | 'row', rl: number,
): boolean {
  const bn = bMode === 'full' ? n : bMode === 'scalar' ? 1 : rl;
  check(name, a, aOff, n);
  check(name, out, 0, n);
  if (n === 0) return true;
  check(name, b, bOff, bn);
  const K = kernels();
  let A: Operand | null = null, B: Operand | null = null, O: Operand | null = null;
  try {
    if (K) {
      A = operand(a, aOff, n);
      B = operand(b, bOff, bn);
      O = outPlace(out, 0, n);
    }
    if (!K || !A || !B || !O) return false;
    const jobs: Job[] = [];
    if (bMode === 'row') {
      const rows = n / rl;
      const p = parts(rows, n, 1);
      for (let t = 0; t + 1 < p.length; t++) {
        const r0 = p[t]!, r1 = p[t + 1]!;
        if (r1 > r0) jobs.push({ fn: 'binrow_' + op, args: [A.ptr + r0 * rl * 4, B.ptr, O.ptr + r0 * rl * 4, r1 - r0, rl] });
      }
    } else {
      const p = parts(n, n, 64);
      const sc = bMode === 'scalar' ? 1 : 0;
      for (let t = 0; t + 1 < p.length; t++) {
        const i0 = p[t]!, i1 = p[t + 1]!;
        if (i1 > i0) jobs.push({ fn: 'bin_' + op, args: [A.ptr + i0 * 4, B.ptr + (sc ? 0 : i0 * 4), O.ptr + i0 * 4, i1 - i0, sc] });
      }
    }
    run(K, jobs);
    finish(out, 0, n, O);
    return true;
  } finally {
    freeOperand(A);
    freeOperand(B);
    freeOperand(O);
  }
}

// ---------------- unary ----------------

/** out = op(x) for the op table's SIMD unary ops. */
export function unaryF32(op: SimdUnaryOp, x: Float32Array, xOff: number, out: Float32Array, n: number): boolean {
  const k = UNARY[op]?.simd;
  if (!k) throw new Error(`unaryF32: no SIMD kernel for ${op}`);
  check('unaryF32', x, xOff, n);
  check('unaryF32', out, 0, n);
  if (n === 0) return true;
  const K = kernels();
  let X: Operand | null = null, O: Operand | null = null;
  try {
    if (K) {
      X = operand(x, xOff, n);
      O = outPlace(out, 0, n);
    }
    if (!K || !X || !O) return false;
    const p = parts(n, k.lanes === 'f64' ? n * 8 : n, 64);
    const jobs: Job[] = [];
    for (let t = 0; t + 1 < p.length; t++) {
      const i0 = p[t]!, i1 = p[t + 1]!;
      if (i1 > i0) jobs.push({ fn: 'un_' + op, args: [X.ptr + i0 * 4, O.ptr + i0 * 4, i1 - i0] });
    }
    run(K, jobs);
    finish(out, 0, n, O);
    return true;
  } finally {
    freeOperand(X);
    freeOperand(O);
  }
}

// ---------------- rows ----------------

function rowJobs(rows: number, rowLen: number, weight: number, mk: (r0: number, r1: number) => Job): Job[] {
  const p = parts(rows, rows * rowLen * weight, 1);
  const jobs: Job[] = [];
  for (let t = 0; t + 1 < p.length; t++) if (p[t + 1]! > p[t]!) jobs.push(mk(p[t]!, p[t + 1]!));
  return jobs;
}

/**
 * Row-wise max or min (NaN propagates) into float32, or argmax / argmin into int32: the first index of the row's max
 * (min), or of its first NaN, as torch.
 */
export function rowReduceF32(op: 'max' | 'min', x: Float32Array, xOff: number, rows: number, rowLen: number, out: Float32Array): boolean;
export function rowReduceF32(op: 'argmax' | 'argmin', x: Float32Array, xOff: number, rows: number, rowLen: number, out: Int32Array): boolean;
export function rowReduceF32(op: 'max' | 'min' | 'argmax' | 'argmin', x: Float32Array, xOff: number, rows: number, rowLen: number, out: Float32Array | Int32Array): boolean {
  if (op !== 'max' && op !== 'min' && op !== 'argmax' && op !== 'argmin') throw new Error(`rowReduceF32: unknown op ${op}`);
  if ((out instanceof Int32Array) !== op.startsWith('arg')) throw new TypeError(`rowReduceF32: ${op} writes ${op.startsWith('arg') ? 'an Int32Array' : 'a Float32Array'}`);
  if (rowLen === 0 && rows > 0) return false; // no identity: the caller's loop reports it
  check('rowReduceF32', x, xOff, rows * rowLen);
  check('rowReduceF32', out, 0, rows);
  if (rows === 0) return true;
  const K = kernels();
  let X: Operand | null = null, O: Operand | null = null;
  try {
    if (K) {
      X = operand(x, xOff, rows * rowLen);
      O = outPlace(out, 0, rows);
    }
    if (!K || !X || !O) return false;
    const Xp = X.ptr, Op = O.ptr;
    run(K, rowJobs(rows, rowLen, 1, (r0, r1) => ({ fn: 'row_' + op, args: [Xp + r0 * rowLen * 4, Op + r0 * 4, r1 - r0, rowLen] })));
    finish(out, 0, rows, O);
    return true;
  } finally {
    freeOperand(X);
    freeOperand(O);
  }
}

const softTmp: number[] = [];
function tmpFor(t: number): number {
  if (softTmp[t] === undefined) softTmp[t] = heapAlloc(64);
  return softTmp[t]!;
}

export function softmaxRowsF32(x: Float32Array, xOff: number, rows: number, rowLen: number, out: Float32Array, log: boolean): boolean {
  return softmaxKernel('softmaxRowsF32', x, xOff, rows, rowLen, out, log, 1, 0, 0);
}

/**
 * Attention's softmax in place: row i of x becomes softmax(scale * x) over its first min(rowLen, first + i % period)
 * elements, its other elements 0 (a causal mask: row i sees keys 0 .. first - 1 + i % period). scale > 0.
 */
export function softmaxCausalRowsF32(x: Float32Array, rows: number, rowLen: number, scale: number, first: number, period: number): boolean {
  if (!(scale > 0 && Number.isFinite(scale))) throw new RangeError(`softmaxCausalRowsF32: scale must be positive and finite, got ${scale}`);
  if (!Number.isInteger(first) || first < 1 || !Number.isInteger(period) || period < 1) throw new RangeError(`softmaxCausalRowsF32: first and period must be positive integers, got ${first}, ${period}`);
  return softmaxKernel('softmaxCausalRowsF32', x, 0, rows, rowLen, x, false, scale, first, period);
}

function softmaxKernel(name: string, x: Float32Array, xOff: number, rows: number, rowLen: number, out: Float32Array, log: boolean, scale: number, first: number, period: number): boolean {
  const n = rows * rowLen;
  check(name, x, xOff, n);
  check(name, out, 0, n);
  if (n === 0) return true;
  const K = kernels();
  let X: Operand | null = null, O: Operand | null = null;
  try {
    if (K) {
      X = operand(x, xOff, n);
      O = outPlace(out, 0, n);
    }
    if (!K || !X || !O || tmpFor(0) < 0 || tmpFor(1) < 0) return false;
    const Xp = X.ptr, Op = O.ptr;
    let t = 0;
    run(K, rowJobs(rows, rowLen, 8, (r0, r1) => ({
      fn: 'softmax',
      args: [Xp + r0 * rowLen * 4, Op + r0 * rowLen * 4, r1 - r0, rowLen, log ? 1 : 0, tmpFor(t++), scale, first, period, period ? r0 % period : 0],
    })));
    finish(out, 0, n, O);
    return true;
  } finally {
    freeOperand(X);
    freeOperand(O);
  }
}

export function layerNormRowsF32(
  x: Float32Array, xOff: number, rows: number, rowLen: number, weight: Float32Array | null, bias: Float32Array | null,
  eps: number, out: Float32Array, mean?: Float32Array, rstd?: Float32Array,
): boolean {
  const n = rows * rowLen;
  check('layerNormRowsF32', x, xOff, n);
  check('layerNormRowsF32', out, 0, n);
  if (weight) check('layerNormRowsF32', weight, 0, rowLen);
  if (bias) check('layerNormRowsF32', bias, 0, rowLen);
  if (mean) check('layerNormRowsF32', mean, 0, rows);
  if (rstd) check('layerNormRowsF32', rstd, 0, rows);
  if (rows === 0) return true;
  const K = kernels();
  const ops: (Operand | null)[] = [];
  try {
    let X: Operand | null = null, O: Operand | null = null, W: Operand | null = null, B: Operand | null = null;
    let M: Operand | null = null, R: Operand | null = null;
    let ok = !!K && rowLen > 0;
    if (ok) {
      ops.push((X = operand(x, xOff, n)), (O = outPlace(out, 0, n)));
      if (weight) ops.push((W = operand(weight, 0, rowLen)));
      if (bias) ops.push((B = operand(bias, 0, rowLen)));
      if (mean) ops.push((M = outPlace(mean, 0, rows)));
      if (rstd) ops.push((R = outPlace(rstd, 0, rows)));
      ok = ops.every((o) => o !== null);
    }
    if (!ok) return false;
    const Xp = X!.ptr, Op = O!.ptr, Wp = W ? W.ptr : 0, Bp = B ? B.ptr : 0, Mp = M ? M.ptr : 0, Rp = R ? R.ptr : 0;
    run(K!, rowJobs(rows, rowLen, 3, (r0, r1) => ({
      fn: 'layernorm',
      args: [Xp + r0 * rowLen * 4, Op + r0 * rowLen * 4, r1 - r0, rowLen, Wp, Bp, eps, Mp ? Mp + r0 * 4 : 0, Rp ? Rp + r0 * 4 : 0],
    })));
    finish(out, 0, n, O!);
    if (mean && M) finish(mean, 0, rows, M);
    if (rstd && R) finish(rstd, 0, rows, R);
    return true;
  } finally {
    for (const o of ops) freeOperand(o);
  }
}


/**
 * Softmax backward dx = y (g - sum(g y)) over rows of even length (f64 inside, rows split over threads), as
 * kernels/softmax-backward.ts's softmaxBackwardRows. False when it cannot run (odd length, no heap room).
 */
export function softmaxBackwardF32(g: Float32Array, gOff: number, y: Float32Array, yOff: number, rows: number, len: number, dx: Float32Array): boolean {
  const n = rows * len;
  check('softmaxBackwardF32', g, gOff, n);
  check('softmaxBackwardF32', y, yOff, n);
  check('softmaxBackwardF32', dx, 0, n);
  if (len % 2 !== 0) return false;
  if (n === 0) return true;
  const K = kernels();
  if (!K) return false;
  const ops: (Operand | null)[] = [];
  try {
    const G = operand(g, gOff, n), Y = operand(y, yOff, n), O = outPlace(dx, 0, n);
    ops.push(G, Y, O);
    if (!G || !Y || !O) return false;
    run(K, rowJobs(rows, len, 2, (r0, r1) => ({ fn: 'sm_bwd', args: [G.ptr + r0 * len * 4, Y.ptr + r0 * len * 4, r1 - r0, len, O.ptr + r0 * len * 4] })));
    finish(dx, 0, n, O);
    return true;
  } finally {
    for (const o of ops) freeOperand(o);
  }
}

/**
 * Layer-norm backward over `rows` rows of even length `len`, as kernels/layer-norm.ts's layerNormBackwardRows (f64
 * inside): dx (float32, rows x len) and, when given, dw += g xhat and db += g summed over rows. One thread, so the
 * float64 row sums do not depend on the thread count. False when it cannot run (odd len, no heap room).
 */
export function layerNormBackwardF32(
  g: Float32Array, gOff: number, x: Float32Array, xOff: number, mean: Float32Array, mOff: number, rstd: Float32Array, rOff: number,
  w: Float32Array | null, wOff: number, rows: number, len: number, dx: Float32Array, dw: Float64Array | null, db: Float64Array | null,
): boolean {
  const n = rows * len;
  check('layerNormBackwardF32', g, gOff, n);
  check('layerNormBackwardF32', x, xOff, n);
  check('layerNormBackwardF32', mean, mOff, rows);
  check('layerNormBackwardF32', rstd, rOff, rows);
  check('layerNormBackwardF32', dx, 0, n);
  if (w) check('layerNormBackwardF32', w, wOff, len);
  if (len % 2 !== 0) return false;
  if (n === 0) return true;
  const K = kernels();
  if (!K) return false;
  const ops: (Operand | null)[] = [];
  const temps: number[] = [];
  const acc = (a: Float64Array | null): number => {
    if (!a) return 0;
    const t = heapAlloc(len * 8);
    if (t >= 0) {
      temps.push(t);
      new Float64Array(heapBuffer(), t, len).fill(0);
    }
    return t;
  };
  try {
    const G = operand(g, gOff, n), X = operand(x, xOff, n), M = operand(mean, mOff, rows), R = operand(rstd, rOff, rows);
    const Wt = w ? operand(w, wOff, len) : null;
    const O = outPlace(dx, 0, n);
    ops.push(G, X, M, R, Wt, O);
    const DW = acc(dw), DB = acc(db), GW = heapAlloc(len * 8), XH = heapAlloc(len * 8);
    temps.push(GW, XH);
    if (!G || !X || !M || !R || (w && !Wt) || !O || DW < 0 || DB < 0 || GW < 0 || XH < 0) return false;
    (K['ln_bwd'] as (...a: number[]) => void)(G.ptr, X.ptr, M.ptr, R.ptr, Wt ? Wt.ptr : 0, rows, len, O.ptr, DW, DB, GW, XH);
    finish(dx, 0, n, O);
    const addInto = (a: Float64Array | null, t: number) => {
      if (!a) return;
      const v = new Float64Array(heapBuffer(), t, len);
      for (let i = 0; i < len; i++) a[i]! += v[i]!;
    };
    addInto(dw, DW);
    addInto(db, DB);
    return true;
  } finally {
    for (const o of ops) freeOperand(o);
    for (const t of temps) if (t >= 0) heapFree(t);
  }
}

// ---------------- rotary embedding ----------------

/** [first, last] element a strided view touches. */
function viewSpan(v: View): [number, number] {
  let lo = v.offset;
  let hi = v.offset;
  for (let d = 0; d < v.shape.length; d++) {
    const e = v.strides[d]! * (v.shape[d]! - 1);
    if (e < 0) lo += e;
    else hi += e;
  }
  return [lo, hi];
}

/**
 * Rotary embedding (rotate-half) of x on the first cos.shape[-1] channels of its last dim, the rest copied, as
 * kernels/rotary.ts's rotaryRows with float32 rounding: x, cos and sin views of x's leading shape with contiguous last
 * dims (cos and sin laid out alike), out contiguous. False when it cannot run (half the rotary width not a multiple of
 * 4, strided last dims, no heap room).
 */
export function rotaryF32(x: View, cos: View, sin: View, xa: Float32Array, ca: Float32Array, sa: Float32Array, out: Float32Array): boolean {
  const r = x.shape.length - 1;
  const D = x.shape[r];
  const d = cos.shape[r];
  if (D === undefined || d === undefined || d % 8 !== 0 || d === 0 || d > D) return false;
  if (x.strides[r] !== 1 || cos.strides[r] !== 1 || sin.strides[r] !== 1) return false;
  const n = numel(x.shape);
  if (n === 0) return true;
  const rows = r > 0 ? x.shape[r - 1]! : 1;
  const crs = r > 0 ? cos.strides[r - 1]! : 0;
  if (r > 0 && sin.strides[r - 1] !== crs) return false;
  const K = kernels();
  if (!K) return false;
  const spans = [viewSpan(x), viewSpan(cos), viewSpan(sin)];
  const arrays = [xa, ca, sa];
  if (spans.some(([lo, hi], j) => lo < 0 || hi >= arrays[j]!.length)) return false;
  const ops: (Operand | null)[] = [];
  try {
    for (let j = 0; j < 3; j++) ops.push(operand(arrays[j]!, spans[j]![0], spans[j]![1] - spans[j]![0] + 1));
    ops.push(outPlace(out, 0, n));
    if (ops.some((o) => o === null)) return false;
    const [X, C, S, O] = ops as Operand[];
    const lead = r > 0 ? [...x.shape.slice(0, r - 1), 1] : [1];
    const strides = [x, cos, sin].map((v) => (r > 0 ? [...v.strides.slice(0, r - 1), 0] : [0]));
    const rotary = K['rotary'] as (...a: number[]) => void;
    let o = O!.ptr;
    forEachRow(lead, strides, [x.offset, cos.offset, sin.offset], (offs) => {
      const ptr = (j: number) => ops[j]!.ptr + (offs[j]! - spans[j]![0]) * 4;
      rotary(rows, ptr(0), (r > 0 ? x.strides[r - 1]! : 0) * 4, ptr(1), ptr(2), crs * 4, o, d / 2, D);
      o += rows * D * 4;
    });
    finish(out, 0, n, O!);
    return true;
  } finally {
    for (const op of ops) freeOperand(op);
  }
}

// ---------------- optimizer ----------------

/**
 * The fused Adam / AdamW update of n elements (a multiple of 4) in place on p, m, v, reading g: float32 SIMD in torch's
 * operation order (equal to the op-by-op update). False when it cannot run.
 */
export function adamF32(p: Float32Array, g: Float32Array, gOff: number, m: Float32Array, v: Float32Array, n: number, h: AdamStepHyper): boolean {
  if (n % 4 !== 0) throw new RangeError(`adamF32: n must be a multiple of 4, got ${n}`);
  for (const a of [p, m, v]) check('adamF32', a, 0, n);
  check('adamF32', g, gOff, n);
  if (n === 0) return true;
  const K = kernels();
  const ops: (Operand | null)[] = [];
  try {
    let P: Operand | null = null, G: Operand | null = null, M: Operand | null = null, V: Operand | null = null;
    if (K) ops.push((P = operand(p, 0, n)), (G = operand(g, gOff, n)), (M = operand(m, 0, n)), (V = operand(v, 0, n)));
    if (!K || !P || !G || !M || !V) return false;
    const mode = h.weightDecay === 0 ? 0 : h.decoupled ? 1 : 2;
    const scalars = [
      h.maximize ? -1 : 1, h.beta1, h.beta2, 1 - h.beta1, 1 - h.beta2, 1 - h.lr * h.weightDecay, h.weightDecay,
      Math.sqrt(h.biasCorrection2), h.eps, h.lr / h.biasCorrection1,
    ];
    const pp = parts(n, n * 4, 4);
    const jobs: Job[] = [];
    for (let t = 0; t + 1 < pp.length; t++) {
      const i0 = pp[t]!, i1 = pp[t + 1]!;
      if (i1 > i0) jobs.push({ fn: 'adam', args: [P.ptr + i0 * 4, G.ptr + i0 * 4, M.ptr + i0 * 4, V.ptr + i0 * 4, i1 - i0, mode, ...scalars] });
    }
    run(K, jobs);
    finish(p, 0, n, P);
    finish(m, 0, n, M);
    finish(v, 0, n, V);
    return true;
  } finally {
    for (const o of ops) freeOperand(o);
  }
}

// ---------------- cross entropy ----------------

/** out[r] = logsumexp of row r (rows of rowLen from x[xOff]), in f64 inside. */
export function rowLogSumExpF32(x: Float32Array, xOff: number, rows: number, rowLen: number, out: Float32Array): boolean {
  check('rowLogSumExpF32', x, xOff, rows * rowLen);
  check('rowLogSumExpF32', out, 0, rows);
  if (rows === 0) return true;
  const K = kernels();
  let X: Operand | null = null, O: Operand | null = null;
  try {
    if (K && rowLen > 0) {
      X = operand(x, xOff, rows * rowLen);
      O = outPlace(out, 0, rows);
    }
    if (!K || !X || !O || tmpFor(0) < 0 || tmpFor(1) < 0) return false;
    const Xp = X.ptr, Op = O.ptr;
    let t = 0;
    run(K, rowJobs(rows, rowLen, 8, (r0, r1) => ({ fn: 'row_lse', args: [Xp + r0 * rowLen * 4, Op + r0 * 4, r1 - r0, rowLen, tmpFor(t++)] })));
    finish(out, 0, rows, O);
    return true;
  } finally {
    freeOperand(X);
    freeOperand(O);
  }
}

/** out = exp(x - lse[r]) * scale[r] over rows of rowLen (softmax times a per-row scale), in f64 inside. */
export function crossEntropyGradF32(x: Float32Array, xOff: number, rows: number, rowLen: number, lse: Float32Array, scale: Float32Array, out: Float32Array): boolean {
  const n = rows * rowLen;
  check('crossEntropyGradF32', x, xOff, n);
  check('crossEntropyGradF32', out, 0, n);
  check('crossEntropyGradF32', lse, 0, rows);
  check('crossEntropyGradF32', scale, 0, rows);
  if (n === 0) return true;
  const K = kernels();
  const ops: (Operand | null)[] = [];
  try {
    let X: Operand | null = null, O: Operand | null = null, L: Operand | null = null, S: Operand | null = null;
    if (K) ops.push((X = operand(x, xOff, n)), (O = outPlace(out, 0, n)), (L = operand(lse, 0, rows)), (S = operand(scale, 0, rows)));
    if (!K || !X || !O || !L || !S) return false;
    const Xp = X.ptr, Op = O.ptr, Lp = L.ptr, Sp = S.ptr;
    run(K, rowJobs(rows, rowLen, 8, (r0, r1) => ({ fn: 'ce_grad', args: [Xp + r0 * rowLen * 4, Op + r0 * rowLen * 4, r1 - r0, rowLen, Lp + r0 * 4, Sp + r0 * 4] })));
    finish(out, 0, n, O!);
    return true;
  } finally {
    for (const o of ops) freeOperand(o);
  }
}
