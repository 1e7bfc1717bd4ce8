// Plain TypeScript f32 x 16-bit matmul (the fallback when WebAssembly is unavailable): the same blocking
// as matmulF32Ref, decoding a KB x JB block of B to f32 at a time, so B is never upcast as a whole.
import { f16ToNumber } from '../../../dtype.js';
import { blockedMatmul } from '../matmul-ref.js';
import type { MatmulArgs16 } from './gemm.js';

let f16Table: Float32Array | undefined;
/** All 65536 float16 patterns decoded (exactly: every half is a float32). */
function f16Values(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16ToNumber(h);
  return (f16Table = t);
}

/** f32 x bfloat16/float16 matmul: the f32 reference's blocking, B decoded one block at a time. */
export function matmulF32x16Ref(args: MatmulArgs16): void {
  const { b } = args;
  const tab = args.bDtype === 'bfloat16' ? null : f16Values();
  let bits: Uint32Array | null = null;
  blockedMatmul(args, (bt, bo, k0, kb, j0, jb) => {
    if (!tab && bits?.buffer !== bt.buffer) bits = new Uint32Array(bt.buffer, bt.byteOffset, bt.length);
    for (let kk = 0; kk < kb; kk++) {
      const src = bo + (k0 + kk) * args.bRowStride + j0 * args.bColStride;
      const dst = kk * jb;
      if (tab) for (let j = 0; j < jb; j++) bt[dst + j] = tab[b[src + j * args.bColStride]!]!;
      else for (let j = 0; j < jb; j++) bits![dst + j] = b[src + j * args.bColStride]! << 16;
    }
  });
}
