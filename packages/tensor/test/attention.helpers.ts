// Shared by the fused-attention tests: a float64 reference of grouped-head attention and an error measure.
import { afterEach, expect, vi } from 'vitest';
import { getNumThreads, setNumThreads, type Tensor } from '@tensorzoo/tensor';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';
import { PARALLEL_MIN_WORK, setParallelThreshold } from '../dist/backend/cpu/wasm/gemm.js';

/**
 * Registers an afterEach that undoes what the attention tests switch (mocks, the wasm route, threads, the parallel
 * threshold) and returns the threshold as it was.
 */
export function restoreCpuAfterEach(): number {
  const [threads0, threshold0] = [getNumThreads(), PARALLEL_MIN_WORK];
  afterEach(() => {
    vi.restoreAllMocks();
    setWasmAccelerators(true);
    setNumThreads(threads0);
    setParallelThreshold(threshold0);
  });
  return threshold0;
}

/**
 * softmax(q k^T * scale) v in float64 from the tensors' values, query head h reading key/value head h / (Hq / Hk);
 * `causal`: query l sees keys 0..l (top-left, as torch's is_causal); `mask(b, l, j)` is added to the scaled score.
 */
export function attentionReference(q: Tensor, k: Tensor, v: Tensor, scale: number, causal = false, mask: ((b: number, l: number, j: number) => number) | null = null): Float64Array {
  const [B, Hq, L, E] = q.shape as [number, number, number, number];
  const [, Hk, S] = k.shape as [number, number, number, number];
  const [Q, K, V] = [q, k, v].map((t) => t.to('float64').contiguous().dataSync() as Float64Array) as [Float64Array, Float64Array, Float64Array];
  const out = new Float64Array(B * Hq * L * E);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / (Hq / Hk));
      for (let l = 0; l < L; l++) {
        const n = causal ? Math.min(S, l + 1) : S;
        const qo = ((b * Hq + h) * L + l) * E;
        const s = Array.from({ length: n }, (_, j) => {
          let d = 0;
          for (let e = 0; e < E; e++) d += Q[qo + e]! * K[((b * Hk + hk) * S + j) * E + e]!;
          return d * scale + (mask ? mask(b, l, j) : 0);
        });
        const m = Math.max(...s);
        const p = s.map((x) => Math.exp(x - m));
        const z = p.reduce((a, x) => a + x, 0);
        for (let e = 0; e < E; e++) {
          let o = 0;
          for (let j = 0; j < n; j++) o += (p[j]! / z) * V[((b * Hk + hk) * S + j) * E + e]!;
          out[qo + e] = o;
        }
      }
    }
  }
  return out;
}

/** Largest |got - want| over every element (want: float64 values or another tensor). */
export function maxAbsDiff(got: Tensor, want: Float64Array | Tensor): number {
  const g = got.contiguous().dataSync() as Float32Array;
  const w = want instanceof Float64Array ? want : (want.contiguous().dataSync() as Float32Array);
  expect(g.length).toBe(w.length);
  let d = 0;
  for (let i = 0; i < g.length; i++) d = Math.max(d, Math.abs(g[i]! - w[i]!));
  return d;
}
