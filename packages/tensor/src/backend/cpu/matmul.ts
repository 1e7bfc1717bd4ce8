// CPU matmul dispatch: float32 (and float32 times 16-bit or q8_0 / q4_0 weights, decoded in place, no upcast copy) goes to
// the WebAssembly SIMD GEMM when it can run; everything else, and whatever it declines, to the TypeScript matmul.
import type { Storage, View } from '../../backend.js';
import { isQuantized, itemSize, type DType } from '../../dtype.js';
import { matmulRef, type MatmulRefArgs } from './kernels/matmul.js';
import { arr, cpuAlloc, onHeap } from './storage.js';
import { matmulF32, matmulF32x16, matmulF32xQ } from './wasm/index.js';

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
  const colBytes = K * itemSize(b.storage.dtype);
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
  const bdt = b.storage.dtype;
  const args: MatmulRefArgs = {
    batch: B, m: M, n: N, k: K,
    a: arr(a.storage), aOffset: a.offset, aBatchStride: a.strides[0]!, aRowStride: a.strides[1]!, aColStride: a.strides[2]!,
    b: arr(b.storage), bOffset: b.offset, bBatchStride: b.strides[0]!, bRowStride: b.strides[1]!, bColStride: b.strides[2]!,
    bDtype: bdt === 'bfloat16' || bdt === 'float16' || isQuantized(bdt) ? bdt : undefined,
    out: out.data,
  };
  if (!accelerated(args)) matmulRef(args);
  return out;
}

/** Runs the product on the WebAssembly GEMM when its dtypes fit and it can run; false leaves it to matmulRef. */
function accelerated(x: MatmulRefArgs): boolean {
  const { a, b, out } = x;
  if (!(a instanceof Float32Array) || !(out instanceof Float32Array)) return false;
  if (b instanceof Float32Array) return matmulF32({ ...x, a, b, out });
  if (b instanceof Uint16Array && (x.bDtype === 'bfloat16' || x.bDtype === 'float16')) return matmulF32x16({ ...x, a, b, out, bDtype: x.bDtype });
  if (b instanceof Uint8Array && (x.bDtype === 'q8_0' || x.bDtype === 'q4_0')) return matmulF32xQ({ ...x, a, b, out, bDtype: x.bDtype });
  return false;
}
