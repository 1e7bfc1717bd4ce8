// The TypeScript matmul: the reference for every dtype, and what runs when the WebAssembly GEMM cannot.
// Cache-tiled over (i, k, j) with a 4-row register block; any element strides; B arrives a block at a time
// (copied, or decoded from 16-bit floats or q8_0 / q4_0 blocks), so a 16-bit or quantized B is never upcast as a whole.
import { f16ToNumber, type QuantDType, type TypedArray } from '../../../dtype.js';

const KB = 256;
const JB = 512;

/** A strided batched product out[batch, m, n] = A[batch, m, k] B[batch, k, n], element offsets and strides. */
export interface StridedMatmul<A extends TypedArray, B extends TypedArray, O extends TypedArray> {
  batch: number;
  m: number;
  n: number;
  k: number;
  a: A;
  aOffset: number;
  aBatchStride: number;
  aRowStride: number;
  aColStride: number;
  b: B;
  bOffset: number;
  bBatchStride: number;
  bRowStride: number;
  bColStride: number;
  /** Contiguous [batch, m, n], fully overwritten. */
  out: O;
}

/** float32 A, B and out. */
export type MatmulArgs = StridedMatmul<Float32Array, Float32Array, Float32Array>;

/** float32 A and out, B holding 16-bit float bits (bfloat16 or IEEE float16). */
export interface MatmulArgs16 extends StridedMatmul<Float32Array, Uint16Array, Float32Array> {
  bDtype: 'bfloat16' | 'float16';
}

/**
 * float32 A and out, B = W^T with W [n, k] in q8_0 / q4_0 blocks along k (bytes); element (kk, j) of B is element
 * bOffset + kk * bRowStride + j * bColStride of the quantized storage.
 */
export interface MatmulArgsQ extends StridedMatmul<Float32Array, Uint8Array, Float32Array> {
  bDtype: QuantDType;
}

/** Any dtypes: A and B of out's dtype, or float32 A and out with 16-bit or quantized B (then `bDtype` says which). */
export interface MatmulRefArgs extends StridedMatmul<TypedArray, TypedArray, TypedArray> {
  bDtype?: 'bfloat16' | 'float16' | QuantDType;
}

type Block = Float32Array | Float64Array;
/** Fills `bt` (row-major kb x jb) with B[k0 .. k0+kb, j0 .. j0+jb] of the batch entry at element offset `bo`. */
type LoadBBlock = (bt: Block, bo: number, k0: number, kb: number, j0: number, jb: number) => void;

let f16Table: Float32Array | undefined;
/** All 65536 float16 patterns decoded (exactly: every half is a float32). */
function f16Values(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16ToNumber(h);
  return (f16Table = t);
}

/** The B-block loader for args.b: a strided copy, or a decode of 16-bit float bits. */
function loaderFor(args: MatmulRefArgs): LoadBBlock {
  const { b, bRowStride: rs, bColStride: cs } = args;
  if (args.bDtype === 'q8_0' || args.bDtype === 'q4_0') {
    if (!(b instanceof Uint8Array)) throw new TypeError(`matmulRef: a ${args.bDtype} B must be a Uint8Array of blocks`);
    return quantLoader(args.bDtype, b, rs, cs);
  }
  if (!(b instanceof Uint16Array) || args.bDtype === undefined) {
    if (b instanceof Uint16Array) throw new TypeError('matmulRef: a Uint16Array B needs bDtype (bfloat16 or float16)');
    return (bt, bo, k0, kb, j0, jb) => {
      for (let kk = 0; kk < kb; kk++) {
        const src = bo + (k0 + kk) * rs + j0 * cs;
        const dst = kk * jb;
        for (let j = 0; j < jb; j++) bt[dst + j] = b[src + j * cs]!;
      }
    };
  }
  if (args.bDtype === 'float16') {
    const tab = f16Values();
    return (bt, bo, k0, kb, j0, jb) => {
      for (let kk = 0; kk < kb; kk++) {
        const src = bo + (k0 + kk) * rs + j0 * cs;
        const dst = kk * jb;
        for (let j = 0; j < jb; j++) bt[dst + j] = tab[b[src + j * cs]!]!;
      }
    };
  }
  // bfloat16 is the top half of a float32: write the bits through an integer view of the block.
  let bits: Uint32Array | null = null;
  return (bt, bo, k0, kb, j0, jb) => {
    if (bits?.buffer !== bt.buffer) bits = new Uint32Array(bt.buffer, bt.byteOffset, bt.length);
    for (let kk = 0; kk < kb; kk++) {
      const src = bo + (k0 + kk) * rs + j0 * cs;
      const dst = kk * jb;
      for (let j = 0; j < jb; j++) bits[dst + j] = b[src + j * cs]! << 16;
    }
  };
}

