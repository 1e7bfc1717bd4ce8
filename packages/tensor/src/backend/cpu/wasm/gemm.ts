// f32 matmul on the WebAssembly SIMD kernels: packing + MR x NR register-tiled microkernel (DEFAULT_GEMM) for general
// shapes, streaming GEMV for m == 1, split over threads by columns (or by batch) deterministically.
// The same driver runs f32 A times 16-bit B (bfloat16 / float16 bits), decoded inside the kernels; matmulF32xQ runs
// f32 A times q8_0 / q4_0 weight blocks.
// A product runs on the heap memory that holds its weight B (memory 0 when B is an ordinary array), with the kernel
// instance bound to that memory; A and the output are copied into and out of that memory when they live elsewhere
// (they are small next to a weight: one row per token when decoding).
// An accelerator only: each entry point returns false when it cannot run, and the caller runs the TypeScript matmul.
import type { MatmulArgs, MatmulArgs16, MatmulArgsQ, StridedMatmul } from '../kernels/matmul.js';
import { DEFAULT_GEMM } from './emit-gemm.js';
import { QGEMM, QGEMM_A_BLOCK, QGEMM_B_BLOCK } from './emit-gemmq.js';
import { freeOperand, getHeap, heapAlloc, heapBuffer, heapFree, heapPtr, memoryOf, type Operand } from './heap.js';
import { kernels } from './module.js';
import { getNumThreads, MAX_JOBS, runJobs, setNumThreads, threadsFor, type Job } from './pool.js';

export { getNumThreads, setNumThreads };
export type { MatmulArgs, MatmulArgs16, MatmulArgsQ };

const { MR, NR, KC, MC, NC } = DEFAULT_GEMM;
/** Work (multiply-adds) below which a matmul stays on one thread. */
export let PARALLEL_MIN_WORK = 1 << 22;
export function setParallelThreshold(work: number): void {
  PARALLEL_MIN_WORK = work;
}
/**
 * A matrix-vector product reads each weight once (memory-bound, no reuse), so a second thread pays at a 16th of a
 * GEMM's work: 262,144 multiply-adds. Heap-resident float32 W, same process, 1 against 2 threads per call: 256x256
 * 6.5 against 12.5 µs (the hand-off costs more than half the product), 1024x256 19.1 against 17.0, 8000x256 133
 * against 85 (a 64th, the earlier scale, split the 256x256 ones too). Against the GEMM threshold (a scale of 1), the
 * small Nemotron config decoded 1.35x to 1.5x faster.
 */
const GEMV_WORK_SCALE = 16;
/**
 * Jobs per thread a matrix-vector product is cut into: threads take them as they come (pool.ts), so a worker that
 * wakes late or is descheduled leaves its share to the others instead of holding the call up.
 */
const GEMV_JOBS_PER_THREAD = 4;
/** Rows of A up to which a batched product with cache-sized Bs (at most GEMV_ROWS_MAX_B_BYTES each) runs as GEMVs. */
const GEMV_MAX_ROWS = 4;
const GEMV_ROWS_MAX_B_BYTES = 2 ** 20;

/** Jobs a matrix-vector-shaped product over n columns is cut into: GEMV_JOBS_PER_THREAD per thread (at most MAX_JOBS), each >= minCols. */
function gemvJobs(threads: number, n: number, minCols: number): number {
  return threads > 1 ? Math.min(threads * GEMV_JOBS_PER_THREAD, MAX_JOBS, Math.ceil(n / minCols)) : 1;
}

interface Scratch {
  apack: number;
  bpack: number;
  tmp: number;
}
/** Packing buffers by memory, then by thread. */
const scratch: Scratch[][] = [];
function scratchFor(t: number, mem: number): Scratch | null {
  const perMem = (scratch[mem] ??= []);
  let s = perMem[t];
  if (s) return s;
  const apack = heapAlloc(MC * KC * 4, mem);
  const bpack = heapAlloc(KC * NC * 4, mem);
  const tmp = heapAlloc(MR * NR * 4, mem);
  if (apack < 0 || bpack < 0 || tmp < 0) {
    for (const p of [apack, bpack, tmp]) if (p >= 0) heapFree(p, mem);
    return null;
  }
  s = { apack, bpack, tmp };
  perMem[t] = s;
  return s;
}

