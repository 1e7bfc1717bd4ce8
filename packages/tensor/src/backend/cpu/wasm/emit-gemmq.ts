// Emits matmul kernels whose B operand is llama.cpp q8_0 / q4_0 blocks (B = W^T, blocks along K), decoded in
// registers so the weights stream from memory at 8.5 / 4.5 bits each:
//  - gemvDotI_<q>(k, xq, dx, b, rsBytes, c, j0, j1): m == 1, y[j] = dot(a, W[j, :]) for j in [j0, j1), k a multiple
//    of 32, with `a` quantized to int16 per block (xq, scales dx): integer dot products, one float scale per block.
//  - gemvDotI8_q4_0(...): the same for q4_0 with `a` quantized to int8 (quantAct8), where relaxed SIMD is on.
//  - gemvDot_<q>(k, a, b, rsBytes, c, j0, j1): the same in float (quants widened to f32), for activations int16
//    cannot carry (inf, NaN). R rows of W at a time share each loaded vector of activations in both.
//  - qgemm_<q>(...): m > 1, integer dot products of activations quantized like the GEMV's (packAq packs their rows)
//    with W's quants packed to int16 micro-panels (packBq_<q>), in an MR x NR tile (qgemmKernel).
//  - dequant_<q>(src, nblocks, dst): decodes contiguous blocks to f32 (exactly: quant * scale), for m > 1 when the
//    activations cannot be quantized: the driver decodes column panels of W into f32 and runs the f32 GEMM on them.
import type { Func, ModuleBuilder } from './emit.js';
import { emitBatched, madd, RowRuns, type GemmParams } from './emit-gemm.js';
import { Decoder } from './emit-gemm16.js';

export type QuantKind = 'q8_0' | 'q4_0';
export const QUANT_KINDS: readonly QuantKind[] = ['q8_0', 'q4_0'];
const BLOCK_BYTES: Record<QuantKind, number> = { q8_0: 34, q4_0: 18 };

/**
 * Pushes, for the block at `ptr`, the eight i32x4 of its quants in element order (0-3, 4-7, ..., 28-31) by calling
 * `use(g)` after each is on the stack (`g` = which group of four).
 */
function quantGroups(f: Func, kind: QuantKind, ptr: () => void, tmp: number[], use: (g: number) => void): void {
  if (kind === 'q8_0') {
    for (let h = 0; h < 4; h++) {
      ptr();
      f.$('v128.load8x8_s', 2 + 8 * h).set(tmp[0]!);
      f.get(tmp[0]!).$('i32x4.extend_low_i16x8_s');
      use(2 * h);
      f.get(tmp[0]!).$('i32x4.extend_high_i16x8_s');
      use(2 * h + 1);
    }
    return;
  }
  // q4_0: byte j holds element j (low nibble) and element j + 16 (high nibble), both offset by 8.
  ptr();
  f.$('v128.load', 2).set(tmp[0]!);
  f.get(tmp[0]!).k('i32x4', 0x0f0f0f0f).$('v128.and').k('i32x4', 0x08080808).$('i8x16.sub').set(tmp[1]!);
  f.get(tmp[0]!).i32(4).$('i8x16.shr_u').k('i32x4', 0x08080808).$('i8x16.sub').set(tmp[2]!);
  for (let half = 0; half < 2; half++) {
    const src = tmp[1 + half]!;
    for (let h = 0; h < 2; h++) {
      f.get(src).$(h === 0 ? 'i16x8.extend_low_i8x16_s' : 'i16x8.extend_high_i8x16_s').set(tmp[3]!);
      f.get(tmp[3]!).$('i32x4.extend_low_i16x8_s');
      use(half * 4 + 2 * h);
      f.get(tmp[3]!).$('i32x4.extend_high_i16x8_s');
      use(half * 4 + 2 * h + 1);
    }
  }
}

