// CPU matmul dispatch: float32 goes to the WebAssembly SIMD GEMM (threads, packing); float32 times 16-bit
// float weights (bfloat16 / float16 storage) to the same kernels decoding B in place (no upcast copy);
// other dtypes to a float64-accumulating loop.
import type { Storage, View } from '../../backend.js';
import { bf16ToNumber, f16ToNumber, type DType, type TypedArray } from '../../dtype.js';
import { arr, cpuAlloc } from './storage.js';
import { matmulF32, matmulF32x16 } from './wasm/index.js';

/** Values of a 16-bit float storage as numbers (only for the generic loop below; the fast paths decode in the kernels). */
function decoded(x: TypedArray, dtype: DType): TypedArray {
  if (!(x instanceof Uint16Array) || (dtype !== 'bfloat16' && dtype !== 'float16')) return x;
  const dec = dtype === 'bfloat16' ? bf16ToNumber : f16ToNumber;
  const o = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) o[i] = dec(x[i]!);
  return o;
}

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