/** A temporary block of `bytes` in memory `mem`, as an operand; null when the memory is full. */
function temp(bytes: number, mem: number): Operand | null {
  const t = heapAlloc(bytes, mem);
  return t < 0 ? null : { ptr: t, temp: t, mem };
}

/** Element span [lo, hi] touched by a strided [batch, rows, cols] operand. */
function span(off: number, dims: [number, number][]): [number, number] {
  let lo = off;
  let hi = off;
  for (const [d, s] of dims) {
    if (d <= 0) continue;
    const e = s * (d - 1);
    if (e < 0) lo += e;
    else hi += e;
  }
  return [lo, hi];
}

/** Address in memory `mem` of element `off` of a strided operand (copying its span there when it lives elsewhere). */
function place(x: Float32Array | Uint16Array, off: number, dims: [number, number][], who: string, mem: number): Operand | null {
  const [lo, hi] = span(off, dims);
  if (lo < 0 || hi >= x.length) throw new RangeError(`${who}: operand view [${lo}, ${hi}] outside array of length ${x.length}`);
  const es = x.BYTES_PER_ELEMENT;
  const p = heapPtr(x, mem);
  if (p >= 0) return { ptr: p + off * es, temp: -1, mem };
  const n = hi - lo + 1;
  const t = heapAlloc(n * es, mem);
  if (t < 0) return null;
  if (x instanceof Uint16Array) new Uint16Array(heapBuffer(mem), t, n).set(x.subarray(lo, hi + 1));
  else new Float32Array(heapBuffer(mem), t, n).set(x.subarray(lo, hi + 1));
  return { ptr: t + (off - lo) * es, temp: t, mem };
}

function split(total: number, parts: number, align: number): number[] {
  // Boundaries b[0]=0 .. b[parts]=total, each a multiple of `align` except the last.
  const units = Math.ceil(total / align);
  const b = [0];
  for (let i = 1; i < parts; i++) b.push(Math.min(total, Math.round((units * i) / parts) * align));
  b.push(total);
  return b;
}

/** out = A B for float32 operands; false when the kernels cannot run (no WebAssembly SIMD, heap exhausted). */
export function matmulF32(args: MatmulArgs): boolean {
  return matmulCore(args, '', 'matmulF32');
}

/**
 * out[batch, m, n] (float32) = A (float32) times B (16-bit floats, any strides), without an f32 copy of B:
 * m == 1 streams B through GEMV kernels (both B layouts), m > 1 decodes B panels while packing them.
 * Threads split the work the same way as matmulF32, so results do not depend on the thread count.
 * False when the kernels cannot run.
 */
export function matmulF32x16(args: MatmulArgs16): boolean {
  if (args.bDtype !== 'bfloat16' && args.bDtype !== 'float16') {
    throw new TypeError(`matmulF32x16: bDtype must be 'bfloat16' or 'float16', got ${String(args.bDtype)}`);
  }
  if (!(args.b instanceof Uint16Array)) throw new TypeError('matmulF32x16: b must be a Uint16Array of 16-bit float bits');
  return matmulCore(args, args.bDtype === 'bfloat16' ? '_bf16' : '_f16', 'matmulF32x16');
}

type CoreArgs = StridedMatmul<Float32Array, Float32Array | Uint16Array, Float32Array>;