function emitGemvDotQ(mb: ModuleBuilder, kind: QuantKind, fma: boolean): void {
  const f = mb.func(`gemvDot_${kind}`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
  const d = new Decoder(f, 'f16');
  const [K, A, B, RS, C, J0, J1] = [0, 1, 2, 3, 4, 5, 6];
  const BB = BLOCK_BYTES[kind];
  // Rows of W per pass: each row keeps a block accumulator and a total (2R registers) beside the activations in use
  // (2 for q8_0, 4 for q4_0), under the 16 vector registers V8 allocates on x64.
  const R = 4;
  const rows = new RowRuns(f, R, J0, J1);
  const blk = f.local('i32');
  const nblk = f.local('i32');
  const ap = f.local('i32');
  const ptr: number[] = [];
  for (let r = 0; r < R; r++) ptr.push(f.local('i32'));
  const acc: number[] = [];
  for (let r = 0; r < R; r++) acc.push(f.local('v128'));
  const bacc: number[] = [];
  for (let r = 0; r < R; r++) bacc.push(f.local('v128'));
  const xs = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const w = f.local('v128');
  const u = f.local('v128');
  const t = f.local('v128');
  /** bacc[r] += x * f32(i32 lanes of w's low / high i16 half). */
  const mac = (r: number, x: number, high: boolean) => {
    madd(f, fma, () => f.get(bacc[r]!), () => f.get(x), () => {
      f.get(w).$(high ? 'i32x4.extend_high_i16x8_s' : 'i32x4.extend_low_i16x8_s').$('f32x4.convert_i32x4_s');
    });
    f.set(bacc[r]!);
  };
  f.get(K).i32(5).$('i32.shr_u').set(nblk);
  rows.loop(() => {
    for (let r = 0; r < R; r++) {
      rows.ptr(r, B, RS);
      f.set(ptr[r]!);
      f.i32x4(0).set(acc[r]!);
    }
    f.get(A).set(ap);
    f.for_(blk, () => f.i32(0), () => f.get(nblk), 1, () => {
      for (let r = 0; r < R; r++) f.i32x4(0).set(bacc[r]!);
      if (kind === 'q8_0') {
        // eight quants at a time, sign-extended to i16 by the load
        for (let h = 0; h < 4; h++) {
          f.get(ap).$('v128.load', 32 * h).set(xs[0]!);
          f.get(ap).$('v128.load', 32 * h + 16).set(xs[1]!);
          for (let r = 0; r < R; r++) {
            f.get(ptr[r]!).$('v128.load8x8_s', 2 + 8 * h).set(w);
            mac(r, xs[0]!, false);
            mac(r, xs[1]!, true);
          }
        }
      } else {
        // eight bytes at a time, zero-extended to i16: low nibbles are elements 8h.., high nibbles 16 + 8h..
        for (let h = 0; h < 2; h++) {
          for (let q = 0; q < 2; q++) f.get(ap).$('v128.load', 32 * h + 16 * q).set(xs[q]!);
          for (let q = 0; q < 2; q++) f.get(ap).$('v128.load', 64 + 32 * h + 16 * q).set(xs[2 + q]!);
          for (let r = 0; r < R; r++) {
            f.get(ptr[r]!).$('v128.load8x8_u', 2 + 8 * h).set(u);
            f.get(u).k('i32x4', 0x000f000f).$('v128.and').k('i32x4', 0x00080008).$('i16x8.sub').set(w);
            mac(r, xs[0]!, false);
            mac(r, xs[1]!, true);
            f.get(u).i32(4).$('i16x8.shr_u').k('i32x4', 0x00080008).$('i16x8.sub').set(w);
            mac(r, xs[2]!, false);
            mac(r, xs[3]!, true);
          }
        }
      }
      for (let r = 0; r < R; r++) {
        madd(f, fma, () => f.get(acc[r]!), () => f.get(bacc[r]!), () => {
          d.load1(() => f.get(ptr[r]!));
          f.$('f32x4.splat');
        });
        f.set(acc[r]!);
        f.get(ptr[r]!).i32(BB).$('i32.add').set(ptr[r]!);
      }
      f.get(ap).i32(128).$('i32.add').set(ap);
    });
    for (let r = 0; r < R; r++) {
      rows.store(r, C, () => {
        f.get(acc[r]!).get(acc[r]!).get(acc[r]!).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('f32x4.add').tee(t);
        f.$('f32x4.extract_lane', 0).get(t).$('f32x4.extract_lane', 1).$('f32.add');
      });
    }
  });
}

/**
 * f16 bit patterns zero-extended in the i32 lanes of the vector in `h` (or, `high`, in their high halves over zeros)
 * -> their values times 2^-112, exactly, as f32x4:
 * sign | exponent | mantissa moved into f32 position (3 ops; f32 reads them with a bias 112 too large, so normals and
 * subnormals come out scaled by 2^-112 with no rounding), and inf / NaN (exponent 31) made f32 inf / NaN with their
 * payload. The caller folds 2^112 into the factor it multiplies by.
 */
function f16Scaled(f: Func, h: number, t: number, high = false): void {
  f.get(h);
  if (!high) f.i32(16).$('i32x4.shl');
  f.i32(3).$('i32x4.shr_s').k('i32x4', 0x8fffffff | 0).$('v128.and').set(t);
  f.get(t).k('i32x4', 0x7f800000).$('v128.or');
  f.get(t);
  f.get(t).k('i32x4', 0x7fffffff).$('v128.and').k('i32x4', 0x0f7fffff).$('i32x4.gt_s');
  f.$('v128.bitselect');
}

/**
 * gemvDotI_<q>(k, xq, dx, b, rsBytes, c, j0, j1): the same product with the activations quantized per block of 32 to
 * int16 (xq; per block the float32 scale times 2^112 in dx, then the int32 offset term 8 * sum(xq) used by q4_0):
 * integer dot products (i32x4.dot_i16x8_s: exact, at most 32 * 127 * 32767 per block). q4_0 multiplies the raw nibbles
 * and subtracts the offset term once per block. Per block, the four rows' integer sums are reduced into one vector,
 * converted once and scaled by the four rows' f16 scales (gathered into one vector by lane loads, decoded once) times
 * d_x, into one f32x4 holding the four outputs. Activation vectors are loaded where used, shared by the four rows, so
 * fewer vectors stay live than the 16 registers V8 allocates (measured on a cache-resident 512x3072, paired calls:
 * unrolling two or four blocks per iteration, which needs more, was 1.1-1.4x slower; eight rows per pass, two output
 * vectors, no faster).
 *
 * gemvDotI8_q4_0 (`int8`, emitted only with relaxed SIMD): the activations quantized to int8 instead (quantAct8: xq
 * 32 bytes per block), each block's 16 bytes of nibbles loaded once per row and masked into the low (elements 0-15)
 * and high (16-31) nibbles, 0..15, the i7 operand of i16x8.relaxed_dot_i8x16_i7x16_s with the int8 activations: its
 * result is then the same on every engine (x64: one pmaddubsw; pair sums at most 2 * 127 * 15, far from i16
 * saturation). The row's two dot vectors are added in i16 (lanes <= 7620) and the four rows reduced as above with the
 * lane halves added in i16 before one widening dot with ones (pairSums16). Why: the int16 kernel spends two loads,
 * four masks / shifts, four i32x4.dot_i16x8_s and three adds per row and block; this one a load, three masks / shifts,
 * two dots and an add, with the same per-block reduction. Measured in one process, alternating with the int16 kernel
 * (matmulF32xQ, relaxed SIMD on; 2 shared cores, load 1.2-3): one thread 1024x3072 in cache 17.4 -> 25.7 Gweights/s
 * (1.42-1.49x over runs), 8 x 3072x3072 from memory 16.6 -> 25.5 (1.35-1.54x); two threads 22.4 -> 33.1 and
 * 21.4 -> 28.1 on a quiet round (1.3-1.8x over noisy ones); the shipped model's q4 decode 1.07x tokens/s (its GEMVs
 * are small next to the rest of a token). Two blocks per iteration measured no faster (1.00-1.04x); without the fence
 * V8 spills smax (same speed). The int8 grid's step is max|a| / 127 per block (258x the int16 one): the shipped
 * model's q4 perplexity through the decode path (3060 tokens, one token per forward) is 29.528 against 29.533 with
 * int16 activations and 29.505 in bf16.
 */
function emitGemvDotI(mb: ModuleBuilder, kind: QuantKind, fma: boolean, int8 = false): void {
  const f = mb.func(int8 ? `gemvDotI8_${kind}` : `gemvDotI_${kind}`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [K, XQ, DX, B, RS, C, J0, J1] = [0, 1, 2, 3, 4, 5, 6, 7];
  const BB = BLOCK_BYTES[kind];
  const R = 4; // rows per pass: the lanes of the output vector
  const rows = new RowRuns(f, R, J0, J1);
  const blk = f.local('i32');
  const nblk = f.local('i32');
  const xp = f.local('i32');
  const dxp = f.local('i32');
  const sxp = f.local('i32');
  const ptr: number[] = [];
  for (let r = 0; r < R; r++) ptr.push(f.local('i32'));
  const acc = f.local('v128');
  const iacc: number[] = [];
  for (let r = 0; r < R; r++) iacc.push(f.local('v128'));
  const xs = [f.local('v128'), f.local('v128')];
  const u = f.local('v128');
  const s01 = f.local('v128');
  const s23 = f.local('v128');
  const sv = f.local('v128');
  const t = f.local('v128');
  const lanes = (...ls: number[]) => ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
  /** iacc[r] (+)= dot(w on the stack, x) */
  const dot = (r: number, x: number, first: boolean) => {
    f.get(x).$('i32x4.dot_i16x8_s');
    if (!first) f.get(iacc[r]!).$('i32x4.add');
    f.set(iacc[r]!);
  };
  /** [p0+p2, p1+p3, q0+q2, q1+q3] of two i32x4 locals */
  const pairSums = (p: number, q: number) => {
    f.get(p).get(q).shuffle(lanes(0, 1, 4, 5));
    f.get(p).get(q).shuffle(lanes(2, 3, 6, 7));
    f.$('i32x4.add');
  };
  /** pairSums of two i16x8 locals, each lane below 2^13: the lanes' halves added in i16, then pairs widened */
  const pairSums16 = (p: number, q: number) => {
    f.get(p).get(q).shuffle(lanes(0, 1, 4, 5));
    f.get(p).get(q).shuffle(lanes(2, 3, 6, 7));
    f.$('i16x8.add').k('i32x4', 0x00010001).$('i32x4.dot_i16x8_s');
  };
  const smax = f.local('v128');
  f.get(K).i32(5).$('i32.shr_u').set(nblk);
  /** acc = the four rows' outputs; exact: every scale decoded by f16Scaled, else finite scales only (smax flags others) */
  const pass = (exact: boolean) => {
    for (let r = 0; r < R; r++) {
      rows.ptr(r, B, RS);
      f.set(ptr[r]!);
    }
    f.i32x4(0).set(acc);
    f.get(XQ).set(xp);
    f.get(DX).set(dxp);
    f.get(DX).get(nblk).i32(2).$('i32.shl').$('i32.add').set(sxp);
    f.for_(blk, () => f.i32(0), () => f.get(nblk), 1, () => {
      if (int8) {
        // the block's 16 bytes: low nibbles are elements 0-15, high nibbles 16-31 (0..15, the i7 operand)
        f.get(xp).$('v128.load', 0).set(xs[0]!);
        f.get(xp).$('v128.load', 16).set(xs[1]!);
        for (let r = 0; r < R; r++) {
          f.get(ptr[r]!).$('v128.load', 2).set(u);
          f.get(xs[0]!).get(u).k('i32x4', 0x0f0f0f0f).$('v128.and').$('i16x8.relaxed_dot_i8x16_i7x16_s');
          f.get(xs[1]!).get(u).i32(4).$('i16x8.shr_u').k('i32x4', 0x0f0f0f0f).$('v128.and').$('i16x8.relaxed_dot_i8x16_i7x16_s');
          f.$('i16x8.add').set(iacc[r]!);
        }
        f.fence(K, iacc);
      } else if (kind === 'q8_0') {
        // eight quants at a time, sign-extended to i16 by the load
        for (let h = 0; h < 4; h++) {
          f.get(xp).$('v128.load', 16 * h).set(xs[0]!);
          for (let r = 0; r < R; r++) {
            f.get(ptr[r]!).$('v128.load8x8_s', 2 + 8 * h);
            dot(r, xs[0]!, h === 0);
          }
          f.fence(K, iacc);
        }
      } else {
        // bytes 8h..8h+7, zero-extended to i16: low nibbles are elements 8h.., high nibbles 16 + 8h..
        for (let h = 0; h < 2; h++) {
          f.get(xp).$('v128.load', 16 * h).set(xs[0]!);
          f.get(xp).$('v128.load', 32 + 16 * h).set(xs[1]!);
          for (let r = 0; r < R; r++) {
            f.get(ptr[r]!).$('v128.load8x8_u', 2 + 8 * h).set(u);
            f.get(u).k('i32x4', 0x000f000f).$('v128.and');
            dot(r, xs[0]!, h === 0);
            f.get(u).i32(4).$('i16x8.shr_u');
            dot(r, xs[1]!, false);
          }
          f.fence(K, iacc);
        }
      }
      (int8 ? pairSums16 : pairSums)(iacc[0]!, iacc[1]!);
      f.set(s01);
      (int8 ? pairSums16 : pairSums)(iacc[2]!, iacc[3]!);
      f.set(s23);
      // the four rows' f16 scales into the high halves of the i32 lanes
      f.i32x4(0).set(sv);
      for (let r = 0; r < R; r++) f.get(ptr[r]!).get(sv).$('v128.load16_lane', 0, 2 * r + 1).set(sv);
      if (!exact) f.get(smax).get(sv).i32(1).$('i32x4.shl').$('i32x4.max_u').set(smax);
      madd(f, fma, () => f.get(acc), () => {
        f.get(s01).get(s23).shuffle(lanes(0, 2, 4, 6));
        f.get(s01).get(s23).shuffle(lanes(1, 3, 5, 7));
        f.$('i32x4.add');
        if (kind === 'q4_0') f.get(sxp).$('v128.load32_splat').$('i32x4.sub'); // the offset 8
        f.$('f32x4.convert_i32x4_s');
      }, () => {
        if (exact) f16Scaled(f, sv, t, true);
        else f.get(sv).i32(3).$('i32x4.shr_s').k('i32x4', 0x8fffffff | 0).$('v128.and'); // finite: f16Scaled without its inf / NaN step
        f.get(dxp).$('v128.load32_splat').$('f32x4.mul');
      });
      f.set(acc);
      for (let r = 0; r < R; r++) f.get(ptr[r]!).i32(BB).$('i32.add').set(ptr[r]!);
      f.get(xp).i32(int8 ? 32 : 64).$('i32.add').set(xp);
      f.get(dxp).i32(4).$('i32.add').set(dxp);
      f.get(sxp).i32(4).$('i32.add').set(sxp);
    });
  };
  rows.loop(() => {
    f.i32x4(0).set(smax);
    pass(false);
    // a scale with exponent 31 (inf / NaN; its bits shifted left by 17 reach 0xf8000000): the pass again, exactly
    f.get(smax).k('i32x4', 0xf7ffffff | 0).$('i32x4.gt_u').$('v128.any_true').if_();
    pass(true);
    f.$('end');
    for (let r = 0; r < R; r++) rows.store(r, C, () => f.get(acc).$('f32x4.extract_lane', r));
  });
}

/**
 * quantAct(k, a, xq, dx, sx) -> 1, or 0 when an activation is not finite or above 2^30: the activations a[0, k) (k a
 * multiple of 32) quantized per block of 32 for gemvDotI: d = max|a| / 32767 (float32), xq = a / d rounded to nearest
 * (int16, clamped to |xq| <= 32767; 0 when d = 0), dx = d * 2^112, sx = 8 * sum(xq). |a - xq d| <= d / 2 up to the rounding of
 * the quotient, and the kernel reads xq exactly, so the GEMV's error is that of the activations' grid.
 * quantAct8 (`levels` 127): the same to int8 (d = max|a| / 127, |xq| <= 127, k bytes of xq) for gemvDotI8_q4_0.
 */
function emitQuantAct(mb: ModuleBuilder, levels: 32767 | 127): void {
  const f = mb.func(levels === 127 ? 'quantAct8' : 'quantAct', ['i32', 'i32', 'i32', 'i32', 'i32'], ['i32']);
  const per = levels === 127 ? 4 : 2; // i32x4 of quants narrowed into each 16-byte store
  const [K, A, XQ, DX, SX] = [0, 1, 2, 3, 4];
  const b = f.local('i32');
  const ap = f.local('i32');
  const xp = f.local('i32');
  const v: number[] = [];
  for (let i = 0; i < 8; i++) v.push(f.local('v128'));
  const m = f.local('v128');
  const dv = f.local('v128');
  const sum = f.local('v128');
  const q = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const amax = f.local('f32');
  const d = f.local('f32');
  f.get(A).set(ap);
  f.get(XQ).set(xp);
  f.for_(b, () => f.i32(0), () => f.get(K).i32(5).$('i32.shr_u'), 1, () => {
    for (let i = 0; i < 8; i++) f.get(ap).$('v128.load', 16 * i).set(v[i]!);
    f.get(v[0]!).$('f32x4.abs');
    for (let i = 1; i < 8; i++) f.get(v[i]!).$('f32x4.abs').$('f32x4.max');
    f.set(m);
    f.get(m).get(m).get(m).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('f32x4.max').set(m);
    f.get(m).get(m).get(m).shuffle([4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]).$('f32x4.max');
    f.$('f32x4.extract_lane', 0).set(amax);
    // not finite (NaN fails the comparison) or so large that d * 2^112 could overflow
    f.get(amax).f32(2 ** 30).$('f32.le').$('i32.eqz').if_().i32(0).$('return').$('end');
    f.get(amax).f32(levels).$('f32.div').set(d);
    f.get(DX).get(b).i32(2).$('i32.shl').$('i32.add').get(d).f32(2 ** 112).$('f32.mul').$('f32.store');
    // d = 0 (all zero, or amax below float32's range over 32767): a / inf quantizes every value to 0
    f.f32(Infinity).get(d).get(d).f32(0).$('f32.eq').$('select').$('f32x4.splat').set(dv);
    for (let h = 0; h < 8 / per; h++) {
      for (let i = 0; i < per; i++) {
        // clamped: with a subnormal d (or the rounding of amax / levels) the quotient can pass the levels
        f.get(v[per * h + i]!).get(dv).$('f32x4.div').$('f32x4.nearest').$('i32x4.trunc_sat_f32x4_s');
        f.k('i32x4', levels).$('i32x4.min_s').k('i32x4', -levels).$('i32x4.max_s').tee(q[i]!);
        if (h > 0 || i > 0) f.get(sum).$('i32x4.add');
        f.set(sum);
      }
      f.get(xp).get(q[0]!).get(q[1]!).$('i16x8.narrow_i32x4_s');
      if (per === 4) f.get(q[2]!).get(q[3]!).$('i16x8.narrow_i32x4_s').$('i8x16.narrow_i16x8_s');
      f.$('v128.store', 16 * h);
    }
    f.get(sum).get(sum).get(sum).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('i32x4.add').set(sum);
    f.get(SX).get(b).i32(2).$('i32.shl').$('i32.add');
    f.get(sum).$('i32x4.extract_lane', 0).get(sum).$('i32x4.extract_lane', 1).$('i32.add').i32(3).$('i32.shl');
    f.$('i32.store');
    f.get(ap).i32(128).$('i32.add').set(ap);
    f.get(xp).i32(levels === 127 ? 32 : 64).$('i32.add').set(xp);
  });
  f.i32(1);
}

function emitDequantQ(mb: ModuleBuilder, kind: QuantKind): void {
  const f = mb.func(`dequant_${kind}`, ['i32', 'i32', 'i32'], []);
  const d = new Decoder(f, 'f16');
  const [SRC, NB, DST] = [0, 1, 2];
  const BB = BLOCK_BYTES[kind];
  const i = f.local('i32');
  const s = f.local('i32');
  const o = f.local('i32');
  const scale = f.local('v128');
  const v = f.local('v128');
  const tmp = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  f.get(SRC).set(s);
  f.get(DST).set(o);
  f.for_(i, () => f.i32(0), () => f.get(NB), 1, () => {
    d.load1(() => f.get(s));
    f.$('f32x4.splat').set(scale);
    quantGroups(f, kind, () => f.get(s), tmp, (g) => {
      f.$('f32x4.convert_i32x4_s').get(scale).$('f32x4.mul').set(v);
      f.get(o).get(v).$('v128.store', 16 * g);
    });
    f.get(s).i32(BB).$('i32.add').set(s);
    f.get(o).i32(128).$('i32.add').set(o);
  });
}

/**
 * Tile of the integer GEMM (m > 1): MR rows x NR columns of int32 accumulators (MR * NR / 4 vectors) beside NR / 4
 * vectors of B and one splat of A, under the 16 vector registers V8 allocates on x64; KCB blocks of 32 k per packed
 * B micro-panel (KCB * NR * 68 bytes, in L1 while it meets every row panel of A); NC columns per pass over k, so the
 * KCB-block slice of packed A (m * KCB * 68 bytes) stays in L2 across them. Measured at 128 x 3072 x 3072, one thread,
 * kernel alone: 4 x 8 against 6 x 8, 5 x 8, 4 x 12, 3 x 12, 2 x 16 was the fastest (1.1-1.5x); KCB 8 / 32 and NC 64 /
 * 256 within noise; one pass over all columns per k slice (A streamed from L3 when m k is large) 1.4x slower.
 */
export const QGEMM = { MR: 4, NR: 8, KCB: 16, NC: 128 } as const;
/** Bytes of one block of a packed A row panel: 16 (k, k + 1) pairs of int16 per row, then the MR row scales. */
export const QGEMM_A_BLOCK = 68 * QGEMM.MR;
/** Bytes of one block of a packed B micro-panel: 16 pairs x NR columns of int16, then the NR column scales. */
export const QGEMM_B_BLOCK = 68 * QGEMM.NR;

/**
 * packAq(m, k, xq, dx, dst): the rows of activations quantized by quantAct (xq [m, k] int16, dx [m, k / 32] scales
 * times 2^112) into MR-row panels: per panel and block of 32 k, pair p's MR int32 words (the int16 pair (2p, 2p + 1)
 * of each row) in row order, then the MR scales; rows past m are zero.
 */
function emitPackAq(mb: ModuleBuilder): void {
  const { MR } = QGEMM;
  const f = mb.func('packAq', ['i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [M, K, XQ, DX, DST] = [0, 1, 2, 3, 4];
  const ir = f.local('i32');
  const b = f.local('i32');
  const p = f.local('i32');
  const nblk = f.local('i32');
  const dp = f.local('i32');
  const xp: number[] = [];
  const sp: number[] = [];
  for (let r = 0; r < MR; r++) xp.push(f.local('i32'));
  for (let r = 0; r < MR; r++) sp.push(f.local('i32'));
  f.get(K).i32(5).$('i32.shr_u').set(nblk);
  f.get(DST).set(dp);
  f.for_(ir, () => f.i32(0), () => f.get(M), MR, () => {
    for (let r = 0; r < MR; r++) {
      // row ir + r clamped to m - 1 (its values are replaced by zeros below)
      f.get(ir).i32(r).$('i32.add').get(M).i32(1).$('i32.sub').get(ir).i32(r).$('i32.add').get(M).i32(1).$('i32.sub').$('i32.lt_s').$('select').set(sp[r]!);
      f.get(XQ).get(sp[r]!).get(K).$('i32.mul').i32(1).$('i32.shl').$('i32.add').set(xp[r]!);
      f.get(DX).get(sp[r]!).get(nblk).$('i32.mul').i32(2).$('i32.shl').$('i32.add').set(sp[r]!);
    }
    f.for_(b, () => f.i32(0), () => f.get(nblk), 1, () => {
      f.for_(p, () => f.i32(0), () => f.i32(16), 1, () => {
        for (let r = 0; r < MR; r++) {
          f.get(dp).get(xp[r]!).$('i32.load').i32(0).get(ir).i32(r).$('i32.add').get(M).$('i32.lt_s').$('select').$('i32.store', 4 * r);
          f.get(xp[r]!).i32(4).$('i32.add').set(xp[r]!);
        }
        f.get(dp).i32(4 * MR).$('i32.add').set(dp);
      });
      for (let r = 0; r < MR; r++) {
        f.get(dp).get(sp[r]!).$('f32.load').f32(0).get(ir).i32(r).$('i32.add').get(M).$('i32.lt_s').$('select').$('f32.store', 4 * r);
        f.get(sp[r]!).i32(4).$('i32.add').set(sp[r]!);
      }
      f.get(dp).i32(4 * MR).$('i32.add').set(dp);
    });
  });
}

/**
 * packBq_<q>(src, rsBytes, nr, nblk, dst): nblk blocks of NR rows of W (row c at src + min(c, nr - 1) * rsBytes: a
 * short panel repeats its last row, whose outputs the driver drops) as int16 for the microkernel: per block, for each
 * pair p of k, NR / 4 vectors each holding four rows' (2p, 2p + 1) quants, then the NR scales (f16 decoded times
 * 2^-112, exactly, as gemvDotI gathers them). q4_0's offset 8 is subtracted here.
 */
function emitPackBq(mb: ModuleBuilder, kind: QuantKind): void {
  const { NR } = QGEMM;
  const NV = NR / 4;
  const f = mb.func(`packBq_${kind}`, ['i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [SRC, RS, NRA, NB, DST] = [0, 1, 2, 3, 4];
  const BB = BLOCK_BYTES[kind];
  const b = f.local('i32');
  const dp = f.local('i32');
  const ptr: number[] = [];
  for (let c = 0; c < NR; c++) ptr.push(f.local('i32'));
  const rv = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const tv = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const sv = f.local('v128');
  const t = f.local('v128');
  const lanes = (...ls: number[]) => ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
  for (let c = 0; c < NR; c++) {
    f.get(SRC);
    f.i32(c).get(NRA).i32(1).$('i32.sub').i32(c).get(NRA).i32(1).$('i32.sub').$('i32.lt_s').$('select');
    f.get(RS).$('i32.mul').$('i32.add').set(ptr[c]!);
  }
  f.get(DST).set(dp);
  /** Pushes elements 8h .. 8h + 7 of the block at ptr as i16x8. */
  const group = (ptr: number, h: number) => {
    if (kind === 'q8_0') {
      f.get(ptr).$('v128.load8x8_s', 2 + 8 * h);
      return;
    }
    f.get(ptr).$('v128.load', 2);
    if (h < 2) f.k('i32x4', 0x0f0f0f0f).$('v128.and');
    else f.i32(4).$('i8x16.shr_u');
    f.k('i32x4', 0x08080808).$('i8x16.sub');
    f.$(h % 2 === 0 ? 'i16x8.extend_low_i8x16_s' : 'i16x8.extend_high_i8x16_s');
  };
  f.for_(b, () => f.i32(0), () => f.get(NB), 1, () => {
    for (let v = 0; v < NV; v++) {
      for (let h = 0; h < 4; h++) {
        // rv[c] = pairs 4h .. 4h + 3 of row 4v + c; transposed so that vector i holds pair 4h + i of the four rows
        for (let c = 0; c < 4; c++) {
          group(ptr[4 * v + c]!, h);
          f.set(rv[c]!);
        }
        f.get(rv[0]!).get(rv[1]!).shuffle(lanes(0, 4, 1, 5)).set(tv[0]!);
        f.get(rv[2]!).get(rv[3]!).shuffle(lanes(0, 4, 1, 5)).set(tv[1]!);
        f.get(rv[0]!).get(rv[1]!).shuffle(lanes(2, 6, 3, 7)).set(tv[2]!);
        f.get(rv[2]!).get(rv[3]!).shuffle(lanes(2, 6, 3, 7)).set(tv[3]!);
        for (let i = 0; i < 4; i++) {
          const [x, y] = i < 2 ? [tv[0]!, tv[1]!] : [tv[2]!, tv[3]!];
          f.get(dp).get(x).get(y).shuffle(i % 2 === 0 ? lanes(0, 1, 4, 5) : lanes(2, 3, 6, 7)).$('v128.store', ((4 * h + i) * NV + v) * 16);
        }
      }
      f.i32x4(0).set(sv);
      for (let c = 0; c < 4; c++) f.get(ptr[4 * v + c]!).get(sv).$('v128.load16_lane', 0, 2 * c).set(sv);
      f.get(dp);
      f16Scaled(f, sv, t);
      f.$('v128.store', 16 * NV * 16 + 16 * v);
    }
    for (let c = 0; c < NR; c++) f.get(ptr[c]!).i32(BB).$('i32.add').set(ptr[c]!);
    f.get(dp).i32(QGEMM_B_BLOCK).$('i32.add').set(dp);
  });
}

/**
 * qgemmKernel(nblk, ap, bp, cp, ldcBytes): C[MR, NR] at cp += A panel times B micro-panel over nblk blocks. Per block,
 * i32x4.dot_i16x8_s of an i32 splat of a row's (k, k + 1) pair with a B vector gives four columns' products for two
 * k (exact int32 over the block), then each accumulator is converted and scaled by its column scales times the row
 * scale (2^-112 and 2^112 cancel) into C, which stays in L1 across the blocks.
 */
function emitQgemmKernel(mb: ModuleBuilder, fma: boolean): void {
  const { MR, NR } = QGEMM;
  const NV = NR / 4;
  const f = mb.func('qgemmKernel', ['i32', 'i32', 'i32', 'i32', 'i32'], [], false);
  const [NB, AP, BP, CP, LDC] = [0, 1, 2, 3, 4];
  const b = f.local('i32');
  const cr = f.local('i32');
  const acc: number[] = [];
  for (let i = 0; i < MR * NV; i++) acc.push(f.local('v128'));
  const bv: number[] = [];
  for (let v = 0; v < NV; v++) bv.push(f.local('v128'));
  const av = f.local('v128');
  /** acc (+)= the products of pair q of the block at ap, bp */
  const pair = (q: number) => {
    for (let v = 0; v < NV; v++) f.get(BP).$('v128.load', (q * NV + v) * 16).set(bv[v]!);
    for (let r = 0; r < MR; r++) {
      f.get(AP).$('v128.load32_splat', (q * MR + r) * 4).set(av);
      for (let v = 0; v < NV; v++) {
        const a = acc[r * NV + v]!;
        f.get(bv[v]!).get(av).$('i32x4.dot_i16x8_s');
        if (q > 0) f.get(a).$('i32x4.add');
        f.set(a);
      }
    }
  };
  f.for_(b, () => f.i32(0), () => f.get(NB), 1, () => {
    // The block's 16 pairs unrolled, a fence after each: without one V8 schedules the loads of every pair above the
    // dot products and spills them (1.5x slower measured); one pair per loop iteration paid the loop's 7 instructions.
    for (let q = 0; q < 16; q++) {
      pair(q);
      if (q < 15) f.fence(NB, acc);
    }
    for (let v = 0; v < NV; v++) f.get(BP).$('v128.load', 16 * NV * 16 + 16 * v).set(bv[v]!);
    f.get(CP).set(cr);
    for (let r = 0; r < MR; r++) {
      f.get(AP).$('v128.load32_splat', 64 * MR + 4 * r).set(av);
      for (let v = 0; v < NV; v++) {
        f.get(cr);
        madd(f, fma, () => f.get(cr).$('v128.load', 16 * v), () => f.get(acc[r * NV + v]!).$('f32x4.convert_i32x4_s'), () => f.get(bv[v]!).get(av).$('f32x4.mul'));
        f.$('v128.store', 16 * v);
      }
      if (r < MR - 1) f.get(cr).get(LDC).$('i32.add').set(cr);
    }
    f.get(AP).i32(QGEMM_A_BLOCK).$('i32.add').set(AP);
    f.get(BP).i32(QGEMM_B_BLOCK).$('i32.add').set(BP);
  });
}

/**
 * qgemm_<q>(m, nblk, apack, b, rsBytes, c, ldc, n0, n1, bpack, tmp): columns [n0, n1) of C [m, *] = A W^T with A
 * packed by packAq and W's rows in q blocks (row j at b + j * rsBytes). Per NC columns, per KCB blocks, per NR
 * columns: packs the B micro-panel once (bpack: KCB * QGEMM_B_BLOCK bytes) and runs it against every row panel of A;
 * C is zeroed first and accumulated block by block in k order, so each output's arithmetic does not depend on how columns are split. Edge
 * tiles go through tmp (MR * NR floats). ldc in elements.
 */
function emitQgemmDriver(mb: ModuleBuilder, kind: QuantKind): void {
  const { MR, NR, KCB, NC } = QGEMM;
  const uk = mb.index('qgemmKernel');
  const pb = mb.index(`packBq_${kind}`);
  const f = mb.func(`qgemm_${kind}`, Array(11).fill('i32'), []);
  const [M, NBK, AP, B, RS, C, LDC, N0, N1, BP, TMP] = Array.from({ length: 11 }, (_, i) => i);
  const BB = BLOCK_BYTES[kind];
  const jc = f.local('i32');
  const jend = f.local('i32');
  const jr = f.local('i32');
  const nr = f.local('i32');
  const pc = f.local('i32');
  const kcb = f.local('i32');
  const ir = f.local('i32');
  const mr = f.local('i32');
  const cp = f.local('i32');
  const y = f.local('i32');
  const x = f.local('i32');
  const min = (dst: number, lim: number, a: () => void) => {
    a();
    f.set(dst);
    f.get(dst).i32(lim).$('i32.gt_s').if_().i32(lim).set(dst).$('end');
  };
  const cAddr = (row: () => void, col: () => void) => {
    f.get(C);
    row();
    f.get(LDC).$('i32.mul');
    col();
    f.$('i32.add').i32(2).$('i32.shl').$('i32.add');
  };
  f.for_(y, () => f.i32(0), () => f.get(M), 1, () => {
    f.for_(x, () => f.get(N0), () => f.get(N1), 1, () => {
      cAddr(() => f.get(y), () => f.get(x));
      f.f32(0).$('f32.store');
    });
  });
  f.for_(jc, () => f.get(N0), () => f.get(N1), NC, () => {
   min(jend, NC, () => f.get(N1).get(jc).$('i32.sub'));
   f.get(jend).get(jc).$('i32.add').set(jend);
   f.for_(pc, () => f.i32(0), () => f.get(NBK), KCB, () => {
    min(kcb, KCB, () => f.get(NBK).get(pc).$('i32.sub'));
    f.for_(jr, () => f.get(jc), () => f.get(jend), NR, () => {
      min(nr, NR, () => f.get(jend).get(jr).$('i32.sub'));
      f.get(B).get(jr).get(RS).$('i32.mul').$('i32.add').get(pc).i32(BB).$('i32.mul').$('i32.add');
      f.get(RS).get(nr).get(kcb).get(BP).call(pb);
      f.for_(ir, () => f.i32(0), () => f.get(M), MR, () => {
        min(mr, MR, () => f.get(M).get(ir).$('i32.sub'));
        cAddr(() => f.get(ir), () => f.get(jr));
        f.set(cp);
        // A panel ir / MR, block pc
        const aAddr = () => {
          f.get(AP).get(ir).i32(MR).$('i32.div_u').get(NBK).$('i32.mul').get(pc).$('i32.add').i32(QGEMM_A_BLOCK).$('i32.mul').$('i32.add');
        };
        f.get(mr).i32(MR).$('i32.eq').get(nr).i32(NR).$('i32.eq').$('i32.and').if_();
        f.get(kcb);
        aAddr();
        f.get(BP).get(cp).get(LDC).i32(2).$('i32.shl').call(uk);
        f.$('else');
        const tile = (toTmp: boolean) => {
          f.for_(y, () => f.i32(0), () => f.get(mr), 1, () => {
            f.for_(x, () => f.i32(0), () => f.get(nr), 1, () => {
              const t = () => f.get(TMP).get(y).i32(NR).$('i32.mul').get(x).$('i32.add').i32(2).$('i32.shl').$('i32.add');
              const c = () => f.get(cp).get(y).get(LDC).$('i32.mul').get(x).$('i32.add').i32(2).$('i32.shl').$('i32.add');
              if (toTmp) {
                t();
                c();
              } else {
                c();
                t();
              }
              f.$('f32.load').$('f32.store');
            });
          });
        };
        tile(true);
        f.get(kcb);
        aAddr();
        f.get(BP).get(TMP).i32(NR * 4).call(uk);
        tile(false);
        f.$('end');
      });
    });
   });
  });
}

/** Emits the quantized-B kernels (needs the f32 GEMM's helpers already emitted). */
export function emitGemmQ(mb: ModuleBuilder, p: GemmParams): void {
  emitQgemmKernel(mb, p.fma);
  for (const q of QUANT_KINDS) {
    emitGemvDotQ(mb, q, p.fma);
    emitBatched(mb, `gemvDot_${q}`, 7, [1, 2, 4]);
    emitGemvDotI(mb, q, p.fma);
    // relaxed SIMD (which p.fma stands for): q4_0's nibbles are 7-bit operands of i16x8.relaxed_dot_i8x16_i7x16_s
    if (q === 'q4_0' && p.fma) emitGemvDotI(mb, q, p.fma, true);
    emitDequantQ(mb, q);
    emitPackBq(mb, q);
    emitQgemmDriver(mb, q);
  }
  emitQuantAct(mb, 32767);
  emitQuantAct(mb, 127);
  emitPackAq(mb);
}