/** Decodes quantized elements one at a time (any view; each block's scale decoded once per run of its elements). */
function quantLoader(dtype: QuantDType, b: Uint8Array, rs: number, cs: number): LoadBBlock {
  const tab = f16Values();
  const q8 = dtype === 'q8_0';
  const bb = q8 ? 34 : 18;
  return (bt, bo, k0, kb, j0, jb) => {
    for (let j = 0; j < jb; j++) {
      let lastBlock = -1;
      let d = 0;
      for (let kk = 0; kk < kb; kk++) {
        const i = bo + (k0 + kk) * rs + (j0 + j) * cs;
        const blk = i >>> 5;
        const p = blk * bb;
        if (blk !== lastBlock) {
          lastBlock = blk;
          d = tab[b[p]! | (b[p + 1]! << 8)]!;
        }
        const e = i & 31;
        const q = q8 ? (b[p + 2 + e]! << 24) >> 24 : (e < 16 ? b[p + 2 + e]! & 15 : b[p + 2 + e - 16]! >>> 4) - 8;
        bt[kk * jb + j] = Math.fround(q * d);
      }
    }
  };
}

/**
 * out = A B in plain TypeScript. float32 accumulates in float32 (as the SIMD kernels do); float64 and int32
 * accumulate in float64 and round once.
 */
export function matmulRef(args: MatmulRefArgs): void {
  const { batch, m, n, k, a, out } = args;
  const total = batch * m * n;
  if (total === 0) return;
  const f32 = out instanceof Float32Array;
  const acc: Block = out instanceof Float32Array || out instanceof Float64Array ? out : new Float64Array(total);
  acc.fill(0, 0, total);
  if (k > 0) {
    const loadB = loaderFor(args);
    // Contiguous copies of the current A and B blocks keep the inner loop unit-stride.
    const bt = f32 ? new Float32Array(Math.min(k, KB) * Math.min(n, JB)) : new Float64Array(Math.min(k, KB) * Math.min(n, JB));
    const arow = f32 ? new Float32Array(Math.min(k, KB) * 4) : new Float64Array(Math.min(k, KB) * 4);
    for (let bi = 0; bi < batch; bi++) {
      const ao = args.aOffset + bi * args.aBatchStride;
      const bo = args.bOffset + bi * args.bBatchStride;
      const co = bi * m * n;
      for (let k0 = 0; k0 < k; k0 += KB) {
        const kb = Math.min(KB, k - k0);
        for (let j0 = 0; j0 < n; j0 += JB) {
          const jb = Math.min(JB, n - j0);
          loadB(bt, bo, k0, kb, j0, jb);
          let i = 0;
          for (; i + 4 <= m; i += 4) {
            for (let r = 0; r < 4; r++) {
              const src = ao + (i + r) * args.aRowStride + k0 * args.aColStride;
              for (let kk = 0; kk < kb; kk++) arow[kk * 4 + r] = a[src + kk * args.aColStride]!;
            }
            const c0 = co + i * n + j0;
            const c1 = c0 + n;
            const c2 = c1 + n;
            const c3 = c2 + n;
            for (let kk = 0; kk < kb; kk++) {
              const x0 = arow[kk * 4]!;
              const x1 = arow[kk * 4 + 1]!;
              const x2 = arow[kk * 4 + 2]!;
              const x3 = arow[kk * 4 + 3]!;
              const bb = kk * jb;
              for (let j = 0; j < jb; j++) {
                const y = bt[bb + j]!;
                acc[c0 + j] = acc[c0 + j]! + x0 * y;
                acc[c1 + j] = acc[c1 + j]! + x1 * y;
                acc[c2 + j] = acc[c2 + j]! + x2 * y;
                acc[c3 + j] = acc[c3 + j]! + x3 * y;
              }
            }
          }
          for (; i < m; i++) {
            const src = ao + i * args.aRowStride + k0 * args.aColStride;
            const c0 = co + i * n + j0;
            for (let kk = 0; kk < kb; kk++) {
              const x0 = a[src + kk * args.aColStride]!;
              const bb = kk * jb;
              for (let j = 0; j < jb; j++) acc[c0 + j] = acc[c0 + j]! + x0 * bt[bb + j]!;
            }
          }
        }
      }
    }
  }
  if (acc !== out) out.set(acc.subarray(0, total));
}