/** Shared driver: `suffix` picks the kernel family ('' f32 B, '_bf16', '_f16'). */
function matmulCore(args: CoreArgs, suffix: string, who: string): boolean {
  const { batch, m, n, k, out } = args;
  for (const [name, v] of [['batch', batch], ['m', m], ['n', n], ['k', k]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${who}: ${name} must be a non-negative integer, got ${v}`);
  }
  const total = batch * m * n;
  if (out.length < total) throw new RangeError(`${who}: out has ${out.length} elements, needs ${total}`);
  if (total === 0) return true;
  if (k === 0) {
    out.fill(0, 0, total);
    return true;
  }
  const mem = Math.max(0, memoryOf(args.b));
  const K = kernels(mem);
  if (!K) return false;
  const bEs = args.b.BYTES_PER_ELEMENT;
  const aDims: [number, number][] = [[batch, args.aBatchStride], [m, args.aRowStride], [k, args.aColStride]];
  const bDims: [number, number][] = [[batch, args.bBatchStride], [k, args.bRowStride], [n, args.bColStride]];
  let A: Operand | null = null;
  let B: Operand | null = null;
  let C: Operand | null = null;
  try {
    // A batch of products with a few rows of A each against a B that stays in cache (a decode step's grouped query
    // heads against their keys and values) runs as that many GEMVs, which read B in place: the GEMM would pack every
    // B of the batch for every call. Unbatched products (a linear layer over a short prompt) keep the GEMM, whose
    // arithmetic a float32 and a bfloat16 B share exactly.
    const bContiguous = args.bRowStride === 1 || args.bColStride === 1;
    const fewRows = batch > 1 && m <= GEMV_MAX_ROWS && args.aColStride === 1 && k * n * bEs <= GEMV_ROWS_MAX_B_BYTES;
    const gemv = bContiguous && (m === 1 || fewRows);
    if (gemv && m === 1 && args.aColStride !== 1) {
      // Gather the single row of A per batch into a contiguous temporary.
      A = temp(batch * k * 4, mem);
      if (A) {
        const v = new Float32Array(heapBuffer(mem), A.ptr, batch * k);
        for (let bi = 0; bi < batch; bi++) {
          const o = args.aOffset + bi * args.aBatchStride;
          for (let kk = 0; kk < k; kk++) v[bi * k + kk] = args.a[o + kk * args.aColStride]!;
        }
      }
    } else A = place(args.a, args.aOffset, aDims, who, mem);
    B = place(args.b, args.bOffset, bDims, who, mem);
    const op = heapPtr(out, mem);
    C = op >= 0 ? { ptr: op, temp: -1, mem } : temp(total * 4, mem);
    if (!A || !B || !C) return false;
    const aBS = (gemv && m === 1 && args.aColStride !== 1 ? k : args.aBatchStride) * 4;
    const bBS = args.bBatchStride * bEs;
    const cBS = m * n * 4;
    const threads = threadsFor(batch * m * n * k * (gemv ? GEMV_WORK_SCALE : 1), PARALLEL_MIN_WORK);
    const jobs: (Job | null)[] = [];
    if (gemv) {
      const dot = args.bRowStride === 1 && args.bColStride !== 1 ? true : args.bColStride !== 1;
      const fn = (dot ? 'gemvDot' : 'gemvRows') + suffix + 'B';
      const bs = (dot ? args.bColStride : args.bRowStride) * bEs;
      for (let i = 0; i < m; i++) {
        const a = A.ptr + i * args.aRowStride * 4;
        const c = C.ptr + i * n * 4;
        if (threads > 1 && batch >= threads && n < 64) {
          const parts = Math.min(threads, Math.floor(MAX_JOBS / m));
          const bb = split(batch, parts, 1);
          for (let t = 0; t < parts; t++) {
            const b0 = bb[t]!;
            const cnt = bb[t + 1]! - b0;
            if (cnt > 0) jobs.push({ fn, mem, args: [cnt, aBS, bBS, cBS, k, a + b0 * aBS, B.ptr + b0 * bBS, bs, c + b0 * cBS, 0, n] });
          }
        } else {
          const parts = Math.max(1, Math.floor(gemvJobs(threads, n, 16) / m));
          const nb = split(n, parts, 16);
          for (let t = 0; t < parts; t++) {
            if (nb[t + 1]! > nb[t]!) jobs.push({ fn, mem, args: [batch, aBS, bBS, cBS, k, a, B.ptr, bs, c, nb[t]!, nb[t + 1]!] });
          }
        }
      }
    } else {
      const gen = (t: number, cnt: number, a: number, b: number, c: number, n0: number, n1: number): Job | null => {
        const s = scratchFor(t, mem);
        if (!s) return null; // out of heap for packing buffers
        return {
          fn: 'gemm' + suffix + 'B',
          mem,
          args: [cnt, aBS, bBS, cBS, m, k, a, args.aRowStride, args.aColStride, b, args.bRowStride, args.bColStride, c, n, n0, n1, s.apack, s.bpack, s.tmp],
        };
      };
      if (threads > 1 && batch >= threads && (batch >= 2 * threads || n < 2 * NR * threads)) {
        const bb = split(batch, threads, 1);
        for (let t = 0; t < threads; t++) {
          const b0 = bb[t]!;
          const cnt = bb[t + 1]! - b0;
          if (cnt > 0) jobs.push(gen(t, cnt, A.ptr + b0 * aBS, B.ptr + b0 * bBS, C.ptr + b0 * cBS, 0, n));
        }
      } else {
        const nb = split(n, threads, NR);
        for (let t = 0; t < threads; t++) {
          if (nb[t + 1]! > nb[t]!) jobs.push(gen(jobs.length, batch, A.ptr, B.ptr, C.ptr, nb[t]!, nb[t + 1]!));
        }
      }
    }
    const ready = jobs.filter((j): j is Job => j !== null);
    if (ready.length < jobs.length) return false;
    if (ready.length === 1) (K[ready[0]!.fn] as (...a: number[]) => void)(...ready[0]!.args);
    else runJobs(ready);
    if (C.temp >= 0) out.set(new Float32Array(heapBuffer(mem), C.ptr, total));
    return true;
  } finally {
    freeOperand(A);
    freeOperand(B);
    freeOperand(C);
  }
}

const QBLOCK: Record<MatmulArgsQ['bDtype'], number> = { q8_0: 34, q4_0: 18 };
/** Bytes of f32 a panel of decoded weight columns may take when m > 1. */
const QPANEL_BYTES = 16 * 2 ** 20;

/**
 * out[m, n] (float32) = A (float32) times B = W^T with W [n, k] in q8_0 / q4_0 blocks along k. m == 1 streams W
 * through the GEMV kernel, decoding blocks in registers and taking integer dot products with the activations
 * quantized per block to quantActLevels levels per sign (int16; int8 for q4_0 with relaxed SIMD), so within
 * max|a_block| / (2 levels) per activation of the exact product; m > 1 runs the integer GEMM on activations quantized
 * to int16 the same way (same bound), or, when a row cannot be quantized (inf / NaN), decodes
 * panels of W's rows to f32 (the values dequantize gives) and runs the f32 GEMM on them. False when the kernels cannot run or the view does not sit on
 * block boundaries (the TypeScript matmul handles any view).
 */
export function matmulF32xQ(args: MatmulArgsQ): boolean {
  const { m, n, k, out, b } = args;
  const bb = QBLOCK[args.bDtype];
  if (bb === undefined || !(b instanceof Uint8Array)) throw new TypeError(`matmulF32xQ: bDtype must be q8_0 or q4_0 with a Uint8Array of blocks, got ${String(args.bDtype)}`);
  if (args.batch !== 1 || args.bRowStride !== 1 || k % 32 !== 0 || args.bColStride % 32 !== 0 || args.bOffset % 32 !== 0 || args.bColStride < k) return false;
  if (m * n === 0 || k === 0) return matmulF32({ ...args, b: new Float32Array(0), bOffset: 0, bColStride: 0, bRowStride: 0, bBatchStride: 0 });
  const mem = Math.max(0, memoryOf(b));
  const K = kernels(mem);
  if (!K) return false;
  const rsBytes = (args.bColStride / 32) * bb;
  const b0 = (args.bOffset / 32) * bb;
  const spanBytes = (n - 1) * rsBytes + (k / 32) * bb;
  if (b0 + spanBytes > b.length) throw new RangeError(`matmulF32xQ: weight view ends at byte ${b0 + spanBytes}, past ${b.length}`);
  let B: Operand | null = null;
  let A: Operand | null = null;
  let C: Operand | null = null;
  let xTemp = -1;
  try {
    const hp = heapPtr(b, mem);
    if (hp >= 0) B = { ptr: hp + b0, temp: -1, mem };
    else {
      B = temp(spanBytes, mem);
      if (!B) return false;
      new Uint8Array(heapBuffer(mem), B.ptr, spanBytes).set(b.subarray(b0, b0 + spanBytes));
    }
    if (m > 1) {
      const r = integerGemm(args, B.ptr, rsBytes, mem);
      return r === 'fallback' ? panels(args, B.ptr, rsBytes, bb, mem) : r;
    }
    // The activations as contiguous float32 in memory `mem` (in place when they are already there).
    const ap = heapPtr(args.a, mem);
    if (ap >= 0 && args.aColStride === 1) A = { ptr: ap + args.aOffset * 4, temp: -1, mem };
    else {
      A = temp(k * 4, mem);
      if (!A) return false;
      const v = new Float32Array(heapBuffer(mem), A.ptr, k);
      for (let kk = 0; kk < k; kk++) v[kk] = args.a[args.aOffset + kk * args.aColStride]!;
    }
    // Integer dot products on the activations quantized to int16 per block by the quantAct kernel (measured 1.7x the
    // float decode), or for q4_0 where the engine has relaxed SIMD to int8 by quantAct8 (gemvDotI8_q4_0, 1.4x
    // gemvDotI_q4_0); the float kernel when an activation is not finite (the integers cannot carry inf / NaN, and they
    // must reach the output) or huge.
    const int8 = quantActLevels(args.bDtype, 1) === 127;
    const xBytes = int8 ? k : k * 2;
    const X = heapAlloc(xBytes + (k / 32) * 8, mem);
    if (X < 0) return false;
    xTemp = X;
    const int = (K[int8 ? 'quantAct8' : 'quantAct'] as (...a: number[]) => number)(k, A.ptr, X, X + xBytes, X + xBytes + (k / 32) * 4) === 1;
    const op = heapPtr(out, mem);
    C = op >= 0 ? { ptr: op, temp: -1, mem } : temp(n * 4, mem);
    if (!C) return false;
    const threads = threadsFor(n * k * GEMV_WORK_SCALE, PARALLEL_MIN_WORK);
    // cut like the float GEMVs, so a late thread's share goes to the others
    const qparts = gemvJobs(threads, n, 16);
    const nb = split(n, qparts, 16);
    const jobs: Job[] = [];
    for (let t = 0; t < qparts; t++) {
      if (nb[t + 1]! <= nb[t]!) continue;
      if (int) jobs.push({ fn: int8 ? 'gemvDotI8_q4_0' : `gemvDotI_${args.bDtype}`, mem, args: [k, X, X + xBytes, B.ptr, rsBytes, C.ptr, nb[t]!, nb[t + 1]!] });
      else jobs.push({ fn: `gemvDot_${args.bDtype}B`, mem, args: [1, 0, 0, 0, k, A.ptr, B.ptr, rsBytes, C.ptr, nb[t]!, nb[t + 1]!] });
    }
    if (jobs.length === 1) (K[jobs[0]!.fn] as (...a: number[]) => void)(...jobs[0]!.args);
    else runJobs(jobs);
    if (C.temp >= 0) out.set(new Float32Array(heapBuffer(mem), C.ptr, n));
    return true;
  } finally {
    freeOperand(A);
    freeOperand(B);
    freeOperand(C);
    if (xTemp >= 0) heapFree(xTemp, mem);
  }
}

let int8Gemv = true;
/** Turns the int8-activation q4_0 GEMV on or off (off: the int16 one, as without relaxed SIMD; for benchmarks and tests). */
export function setInt8Gemv(on: boolean): void {
  int8Gemv = on;
}

/**
 * The levels per sign to which a quantized matmul with m rows rounds its activations per block of 32 (step max|a| /
 * levels): 127 for the q4_0 GEMV (m == 1) on the int8 kernel, which only relaxed SIMD emits; else 32767 (int16).
 */
export function quantActLevels(bDtype: MatmulArgsQ['bDtype'], m: number): 127 | 32767 {
  return m === 1 && bDtype === 'q4_0' && int8Gemv && kernels()?.gemvDotI8_q4_0 !== undefined ? 127 : 32767;
}

let integerQGemm = true;
/** Turns the integer GEMM for m > 1 on or off (off: every call decodes panels to f32; for benchmarks and tests). */
export function setIntegerQGemm(on: boolean): void {
  integerQGemm = on;
}

/**
 * m > 1 with integer dot products: A's rows quantized to int16 per block of 32 (quantAct, as the GEMV does) and packed
 * into row panels, W's rows packed per micro-panel to int16 inside the qgemm kernel, one float scale per block and
 * output. 'fallback' when a row of A cannot be quantized (inf / NaN / huge: the f32 panels carry them to the output),
 * its buffers (about 4.1 m k bytes) do not fit or the path is off; false when the heap is full.
 */
function integerGemm(args: MatmulArgsQ, bPtr: number, rsBytes: number, mem: number): boolean | 'fallback' {
  if (!integerQGemm) return 'fallback';
  const { m, n, k, out } = args;
  const { MR, NR, KCB } = QGEMM;
  const K = kernels(mem)!;
  const nblk = k / 32;
  const panelsA = Math.ceil(m / MR);
  const scratchBytes = KCB * QGEMM_B_BLOCK + MR * NR * 4;
  const threads = threadsFor(m * n * k, PARALLEL_MIN_WORK);
  // a few column ranges per thread, as the GEMV: a descheduled worker holds up only the ones it took
  const parts = gemvJobs(threads, n, NR);
  // xq [m, k] int16, dx and sx [m, nblk], the packed panels, per-job B micro-panel and edge tile
  const xBytes = m * k * 2 + m * nblk * 8;
  const work = heapAlloc(xBytes + panelsA * nblk * QGEMM_A_BLOCK + parts * scratchBytes, mem);
  if (work < 0) return 'fallback'; // the panels need less: a 16 MiB panel
  let A: Operand | null = null;
  let C: Operand | null = null;
  try {
    const ap = heapPtr(args.a, mem);
    const inPlace = ap >= 0 && args.aColStride === 1;
    if (!inPlace) {
      A = temp(m * k * 4, mem);
      if (!A) return false;
      // gathered into rows (A lives in another memory than W when W was loaded into one of its own)
      const v = new Float32Array(heapBuffer(mem), A.ptr, m * k);
      for (let i = 0; i < m; i++) {
        const o = args.aOffset + i * args.aRowStride;
        if (args.aColStride === 1) v.set(args.a.subarray(o, o + k), i * k);
        else for (let kk = 0; kk < k; kk++) v[i * k + kk] = args.a[o + kk * args.aColStride]!;
      }
    }
    const quantAct = K.quantAct as (...a: number[]) => number;
    const dx = work + m * k * 2;
    const sx = dx + m * nblk * 4;
    for (let i = 0; i < m; i++) {
      const row = A ? A.ptr + i * k * 4 : ap + (args.aOffset + i * args.aRowStride) * 4;
      if (quantAct(k, row, work + i * k * 2, dx + i * nblk * 4, sx + i * nblk * 4) !== 1) return 'fallback';
    }
    const apack = work + xBytes;
    (K.packAq as (...a: number[]) => void)(m, k, work, dx, apack);
    const op = heapPtr(out, mem);
    C = op >= 0 ? { ptr: op, temp: -1, mem } : temp(m * n * 4, mem);
    if (!C) return false;
    const scratch0 = apack + panelsA * nblk * QGEMM_A_BLOCK;
    const nb = split(n, parts, NR);
    const jobs: Job[] = [];
    for (let t = 0; t < parts; t++) {
      if (nb[t + 1]! <= nb[t]!) continue;
      const s = scratch0 + t * scratchBytes;
      jobs.push({ fn: `qgemm_${args.bDtype}`, mem, args: [m, nblk, apack, bPtr, rsBytes, C.ptr, n, nb[t]!, nb[t + 1]!, s, s + KCB * QGEMM_B_BLOCK] });
    }
    if (jobs.length === 1) (K[jobs[0]!.fn] as (...a: number[]) => void)(...jobs[0]!.args);
    else runJobs(jobs);
    if (C.temp >= 0) out.set(new Float32Array(heapBuffer(mem), C.ptr, m * n));
    return true;
  } finally {
    freeOperand(A);
    freeOperand(C);
    heapFree(work, mem);
  }
}

/**
 * m > 1: decode column panels of B (rows of W) into f32 in B's memory `mem` and multiply each with the f32 GEMM
 * (which then runs on that memory too).
 */
function panels(args: MatmulArgsQ, bPtr: number, rsBytes: number, bb: number, mem: number): boolean {
  const { m, n, k, out } = args;
  // The f32 GEMM reads the panel in place only on a shared heap; an unshared one may grow (detaching the panel's
  // view) while the GEMM places its operands.
  if (!getHeap()?.shared) return false;
  const cols = Math.min(n, Math.max(16, Math.floor(QPANEL_BYTES / (k * 4) / 16) * 16));
  const panel = heapAlloc(cols * k * 4, mem);
  if (panel < 0) return false;
  const part = cols < n ? new Float32Array(m * cols) : out;
  try {
    const K = kernels(mem)!;
    for (let j0 = 0; j0 < n; j0 += cols) {
      const nc = Math.min(cols, n - j0);
      const threads = threadsFor(nc * k * 8, PARALLEL_MIN_WORK);
      const rb = split(nc, threads, 1);
      const jobs: Job[] = [];
      for (let t = 0; t < threads; t++) {
        const r0 = rb[t]!;
        const r1 = rb[t + 1]!;
        // rows r0..r1 of the panel; when W's rows are padded (bColStride > k) decode them one at a time
        if (rsBytes === (k / 32) * bb) {
          if (r1 > r0) jobs.push({ fn: `dequant_${args.bDtype}`, mem, args: [bPtr + (j0 + r0) * rsBytes, ((r1 - r0) * k) / 32, panel + r0 * k * 4] });
        } else for (let r = r0; r < r1; r++) jobs.push({ fn: `dequant_${args.bDtype}`, mem, args: [bPtr + (j0 + r) * rsBytes, k / 32, panel + r * k * 4] });
      }
      if (jobs.length === 1) (K[jobs[0]!.fn] as (...a: number[]) => void)(...jobs[0]!.args);
      else if (jobs.length > 1) runJobs(jobs);
      const w = new Float32Array(heapBuffer(mem), panel, nc * k);
      const dst = part === out ? out : part.subarray(0, m * nc);
      const ok = matmulF32({ ...args, b: w, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, n: nc, out: dst });
      if (!ok) return false;
      if (part !== out) for (let i = 0; i < m; i++) out.set(dst.subarray(i * nc, (i + 1) * nc), i * n + j0);
    }
    return true;
  } finally {
    heapFree(panel, mem);
  }
}
