// Emits matmul kernels whose B operand is llama.cpp q8_0 / q4_0 blocks (B = W^T, blocks along K), decoded in
// registers so the weights stream from memory at 8.5 / 4.5 bits each:
//  - gemvDotI_<q>(k, xq, dx, b, rsBytes, c, j0, j1): m == 1, y[j] = dot(a, W[j, :]) for j in [j0, j1), k a multiple
//    of 32, with `a` quantized to int16 per block (xq, scales dx): integer dot products, one float scale per block.
//  - gemvDot_<q>(k, a, b, rsBytes, c, j0, j1): the same in float (quants widened to f32), for activations int16
//    cannot carry (inf, NaN). R rows of W at a time share each loaded vector of activations in both.
//  - dequant_<q>(src, nblocks, dst): decodes contiguous blocks to f32 (exactly: quant * scale), for m > 1, where the
//    driver decodes column panels of W into f32 and runs the f32 GEMM on them.
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
 * f16 bit patterns zero-extended in the i32 lanes of the vector in `h` -> their values times 2^-112, exactly, as f32x4:
 * sign | exponent | mantissa moved into f32 position (3 ops; f32 reads them with a bias 112 too large, so normals and
 * subnormals come out scaled by 2^-112 with no rounding), and inf / NaN (exponent 31) made f32 inf / NaN with their
 * payload. The caller folds 2^112 into the factor it multiplies by.
 */
