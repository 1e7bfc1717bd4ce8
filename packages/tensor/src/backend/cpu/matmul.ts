// CPU matmul dispatch: float32 goes to the WebAssembly SIMD GEMM (threads, packing); float32 times 16-bit
// float weights (bfloat16 / float16 storage) to the same kernels decoding B in place (no upcast copy);
// other dtypes to a float64-accumulating loop.
import type { Storage, View } from '../../backend.js';
import { bf16ToNumber, f16ToNumber, type DType, type TypedArray } from '../../dtype.js';
import { arr, cpuAlloc, onHeap } from './storage.js';
import { matmulF32, matmulF32x16 } from './wasm/index.js';

/** Values of a 16-bit float storage as numbers (only for the generic loop below; the fast paths decode in the kernels). */
function decoded(x: TypedArray, dtype: DType): TypedArray {
  if (!(x instanceof Uint16Array) || (dtype !== 'bfloat16' && dtype !== 'float16')) return x;
  const dec = dtype === 'bfloat16' ? bf16ToNumber : f16ToNumber;
  const o = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) o[i] = dec(x[i]!);
  return o;
}

/** Off-heap weights larger than this are multiplied in column blocks, so the kernels' temporary copy stays small. */
let CHUNK_BYTES = 128 * 2 ** 20;

/** Sets that block size (tests use a small one to exercise the path). */
export function setOffHeapChunkBytes(bytes: number): void {
  CHUNK_BYTES = bytes;
}

/** Batched matmul of 3-D views a [B,M,K] and b [B,K,N] into a contiguous [B,M,N] storage. */
export function matmulCpu(a: View, b: View, dtype: DType): Storage {
  const [B, M, K] = a.shape as [number, number, number];
  const N = b.shape[2]!;
  const Bd0 = arr(b.storage);
  const colBytes = K * Bd0.BYTES_PER_ELEMENT;
  // A weight read as W^T ([N, K] rows contiguous) that is not on the heap would be copied in whole per call (and a
  // 1.5 GB vocabulary projection may not fit): split it into blocks of output columns instead.
  if (dtype === 'float32' && !onHeap(Bd0) && b.strides[1] === 1 && b.strides[2]! >= K && N * colBytes > CHUNK_BYTES && N > 16) {
    const cols = Math.max(16, Math.floor(CHUNK_BYTES / colBytes / 16) * 16);
    const out = cpuAlloc(dtype, B * M * N);
    const o = out.data;
    for (let j0 = 0; j0 < N; j0 += cols) {
      const n = Math.min(cols, N - j0);
      const part = matmulCpu(a, { storage: b.storage, shape: [B, K, n], strides: b.strides, offset: b.offset + j0 * b.strides[2]! }, dtype);
      const p = arr(part);
      for (let r = 0; r < B * M; r++) o.set(p.subarray(r * n, (r + 1) * n), r * N + j0);
    }
    return out;
  }
  const out = cpuAlloc(dtype, B * M * N);
  const A = arr(a.storage);
  const Bd = arr(b.storage);
  const o = out.data;
  const [abs, ars, acs] = a.strides as [number, number, number];
  const [bbs, brs, bcs] = b.strides as [number, number, number];
  if (dtype === 'float32' && A instanceof Float32Array && Bd instanceof Float32Array && o instanceof Float32Array) {
    matmulF32({
      batch: B, m: M, n: N, k: K,
      a: A, aOffset: a.offset, aBatchStride: abs, aRowStride: ars, aColStride: acs,
      b: Bd, bOffset: b.offset, bBatchStride: bbs, bRowStride: brs, bColStride: bcs,
      out: o,
    });
    return out;
  }
  const bdt = b.storage.dtype;
  if (dtype === 'float32' && A instanceof Float32Array && Bd instanceof Uint16Array && o instanceof Float32Array && (bdt === 'bfloat16' || bdt === 'float16')) {
    matmulF32x16({
      batch: B, m: M, n: N, k: K,
      a: A, aOffset: a.offset, aBatchStride: abs, aRowStride: ars, aColStride: acs,
      b: Bd, bOffset: b.offset, bBatchStride: bbs, bRowStride: brs, bColStride: bcs, bDtype: bdt,
      out: o,
    });
    return out;
  }
  const Av = decoded(A, a.storage.dtype);
  const Bv = decoded(Bd, bdt);
  const acc = new Float64Array(N);
  for (let bi = 0; bi < B; bi++) {
    for (let i = 0; i < M; i++) {
      acc.fill(0);
      const ap = a.offset + bi * abs + i * ars;
      for (let k = 0; k < K; k++) {
        const aik = Av[ap + k * acs]!;
        let bp = b.offset + bi * bbs + k * brs;
        for (let j = 0; j < N; j++, bp += bcs) acc[j]! += aik * Bv[bp]!;
      }
      const op = (bi * M + i) * N;
      for (let j = 0; j < N; j++) o[op + j] = acc[j]!;
    }
  }
  return out;
}
