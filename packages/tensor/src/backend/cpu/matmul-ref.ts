// Plain TypeScript matmul: the reference and the fallback when WebAssembly is unavailable.
// Cache-tiled over (i, k, j) with a 4-row register block; handles any element strides.
import type { MatmulArgs } from './wasm/gemm.js';

const KB = 256;
const JB = 512;

/** matmulF32's arguments without B (the B-block loader stands in for it). */
export type RefArgs = Omit<MatmulArgs, 'b'>;

/**
 * Fills `bt` (row-major kb x jb, f32) with B[k0 .. k0+kb, j0 .. j0+jb] of batch entry `bo` (B's element offset):
 * a copy for float32 B, a decode for 16-bit B.
 */
export type LoadBBlock = (bt: Float32Array, bo: number, k0: number, kb: number, j0: number, jb: number) => void;

/** f32 matmul with any element strides. */
export function matmulF32Ref(args: MatmulArgs): void {
  const { b } = args;
  blockedMatmul(args, (bt, bo, k0, kb, j0, jb) => {
    for (let kk = 0; kk < kb; kk++) {
      const src = bo + (k0 + kk) * args.bRowStride + j0 * args.bColStride;
      const dst = kk * jb;
      for (let j = 0; j < jb; j++) bt[dst + j] = b[src + j * args.bColStride]!;
    }
  });
}

/** The blocked loop shared by the references: B arrives a block at a time through `loadB`. */
export function blockedMatmul(args: RefArgs, loadB: LoadBBlock): void {
  const { batch, m, n, k, a, out } = args;
  const total = batch * m * n;
  if (total === 0) return;
  out.fill(0, 0, total);
  if (k === 0) return;
  // Contiguous copies of the current A and B blocks keep the inner loop unit-stride.
  const bt = new Float32Array(Math.min(k, KB) * Math.min(n, JB));
  const arow = new Float32Array(Math.min(k, KB) * 4);
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
              out[c0 + j] = out[c0 + j]! + x0 * y;
              out[c1 + j] = out[c1 + j]! + x1 * y;
              out[c2 + j] = out[c2 + j]! + x2 * y;
              out[c3 + j] = out[c3 + j]! + x3 * y;
            }
          }
        }
        for (; i < m; i++) {
          const src = ao + i * args.aRowStride + k0 * args.aColStride;
          const c0 = co + i * n + j0;
          for (let kk = 0; kk < kb; kk++) {
            const x0 = a[src + kk * args.aColStride]!;
            const bb = kk * jb;
            for (let j = 0; j < jb; j++) out[c0 + j] = out[c0 + j]! + x0 * bt[bb + j]!;
          }
        }
      }
    }
  }
}