function f16Scaled(f: Func, h: number, t: number): void {
  f.get(h).i32(16).$('i32x4.shl').i32(3).$('i32x4.shr_s').k('i32x4', 0x8fffffff | 0).$('v128.and').set(t);
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
 */
function emitGemvDotI(mb: ModuleBuilder, kind: QuantKind, fma: boolean): void {
  const f = mb.func(`gemvDotI_${kind}`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
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
  f.get(K).i32(5).$('i32.shr_u').set(nblk);
  rows.loop(() => {
    for (let r = 0; r < R; r++) {
      rows.ptr(r, B, RS);
      f.set(ptr[r]!);
    }
    f.i32x4(0).set(acc);
    f.get(XQ).set(xp);
    f.get(DX).set(dxp);
    f.get(DX).get(nblk).i32(2).$('i32.shl').$('i32.add').set(sxp);
    f.for_(blk, () => f.i32(0), () => f.get(nblk), 1, () => {
      if (kind === 'q8_0') {
        // eight quants at a time, sign-extended to i16 by the load
        for (let h = 0; h < 4; h++) {
          f.get(xp).$('v128.load', 16 * h).set(xs[0]!);
          for (let r = 0; r < R; r++) {
            f.get(ptr[r]!).$('v128.load8x8_s', 2 + 8 * h);
            dot(r, xs[0]!, h === 0);
          }
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
        }
      }
      pairSums(iacc[0]!, iacc[1]!);
      f.set(s01);
      pairSums(iacc[2]!, iacc[3]!);
      f.set(s23);
      // the four rows' f16 scales into the low halves of the i32 lanes (zero-extended)
      f.i32x4(0).set(sv);
      for (let r = 0; r < R; r++) f.get(ptr[r]!).get(sv).$('v128.load16_lane', 0, 2 * r).set(sv);
      madd(f, fma, () => f.get(acc), () => {
        f.get(s01).get(s23).shuffle(lanes(0, 2, 4, 6));
        f.get(s01).get(s23).shuffle(lanes(1, 3, 5, 7));
        f.$('i32x4.add');
        if (kind === 'q4_0') f.get(sxp).$('v128.load32_splat').$('i32x4.sub'); // the offset 8
        f.$('f32x4.convert_i32x4_s');
      }, () => {
        f16Scaled(f, sv, t);
        f.get(dxp).$('v128.load32_splat').$('f32x4.mul');
      });
      f.set(acc);
      for (let r = 0; r < R; r++) f.get(ptr[r]!).i32(BB).$('i32.add').set(ptr[r]!);
      f.get(xp).i32(64).$('i32.add').set(xp);
      f.get(dxp).i32(4).$('i32.add').set(dxp);
      f.get(sxp).i32(4).$('i32.add').set(sxp);
    });
    for (let r = 0; r < R; r++) rows.store(r, C, () => f.get(acc).$('f32x4.extract_lane', r));
  });
}

/**
 * quantAct(k, a, xq, dx, sx) -> 1, or 0 when an activation is not finite or above 2^30: the activations a[0, k) (k a
 * multiple of 32) quantized per block of 32 for gemvDotI: d = max|a| / 32767 (float32), xq = a / d rounded to nearest
 * (int16, clamped to |xq| <= 32767; 0 when d = 0), dx = d * 2^112, sx = 8 * sum(xq). |a - xq d| <= d / 2 up to the rounding of
 * the quotient, and the kernel reads xq exactly, so the GEMV's error is that of the activations' grid.
 */
function emitQuantAct(mb: ModuleBuilder): void {
  const f = mb.func('quantAct', ['i32', 'i32', 'i32', 'i32', 'i32'], ['i32']);
  const [K, A, XQ, DX, SX] = [0, 1, 2, 3, 4];
  const b = f.local('i32');
  const ap = f.local('i32');
  const xp = f.local('i32');
  const v: number[] = [];
  for (let i = 0; i < 8; i++) v.push(f.local('v128'));
  const m = f.local('v128');
  const dv = f.local('v128');
  const sum = f.local('v128');
  const q = [f.local('v128'), f.local('v128')];
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
    f.get(amax).f32(32767).$('f32.div').set(d);
    f.get(DX).get(b).i32(2).$('i32.shl').$('i32.add').get(d).f32(2 ** 112).$('f32.mul').$('f32.store');
    // d = 0 (all zero, or amax below float32's range over 32767): a / inf quantizes every value to 0
    f.f32(Infinity).get(d).get(d).f32(0).$('f32.eq').$('select').$('f32x4.splat').set(dv);
    for (let h = 0; h < 4; h++) {
      for (let i = 0; i < 2; i++) {
        // clamped: with a subnormal d the quotient can pass 32767
        f.get(v[2 * h + i]!).get(dv).$('f32x4.div').$('f32x4.nearest').$('i32x4.trunc_sat_f32x4_s');
        f.k('i32x4', 32767).$('i32x4.min_s').k('i32x4', -32767).$('i32x4.max_s').set(q[i]!);
      }
      if (h === 0) f.get(q[0]!).get(q[1]!).$('i32x4.add').set(sum);
      else f.get(sum).get(q[0]!).$('i32x4.add').get(q[1]!).$('i32x4.add').set(sum);
      f.get(xp).get(q[0]!).get(q[1]!).$('i16x8.narrow_i32x4_s').$('v128.store', 16 * h);
    }
    f.get(sum).get(sum).get(sum).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('i32x4.add').set(sum);
    f.get(SX).get(b).i32(2).$('i32.shl').$('i32.add');
    f.get(sum).$('i32x4.extract_lane', 0).get(sum).$('i32x4.extract_lane', 1).$('i32.add').i32(3).$('i32.shl');
    f.$('i32.store');
    f.get(ap).i32(128).$('i32.add').set(ap);
    f.get(xp).i32(64).$('i32.add').set(xp);
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

/** Emits the quantized-B kernels (needs the f32 GEMM's helpers already emitted). */
export function emitGemmQ(mb: ModuleBuilder, p: GemmParams): void {
  for (const q of QUANT_KINDS) {
    emitGemvDotQ(mb, q, p.fma);
    emitBatched(mb, `gemvDot_${q}`, 7, [1, 2, 4]);
    emitGemvDotI(mb, q, p.fma);
    emitDequantQ(mb, q);
  }
  emitQuantAct(mb);
}
