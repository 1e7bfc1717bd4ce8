// CPU matmul dispatch: float32 goes to the WebAssembly SIMD GEMM (threads, packing), other dtypes to a float64-accumulating loop.
import type { Storage, View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { arr, cpuAlloc } from './storage.js';
import { matmulF32 } from './wasm/index.js';

/** Batched matmul of 3-D views a [B,M,K] and b [B,K,N] into a contiguous [B,M,N] storage. */
export function matmulCpu(a: View, b: View, dtype: DType): Storage {
  const [B, M, K] = a.shape as [number, number, number];
  const N = b.shape[2]!;
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
  const acc = new Float64Array(N);
  for (let bi = 0; bi < B; bi++) {
    for (let i = 0; i < M; i++) {
      acc.fill(0);
      const ap = a.offset + bi * abs + i * ars;
      for (let k = 0; k < K; k++) {
        const aik = A[ap + k * acs]!;
        let bp = b.offset + bi * bbs + k * brs;
        for (let j = 0; j < N; j++, bp += bcs) acc[j]! += aik * Bd[bp]!;
      }
      const op = (bi * M + i) * N;
      for (let j = 0; j < N; j++) o[op + j] = acc[j]!;
    }
  }
  return out;
}
