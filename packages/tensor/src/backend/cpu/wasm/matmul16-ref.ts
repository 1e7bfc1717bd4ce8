// Plain TypeScript f32 x 16-bit matmul (the fallback when WebAssembly is unavailable): the same blocking
// as matmulF32Ref, decoding a KB x JB block of B to f32 at a time, so B is never upcast as a whole.
import type { MatmulArgs16 } from './gemm.js';

const KB = 256;
const JB = 512;

let f16Table: Float32Array | undefined;
/** All 65536 float16 patterns decoded (exactly: every half is a float32). */
function f16Values(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m === 0 ? s * Infinity : NaN) : s * (1024 + m) * 2 ** (e - 25);
  }
  return (f16Table = t);
}

export function matmulF32x16Ref(args: MatmulArgs16): void {
  const { batch, m, n, k, a, b, out } = args;
  const total = batch * m * n;
  if (total === 0) return;
  out.fill(0, 0, total);
  if (k === 0) return;
  const tab = args.bDtype === 'bfloat16' ? null : f16Values();
  const bt = new Float32Array(Math.min(k, KB) * Math.min(n, JB));
  const btBits = new Uint32Array(bt.buffer);
  for (let bi = 0; bi < batch; bi++) {
    const ao = args.aOffset + bi * args.aBatchStride;
    const bo = args.bOffset + bi * args.bBatchStride;
    const co = bi * m * n;
    for (let k0 = 0; k0 < k; k0 += KB) {
      const kb = Math.min(KB, k - k0);
      for (let j0 = 0; j0 < n; j0 += JB) {
        const jb = Math.min(JB, n - j0);
        for (let kk = 0; kk < kb; kk++) {
          const src = bo + (k0 + kk) * args.bRowStride + j0 * args.bColStride;
          const dst = kk * jb;
          if (tab) for (let j = 0; j < jb; j++) bt[dst + j] = tab[b[src + j * args.bColStride]!]!;
          else for (let j = 0; j < jb; j++) btBits[dst + j] = b[src + j * args.bColStride]! << 16;
        }
        for (let i = 0; i < m; i++) {
          const src = ao + i * args.aRowStride + k0 * args.aColStride;
          const c0 = co + i * n + j0;
          for (let kk = 0; kk < kb; kk++) {
            const x = a[src + kk * args.aColStride]!;
            const bb = kk * jb;
            for (let j = 0; j < jb; j++) out[c0 + j] = out[c0 + j]! + x * bt[bb + j]!;
          }
        }
      }
    }
  }
}
