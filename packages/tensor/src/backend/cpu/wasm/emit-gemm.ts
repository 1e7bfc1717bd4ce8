// Emits the matmul kernels: packing of A/B panels, an MR x NR register-tiled microkernel and the
// blocked driver (all in WebAssembly SIMD), plus two GEMV kernels for m == 1.
import type { Func, ModuleBuilder } from './emit.js';

export interface GemmParams {
  MR: number; // rows of the register tile
  NR: number; // columns of the register tile (multiple of 4)
  KC: number; // K block (B micro-panel KC x NR stays in L1)
  MC: number; // M block (packed A, MC x KC, stays in L2)
  NC: number; // N block (packed B, KC x NC, in L2/L3)
  unroll: number;
  fma: boolean; // use f32x4.relaxed_madd
}

/**
 * 5 x 8: 10 accumulators + 2 B vectors + 1 A splat fit the 16 vector registers engines use on x64 (V8 has no
 * xmm16-31); 6 x 16 (24 accumulators) spilled, which cost little with mul + add but halved relaxed_madd. 1024^3 on one
 * thread against the maddPeak ceiling, same run: 0.79 / 0.79 (mul + add / relaxed_madd), 6 x 16 0.59 / 0.54.
 */
export const DEFAULT_GEMM: GemmParams = { MR: 5, NR: 8, KC: 256, MC: 120, NC: 2048, unroll: 1, fma: false };

/** Pushes acc + x * y (fused when `fma`). */
export function madd(f: Func, fma: boolean, acc: () => void, x: () => void, y: () => void): void {
  if (fma) {
    x();
    y();
    acc();
    f.$('f32x4.relaxed_madd');
  } else {
    acc();
    x();
    y();
    f.$('f32x4.mul').$('f32x4.add');
  }
}

function emitMicrokernel(mb: ModuleBuilder, p: GemmParams): void {
  const { MR, NR, unroll } = p;
  const NV = NR / 4;
  // ukernel(kc, ap, bp, cp, ldcBytes, first)
  const f = mb.func('ukernel', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], false);
  const [KC, AP, BP, CP, LDC, FIRST] = [0, 1, 2, 3, 4, 5];
  const acc: number[] = [];
  for (let i = 0; i < MR * NV; i++) acc.push(f.local('v128'));
  const bv: number[] = [];
  for (let i = 0; i < NV; i++) bv.push(f.local('v128'));
  const av = f.local('v128');
  const kk = f.local('i32');
  const cr = f.local('i32');
  // init: zero (locals start zero) or load C
  f.get(FIRST).$('i32.eqz').if_();
  f.get(CP).set(cr);
  for (let r = 0; r < MR; r++) {
    for (let v = 0; v < NV; v++) f.get(cr).$('v128.load', v * 16).set(acc[r * NV + v]!);
    if (r < MR - 1) f.get(cr).get(LDC).$('i32.add').set(cr);
  }
  f.$('end');
  const step = (u: number, fma: boolean) => {
    for (let v = 0; v < NV; v++) f.get(BP).$('v128.load', (u * NR + v * 4) * 4).set(bv[v]!);
    for (let r = 0; r < MR; r++) {
      f.get(AP).$('v128.load32_splat', (u * MR + r) * 4).set(av);
      for (let v = 0; v < NV; v++) {
        const ai = acc[r * NV + v]!;
        madd(f, fma, () => f.get(ai), () => f.get(av), () => f.get(bv[v]!));
        f.set(ai);
      }
    }
  };
  // main unrolled loop: kk = kc / unroll
  f.get(KC).i32(unroll).$('i32.div_u').tee(kk).if_().loop();
  for (let u = 0; u < unroll; u++) step(u, p.fma);
  f.get(AP).i32(unroll * MR * 4).$('i32.add').set(AP);
  f.get(BP).i32(unroll * NR * 4).$('i32.add').set(BP);
  f.get(kk).i32(1).$('i32.sub').tee(kk).brIf(0);
  f.$('end').$('end');
  // remainder
  f.get(KC).i32(unroll).$('i32.rem_u').tee(kk).if_().loop();
  step(0, p.fma);
  f.get(AP).i32(MR * 4).$('i32.add').set(AP);
  f.get(BP).i32(NR * 4).$('i32.add').set(BP);
  f.get(kk).i32(1).$('i32.sub').tee(kk).brIf(0);
  f.$('end').$('end');
  // store
  f.get(CP).set(cr);
  for (let r = 0; r < MR; r++) {
    for (let v = 0; v < NV; v++) f.get(cr).get(acc[r * NV + v]!).$('v128.store', v * 16);
    if (r < MR - 1) f.get(cr).get(LDC).$('i32.add').set(cr);
  }
}

/**
 * packA(src, mc, kc, rsBytes, csBytes, dst): MR-row panels, kc x MR each, zero padded.
 * Fast paths for full panels: rows contiguous (csBytes == 4: 4x4 transposes) and A transposed (rsBytes == 4: each k
 * step copies MR adjacent floats), the layouts of X @ W^T, dY @ W and dY^T @ X.
 */
function emitPackA(mb: ModuleBuilder, p: GemmParams): void {
  const { MR } = p;
  const f = mb.func('packA', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], false);
  const [SRC, MC, KC, RS, CS, DST] = [0, 1, 2, 3, 4, 5];
  const ir = f.local('i32');
  const i = f.local('i32');
  const kk = f.local('i32');
  const rowp = f.local('i32');
  const sp = f.local('i32');
  const dp = f.local('i32');
  const mr = f.local('i32');
  const kc4 = f.local('i32');
  const rp: number[] = [];
  for (let r = 0; r < MR; r++) rp.push(f.local('i32'));
  const rv = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const tv = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const lo = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
  const hi = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
  f.get(KC).i32(-4).$('i32.and').set(kc4);
  f.get(DST).set(dp);
  f.for_(ir, () => f.i32(0), () => f.get(MC), MR, () => {
    // mr = min(MR, mc - ir)
    f.get(MC).get(ir).$('i32.sub').set(mr);
    f.get(mr).i32(MR).$('i32.gt_s').if_().i32(MR).set(mr).$('end');
    f.get(mr).i32(MR).$('i32.eq').get(CS).i32(4).$('i32.eq').$('i32.and').if_();
    {
      // Rows contiguous: four k at a time, rows in groups of four transposed, the rest stored lane by lane.
      for (let r = 0; r < MR; r++) f.get(SRC).get(ir).i32(r).$('i32.add').get(RS).$('i32.mul').$('i32.add').set(rp[r]!);
      f.get(dp).set(rowp);
      f.for_(kk, () => f.i32(0), () => f.get(kc4), 4, () => {
        for (let g = 0; g + 4 <= MR; g += 4) {
          for (let j = 0; j < 4; j++) f.get(rp[g + j]!).$('v128.load').set(rv[j]!);
          f.get(rv[0]!).get(rv[1]!).shuffle([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]).set(tv[0]!);
          f.get(rv[2]!).get(rv[3]!).shuffle([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]).set(tv[1]!);
          f.get(rv[0]!).get(rv[1]!).shuffle([8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31]).set(tv[2]!);
          f.get(rv[2]!).get(rv[3]!).shuffle([8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31]).set(tv[3]!);
          f.get(rowp).get(tv[0]!).get(tv[1]!).shuffle(lo).$('v128.store', (0 * MR + g) * 4);
          f.get(rowp).get(tv[0]!).get(tv[1]!).shuffle(hi).$('v128.store', (1 * MR + g) * 4);
          f.get(rowp).get(tv[2]!).get(tv[3]!).shuffle(lo).$('v128.store', (2 * MR + g) * 4);
          f.get(rowp).get(tv[2]!).get(tv[3]!).shuffle(hi).$('v128.store', (3 * MR + g) * 4);
        }
        for (let r = MR - (MR % 4); r < MR; r++) {
          f.get(rp[r]!).$('v128.load').set(rv[0]!);
          for (let c = 0; c < 4; c++) f.get(rowp).get(rv[0]!).$('v128.store32_lane', (c * MR + r) * 4, c);
        }
        for (let r = 0; r < MR; r++) f.get(rp[r]!).i32(16).$('i32.add').set(rp[r]!);
        f.get(rowp).i32(4 * MR * 4).$('i32.add').set(rowp);
      });
      f.for_(kk, () => f.get(kc4), () => f.get(KC), 1, () => {
        for (let r = 0; r < MR; r++) {
          f.get(rowp).get(rp[r]!).$('f32.load').$('f32.store', r * 4);
          f.get(rp[r]!).i32(4).$('i32.add').set(rp[r]!);
        }
        f.get(rowp).i32(MR * 4).$('i32.add').set(rowp);
      });
    }
    f.$('else');
    f.get(mr).i32(MR).$('i32.eq').get(RS).i32(4).$('i32.eq').$('i32.and').if_();
    {
      // A transposed: the MR values of one k are adjacent.
      f.get(SRC).get(ir).i32(2).$('i32.shl').$('i32.add').set(sp);
      f.get(dp).set(rowp);
      f.for_(kk, () => f.i32(0), () => f.get(KC), 1, () => {
        for (let g = 0; g + 4 <= MR; g += 4) f.get(rowp).get(sp).$('v128.load', g * 4).$('v128.store', g * 4);
        for (let r = MR - (MR % 4); r < MR; r++) f.get(rowp).get(sp).$('f32.load', r * 4).$('f32.store', r * 4);
        f.get(sp).get(CS).$('i32.add').set(sp);
        f.get(rowp).i32(MR * 4).$('i32.add').set(rowp);
      });
    }
    f.$('else');
    f.for_(i, () => f.i32(0), () => f.i32(MR), 1, () => {
      // column i of the panel: rowp = src + (ir+i)*rs ; for kk: dst[kk*MR + i] = rowp[kk*cs]
      f.get(i).get(mr).$('i32.lt_s').if_();
      f.get(SRC).get(ir).get(i).$('i32.add').get(RS).$('i32.mul').$('i32.add').set(sp);
      f.get(dp).get(i).i32(4).$('i32.mul').$('i32.add').set(rowp);
      f.for_(kk, () => f.i32(0), () => f.get(KC), 1, () => {
        f.get(rowp).get(sp).$('f32.load').$('f32.store');
        f.get(sp).get(CS).$('i32.add').set(sp);
        f.get(rowp).i32(MR * 4).$('i32.add').set(rowp);
      });
      f.$('else');
      f.get(dp).get(i).i32(4).$('i32.mul').$('i32.add').set(rowp);
      f.for_(kk, () => f.i32(0), () => f.get(KC), 1, () => {
        f.get(rowp).f32(0).$('f32.store');
        f.get(rowp).i32(MR * 4).$('i32.add').set(rowp);
      });
      f.$('end');
    });
    f.$('end').$('end');
    f.get(dp).get(KC).i32(MR * 4).$('i32.mul').$('i32.add').set(dp);
  });
}

/**
 * packB(src, kc, nc, rsBytes, csBytes, dst): NR-column panels, kc x NR each, zero padded.
 * Fast paths: columns contiguous (csBytes == 4) and rows contiguous (rsBytes == 4, B = W^T).
 */
function emitPackB(mb: ModuleBuilder, p: GemmParams): void {
  const { NR } = p;
  const NV = NR / 4;
  const f = mb.func('packB', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], false);
  const [SRC, KC, NC, RS, CS, DST] = [0, 1, 2, 3, 4, 5];
  const jr = f.local('i32');
  const j = f.local('i32');
  const kk = f.local('i32');
  const sp = f.local('i32');
  const dp = f.local('i32');
  const nr = f.local('i32');
  const colp = f.local('i32');
  const kc4 = f.local('i32');
  const r0 = f.local('v128');
  const r1 = f.local('v128');
  const r2 = f.local('v128');
  const r3 = f.local('v128');
  const t0 = f.local('v128');
  const t1 = f.local('v128');
  const t2 = f.local('v128');
  const t3 = f.local('v128');
  const s1 = f.local('i32');
  f.get(DST).set(dp);
  f.get(KC).i32(-4).$('i32.and').set(kc4);
  f.for_(jr, () => f.i32(0), () => f.get(NC), NR, () => {
    f.get(NC).get(jr).$('i32.sub').set(nr);
    f.get(nr).i32(NR).$('i32.gt_s').if_().i32(NR).set(nr).$('end');
    f.get(SRC).get(jr).get(CS).$('i32.mul').$('i32.add').set(sp);
    // Case 1: full panel, contiguous columns.
    f.get(nr).i32(NR).$('i32.eq').get(CS).i32(4).$('i32.eq').$('i32.and').if_();
    f.get(dp).set(colp);
    f.for_(kk, () => f.i32(0), () => f.get(KC), 1, () => {
      for (let v = 0; v < NV; v++) f.get(colp).get(sp).$('v128.load', v * 16).$('v128.store', v * 16);
      f.get(sp).get(RS).$('i32.add').set(sp);
      f.get(colp).i32(NR * 4).$('i32.add').set(colp);
    });
    f.$('else');
    // Case 2: full panel, contiguous rows (transposed B): 4x4 transposes.
    f.get(nr).i32(NR).$('i32.eq').get(RS).i32(4).$('i32.eq').$('i32.and').if_();
    for (let g = 0; g < NV; g++) {
      // columns jr + 4g .. +3 ; source column pointer s1 = sp + 4g*cs
      f.get(sp).get(CS).i32(4 * g).$('i32.mul').$('i32.add').set(s1);
      f.get(dp).i32(g * 16).$('i32.add').set(colp);
      f.for_(kk, () => f.i32(0), () => f.get(kc4), 4, () => {
        // r_c = 4 consecutive k values of column c
        f.get(s1).$('v128.load').set(r0);
        f.get(s1).get(CS).$('i32.add').$('v128.load').set(r1);
        f.get(s1).get(CS).i32(1).$('i32.shl').$('i32.add').$('v128.load').set(r2);
        f.get(s1).get(CS).i32(3).$('i32.mul').$('i32.add').$('v128.load').set(r3);
        // transpose
        f.get(r0).get(r1).shuffle([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]).set(t0); // a0 b0 a1 b1
        f.get(r2).get(r3).shuffle([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]).set(t1); // c0 d0 c1 d1
        f.get(r0).get(r1).shuffle([8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31]).set(t2); // a2 b2 a3 b3
        f.get(r2).get(r3).shuffle([8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31]).set(t3); // c2 d2 c3 d3
        const lo = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
        const hi = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
        f.get(colp).get(t0).get(t1).shuffle(lo).$('v128.store', 0);
        f.get(colp).get(t0).get(t1).shuffle(hi).$('v128.store', NR * 4);
        f.get(colp).get(t2).get(t3).shuffle(lo).$('v128.store', NR * 8);
        f.get(colp).get(t2).get(t3).shuffle(hi).$('v128.store', NR * 12);
        f.get(s1).i32(16).$('i32.add').set(s1);
        f.get(colp).i32(NR * 16).$('i32.add').set(colp);
      });
      // k tail
      f.for_(kk, () => f.get(kc4), () => f.get(KC), 1, () => {
        for (let c = 0; c < 4; c++) {
          f.get(colp).get(s1).get(CS).i32(c).$('i32.mul').$('i32.add').$('f32.load').$('f32.store', c * 4);
        }
        f.get(s1).i32(4).$('i32.add').set(s1);
        f.get(colp).i32(NR * 4).$('i32.add').set(colp);
      });
    }
    f.$('else');
    // Case 3: general strides / partial panel, scalar.
    f.for_(j, () => f.i32(0), () => f.i32(NR), 1, () => {
      f.get(dp).get(j).i32(4).$('i32.mul').$('i32.add').set(colp);
      f.get(j).get(nr).$('i32.lt_s').if_();
      f.get(sp).get(j).get(CS).$('i32.mul').$('i32.add').set(s1);
      f.for_(kk, () => f.i32(0), () => f.get(KC), 1, () => {
        f.get(colp).get(s1).$('f32.load').$('f32.store');
        f.get(s1).get(RS).$('i32.add').set(s1);
        f.get(colp).i32(NR * 4).$('i32.add').set(colp);
      });
      f.$('else');
      f.for_(kk, () => f.i32(0), () => f.get(KC), 1, () => {
        f.get(colp).f32(0).$('f32.store');
        f.get(colp).i32(NR * 4).$('i32.add').set(colp);
      });
      f.$('end');
    });
    f.$('end').$('end');
    f.get(dp).get(KC).i32(NR * 4).$('i32.mul').$('i32.add').set(dp);
  });
}

/**
 * gemm(m, k, a, rsa, csa, b, rsb, csb, c, ldc, n0, n1, apack, bpack, tmp): columns [n0, n1) of C = A B.
 * Strides are in elements; pointers in bytes. C rows have ldc elements. B elements are 1 << bShift bytes
 * and go through `packB` (which turns them into f32 panels), so the same driver serves 16-bit B.
 */
export function emitDriver(mb: ModuleBuilder, p: GemmParams, name = 'gemm', packB = 'packB', bShift = 2): void {
  const { MR, NR, KC, MC, NC } = p;
  const uk = mb.index('ukernel');
  const pa = mb.index('packA');
  const pb = mb.index(packB);
  const f = mb.func(name, Array(15).fill('i32'), []);
  const [M, K, A, RSA, CSA, B, RSB, CSB, C, LDC, N0, N1, AP, BP, TMP] = Array.from({ length: 15 }, (_, i) => i);
  const jc = f.local('i32');
  const nc = f.local('i32');
  const pc = f.local('i32');
  const kc = f.local('i32');
  const ic = f.local('i32');
  const mc = f.local('i32');
  const jr = f.local('i32');
  const nr = f.local('i32');
  const ir = f.local('i32');
  const mr = f.local('i32');
  const cp = f.local('i32');
  const first = f.local('i32');
  const x = f.local('i32');
  const y = f.local('i32');
  const min = (dst: number, lim: number, a: () => void) => {
    a();
    f.set(dst);
    f.get(dst).i32(lim).$('i32.gt_s').if_().i32(lim).set(dst).$('end');
  };
  f.for_(jc, () => f.get(N0), () => f.get(N1), NC, () => {
    min(nc, NC, () => f.get(N1).get(jc).$('i32.sub'));
    f.for_(pc, () => f.i32(0), () => f.get(K), KC, () => {
      min(kc, KC, () => f.get(K).get(pc).$('i32.sub'));
      f.get(pc).$('i32.eqz').set(first);
      // packB(b + (pc*rsb + jc*csb)*4, kc, nc, rsb*4, csb*4, bpack)
      f.get(B).get(pc).get(RSB).$('i32.mul').get(jc).get(CSB).$('i32.mul').$('i32.add').i32(bShift).$('i32.shl').$('i32.add');
      f.get(kc).get(nc).get(RSB).i32(bShift).$('i32.shl').get(CSB).i32(bShift).$('i32.shl').get(BP).call(pb);
      f.for_(ic, () => f.i32(0), () => f.get(M), MC, () => {
        min(mc, MC, () => f.get(M).get(ic).$('i32.sub'));
        f.get(A).get(ic).get(RSA).$('i32.mul').get(pc).get(CSA).$('i32.mul').$('i32.add').i32(2).$('i32.shl').$('i32.add');
        f.get(mc).get(kc).get(RSA).i32(2).$('i32.shl').get(CSA).i32(2).$('i32.shl').get(AP).call(pa);
        f.for_(jr, () => f.i32(0), () => f.get(nc), NR, () => {
          min(nr, NR, () => f.get(nc).get(jr).$('i32.sub'));
          f.for_(ir, () => f.i32(0), () => f.get(mc), MR, () => {
            min(mr, MR, () => f.get(mc).get(ir).$('i32.sub'));
            // cp = c + ((ic+ir)*ldc + jc + jr)*4
            f.get(C).get(ic).get(ir).$('i32.add').get(LDC).$('i32.mul').get(jc).$('i32.add').get(jr).$('i32.add');
            f.i32(2).$('i32.shl').$('i32.add').set(cp);
            f.get(mr).i32(MR).$('i32.eq').get(nr).i32(NR).$('i32.eq').$('i32.and').if_();
            f.get(kc).get(AP).get(ir).get(kc).$('i32.mul').i32(2).$('i32.shl').$('i32.add');
            f.get(BP).get(jr).get(kc).$('i32.mul').i32(2).$('i32.shl').$('i32.add');
            f.get(cp).get(LDC).i32(2).$('i32.shl').get(first).call(uk);
            f.$('else');
            // Edge tile: same arithmetic as a full tile, through a MR x NR staging tile.
            f.get(first).$('i32.eqz').if_();
            f.for_(y, () => f.i32(0), () => f.get(mr), 1, () => {
              f.for_(x, () => f.i32(0), () => f.get(nr), 1, () => {
                f.get(TMP).get(y).i32(NR).$('i32.mul').get(x).$('i32.add').i32(2).$('i32.shl').$('i32.add');
                f.get(cp).get(y).get(LDC).$('i32.mul').get(x).$('i32.add').i32(2).$('i32.shl').$('i32.add').$('f32.load');
                f.$('f32.store');
              });
            });
            f.$('end');
            f.get(kc).get(AP).get(ir).get(kc).$('i32.mul').i32(2).$('i32.shl').$('i32.add');
            f.get(BP).get(jr).get(kc).$('i32.mul').i32(2).$('i32.shl').$('i32.add');
            f.get(TMP).i32(NR * 4).get(first).call(uk);
            f.for_(y, () => f.i32(0), () => f.get(mr), 1, () => {
              f.for_(x, () => f.i32(0), () => f.get(nr), 1, () => {
                f.get(cp).get(y).get(LDC).$('i32.mul').get(x).$('i32.add').i32(2).$('i32.shl').$('i32.add');
                f.get(TMP).get(y).i32(NR).$('i32.mul').get(x).$('i32.add').i32(2).$('i32.shl').$('i32.add').$('f32.load');
                f.$('f32.store');
              });
            });
            f.$('end');
          });
        });
      });
    });
  });
}

/**
 * gemvRows(k, a, b, rsbBytes, c, j0, j1): c[j] = sum_kk a[kk] * b[kk*rsb + j] for j in [j0, j1), B rows contiguous.
 * Streams B four rows at a time, accumulating into c (which stays in cache).
 */
function emitGemvRows(mb: ModuleBuilder, fma: boolean): void {
  const f = mb.func('gemvRows', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [K, A, B, RS, C, J0, J1] = [0, 1, 2, 3, 4, 5, 6];
  const kk = f.local('i32');
  const j = f.local('i32');
  const j4 = f.local('i32');
  const a0 = f.local('v128');
  const a1 = f.local('v128');
  const a2 = f.local('v128');
  const a3 = f.local('v128');
  const p0 = f.local('i32');
  const cp = f.local('i32');
  const k4 = f.local('i32');
  const s = f.local('f32');
  const cv = f.local('v128');
  // j4 = j0 + ((j1 - j0) & ~3)
  f.get(J0).get(J1).get(J0).$('i32.sub').i32(-4).$('i32.and').$('i32.add').set(j4);
  // zero c
  f.for_(j, () => f.get(J0), () => f.get(J1), 1, () => {
    f.get(C).get(j).i32(2).$('i32.shl').$('i32.add').f32(0).$('f32.store');
  });
  f.get(K).i32(-4).$('i32.and').set(k4);
  f.for_(kk, () => f.i32(0), () => f.get(k4), 4, () => {
    const rows = [a0, a1, a2, a3];
    for (let r = 0; r < 4; r++) f.get(A).get(kk).i32(r).$('i32.add').i32(2).$('i32.shl').$('i32.add').$('v128.load32_splat').set(rows[r]!);
    f.get(B).get(kk).get(RS).$('i32.mul').$('i32.add').get(J0).i32(2).$('i32.shl').$('i32.add').set(p0);
    f.get(C).get(J0).i32(2).$('i32.shl').$('i32.add').set(cp);
    f.for_(j, () => f.get(J0), () => f.get(j4), 4, () => {
      f.get(cp).$('v128.load').set(cv);
      madd(f, fma, () => f.get(cv), () => f.get(a0), () => f.get(p0).$('v128.load'));
      f.set(cv);
      madd(f, fma, () => f.get(cv), () => f.get(a1), () => f.get(p0).get(RS).$('i32.add').$('v128.load'));
      f.set(cv);
      madd(f, fma, () => f.get(cv), () => f.get(a2), () => f.get(p0).get(RS).i32(1).$('i32.shl').$('i32.add').$('v128.load'));
      f.set(cv);
      madd(f, fma, () => f.get(cv), () => f.get(a3), () => f.get(p0).get(RS).i32(3).$('i32.mul').$('i32.add').$('v128.load'));
      f.set(cv);
      f.get(cp).get(cv).$('v128.store');
      f.get(p0).i32(16).$('i32.add').set(p0);
      f.get(cp).i32(16).$('i32.add').set(cp);
    });
    // column tail (scalar, same order)
    f.for_(j, () => f.get(j4), () => f.get(J1), 1, () => {
      f.get(C).get(j).i32(2).$('i32.shl').$('i32.add').set(cp);
      f.get(cp).$('f32.load').set(s);
      for (let r = 0; r < 4; r++) {
        f.get(s);
        f.get(rows[r]!).$('f32x4.extract_lane', 0);
        f.get(B).get(kk).i32(r).$('i32.add').get(RS).$('i32.mul').$('i32.add').get(j).i32(2).$('i32.shl').$('i32.add').$('f32.load');
        f.$('f32.mul').$('f32.add').set(s);
      }
      f.get(cp).get(s).$('f32.store');
    });
  });
  // k tail: one row at a time
  f.for_(kk, () => f.get(k4), () => f.get(K), 1, () => {
    f.get(A).get(kk).i32(2).$('i32.shl').$('i32.add').$('v128.load32_splat').set(a0);
    f.get(B).get(kk).get(RS).$('i32.mul').$('i32.add').get(J0).i32(2).$('i32.shl').$('i32.add').set(p0);
    f.get(C).get(J0).i32(2).$('i32.shl').$('i32.add').set(cp);
    f.for_(j, () => f.get(J0), () => f.get(j4), 4, () => {
      f.get(cp);
      madd(f, fma, () => f.get(cp).$('v128.load'), () => f.get(a0), () => f.get(p0).$('v128.load'));
      f.$('v128.store');
      f.get(p0).i32(16).$('i32.add').set(p0);
      f.get(cp).i32(16).$('i32.add').set(cp);
    });
    f.for_(j, () => f.get(j4), () => f.get(J1), 1, () => {
      f.get(C).get(j).i32(2).$('i32.shl').$('i32.add').set(cp);
      f.get(cp).get(cp).$('f32.load');
      f.get(a0).$('f32x4.extract_lane', 0);
      f.get(B).get(kk).get(RS).$('i32.mul').$('i32.add').get(j).i32(2).$('i32.shl').$('i32.add').$('f32.load');
      f.$('f32.mul').$('f32.add').$('f32.store');
    });
  });
}

/**
 * The rows of W a GEMV kernel reads R at a time, as R runs of consecutive rows: [j0, j1) cut into R runs of
 * q = ceil((j1 - j0) / R) rows, pass i reading row j0 + i + r q of run r. Rows of W lie one after another, so each run
 * is one sequential stream the hardware prefetchers follow however short the rows are; R neighbouring rows per pass
 * were R streams one row long (8000 x 256 float32 from memory, one thread: 5.5 GB/s that way, 16 as runs). A run
 * past j1 re-reads row j1 - 1 (results dropped). Each row's result depends only on that row: the same bits either way.
 */
export class RowRuns {
  private readonly i: number;
  private readonly q: number;
  /** local holding j0 + i, the current row of run 0 */
  readonly j: number;
  constructor(private readonly f: Func, readonly R: number, private readonly J0: number, private readonly J1: number) {
    this.i = f.local('i32');
    this.q = f.local('i32');
    this.j = f.local('i32');
  }
  /** Runs `body` once per pass, with `j` set. */
  loop(body: () => void): void {
    const { f, R, J0, J1 } = this;
    f.get(J1).get(J0).$('i32.sub').i32(R - 1).$('i32.add').i32(R).$('i32.div_u').set(this.q);
    f.for_(this.i, () => f.i32(0), () => f.get(this.q), 1, () => {
      f.get(J0).get(this.i).$('i32.add').set(this.j);
      body();
    });
  }
  /** Pushes the row run r reads in this pass (may be >= j1). */
  row(r: number): void {
    this.f.get(this.j);
    if (r > 0) this.f.get(this.q).i32(r).$('i32.mul').$('i32.add');
  }
  /** Pushes b + min(row(r), j1 - 1) * rowBytes. */
  ptr(r: number, b: number, rowBytes: number): void {
    const { f, J1 } = this;
    f.get(b);
    this.row(r);
    f.get(J1).i32(1).$('i32.sub');
    this.row(r);
    f.get(J1).i32(1).$('i32.sub').$('i32.lt_s').$('select');
    f.get(rowBytes).$('i32.mul').$('i32.add');
  }
  /** Stores the f32 that `value` pushes at c[row(r)] when that row is in range. */
  store(r: number, c: number, value: () => void): void {
    const { f, J1 } = this;
    this.row(r);
    f.get(J1).$('i32.lt_s').if_();
    f.get(c);
    this.row(r);
    f.i32(2).$('i32.shl').$('i32.add');
    value();
    f.$('f32.store');
    f.$('end');
  }
}

/**
 * gemvDot(k, a, b, csbBytes, c, j0, j1): c[j] = dot(a, b + j*csb) with B columns contiguous (B = W^T, W rows).
 * Four columns (rows of W) at a time, one from each of four runs of rows (RowRuns), two vector accumulators each;
 * the lane sums are combined pairwise.
 */
function emitGemvDot(mb: ModuleBuilder, fma: boolean): void {
  const f = mb.func('gemvDot', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [K, A, B, CS, C, J0, J1] = [0, 1, 2, 3, 4, 5, 6];
  const R = 4;
  const rows = new RowRuns(f, R, J0, J1);
  const kk = f.local('i32');
  const k8 = f.local('i32');
  const ptr: number[] = [];
  for (let r = 0; r < R; r++) ptr.push(f.local('i32'));
  const acc: number[] = [];
  for (let r = 0; r < 2 * R; r++) acc.push(f.local('v128'));
  const av0 = f.local('v128');
  const av1 = f.local('v128');
  const ap = f.local('i32');
  const s = f.local('f32');
  const t = f.local('v128');
  f.get(K).i32(-8).$('i32.and').set(k8);
  rows.loop(() => {
    for (let r = 0; r < R; r++) {
      rows.ptr(r, B, CS);
      f.set(ptr[r]!);
      f.i32x4(0).set(acc[2 * r]!);
      f.i32x4(0).set(acc[2 * r + 1]!);
    }
    f.get(A).set(ap);
    f.for_(kk, () => f.i32(0), () => f.get(k8), 8, () => {
      f.get(ap).$('v128.load', 0).set(av0);
      f.get(ap).$('v128.load', 16).set(av1);
      for (let r = 0; r < R; r++) {
        madd(f, fma, () => f.get(acc[2 * r]!), () => f.get(av0), () => f.get(ptr[r]!).$('v128.load', 0));
        f.set(acc[2 * r]!);
        madd(f, fma, () => f.get(acc[2 * r + 1]!), () => f.get(av1), () => f.get(ptr[r]!).$('v128.load', 16));
        f.set(acc[2 * r + 1]!);
        f.get(ptr[r]!).i32(32).$('i32.add').set(ptr[r]!);
        // a fence per two rows (see Func.fence): 1.2-1.4x on cache-resident W (8000x256, 1024x3072) over none,
        // the same as one per row or per four
        if (r % 2 === 1) f.fence(K, acc.slice(2 * (r - 1), 2 * (r + 1)));
      }
      f.get(ap).i32(32).$('i32.add').set(ap);
    });
    for (let r = 0; r < R; r++) {
      // horizontal: (acc0 + acc1), then lanes (0+2)+(1+3)
      f.get(acc[2 * r]!).get(acc[2 * r + 1]!).$('f32x4.add').tee(t);
      f.get(t).get(t).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('f32x4.add').tee(t);
      f.$('f32x4.extract_lane', 0).get(t).$('f32x4.extract_lane', 1).$('f32.add').set(s);
      // k tail: ptr[r] has reached element k8 of its row
      f.for_(kk, () => f.get(k8), () => f.get(K), 1, () => {
        f.get(s);
        f.get(A).get(kk).i32(2).$('i32.shl').$('i32.add').$('f32.load');
        f.get(ptr[r]!).$('f32.load');
        f.$('f32.mul').$('f32.add').set(s);
        f.get(ptr[r]!).i32(4).$('i32.add').set(ptr[r]!);
      });
      rows.store(r, C, () => f.get(s));
    }
  });
}

/**
 * `<name>B(count, sa, sb, sc, ...args)`: calls `name(...args)` `count` times, advancing the three
 * pointer arguments at positions `ptrs` by the byte strides sa, sb, sc.
 */
export function emitBatched(mb: ModuleBuilder, name: string, nargs: number, ptrs: [number, number, number]): void {
  const target = mb.index(name);
  const f = mb.func(name + 'B', Array(nargs + 4).fill('i32'), []);
  const i = f.local('i32');
  f.for_(i, () => f.i32(0), () => f.get(0), 1, () => {
    for (let a = 0; a < nargs; a++) f.get(a + 4);
    f.call(target);
    for (let q = 0; q < 3; q++) f.get(ptrs[q]! + 4).get(q + 1).$('i32.add').set(ptrs[q]! + 4);
  });
}

/** Independent multiply-add chains in maddPeak: enough to cover the latency of either form on two vector ports. */
export const PEAK_CHAINS = 12;

/**
 * maddPeak(iters, out): PEAK_CHAINS independent chains acc = acc * y + z, `iters` times, in the same multiply-add form as
 * the GEMM kernels (relaxed_madd when `fma`, mul + add otherwise); stores the sum of the chains at out (so the loop
 * is not dead code). 8 * PEAK_CHAINS flops per iteration: the SIMD ceiling the matmul benchmark measures against.
 */
function emitMaddPeak(mb: ModuleBuilder, fma: boolean): void {
  const f = mb.func('maddPeak', ['i32', 'i32'], []);
  const [ITERS, OUT] = [0, 1];
  const i = f.local('i32');
  const y = f.local('v128');
  const z = f.local('v128');
  const acc: number[] = [];
  for (let c = 0; c < PEAK_CHAINS; c++) acc.push(f.local('v128'));
  // y < 1 and z > 0 keep every chain near its fixed point z / (1 - y) = 1: no overflow, no subnormals
  f.f32x4(0.999).set(y);
  f.f32x4(0.001).set(z);
  for (let c = 0; c < PEAK_CHAINS; c++) f.f32x4(c / PEAK_CHAINS).set(acc[c]!);
  f.for_(i, () => f.i32(0), () => f.get(ITERS), 1, () => {
    for (const a of acc) {
      madd(f, fma, () => f.get(z), () => f.get(a), () => f.get(y));
      f.set(a);
    }
  });
  f.get(OUT);
  f.get(acc[0]!);
  for (let c = 1; c < PEAK_CHAINS; c++) f.get(acc[c]!).$('f32x4.add');
  f.$('v128.store');
}

/** Sequential runs readPeak reads at once (the GEMV kernels read four; eight measured no faster on either machine). */
export const READ_RUNS = 4;

/**
 * readPeak(ptr, bytes, out): reads [ptr, ptr + bytes) (bytes a multiple of 64 * READ_RUNS) as READ_RUNS equal runs
 * advanced together, 64 bytes of each per iteration, OR-ed into accumulators stored at out (so the loads are not dead
 * code): the memory read ceiling the decode benchmarks measure against. One run per thread is bound by how far ahead
 * the prefetchers fetch a single stream (about half of what several streams reach).
 */
function emitReadPeak(mb: ModuleBuilder): void {
  const f = mb.func('readPeak', ['i32', 'i32', 'i32'], []);
  const [PTR, BYTES, OUT] = [0, 1, 2];
  const i = f.local('i32');
  const run = f.local('i32');
  const p = f.local('i32');
  const acc: number[] = [];
  for (let c = 0; c < READ_RUNS; c++) acc.push(f.local('v128'));
  f.get(BYTES).i32(READ_RUNS).$('i32.div_u').set(run);
  f.get(PTR).set(p);
  f.for_(i, () => f.i32(0), () => f.get(run), 64, () => {
    for (let r = 0; r < READ_RUNS; r++) {
      f.get(acc[r]!);
      for (let v = 0; v < 4; v++) {
        f.get(p);
        if (r > 0) f.get(run).i32(r).$('i32.mul').$('i32.add');
        f.$('v128.load', 16 * v).$('v128.or');
      }
      f.set(acc[r]!);
    }
    f.get(p).i32(64).$('i32.add').set(p);
  });
  f.get(OUT);
  f.get(acc[0]!);
  for (let r = 1; r < READ_RUNS; r++) f.get(acc[r]!).$('v128.or');
  f.$('v128.store');
}

export function emitGemm(mb: ModuleBuilder, p: GemmParams): void {
  emitMicrokernel(mb, p);
  emitPackA(mb, p);
  emitPackB(mb, p);
  emitDriver(mb, p);
  emitGemvRows(mb, p.fma);
  emitGemvDot(mb, p.fma);
  emitBatched(mb, 'gemm', 15, [2, 5, 8]);
  emitBatched(mb, 'gemvRows', 7, [1, 2, 4]);
  emitBatched(mb, 'gemvDot', 7, [1, 2, 4]);
  emitMaddPeak(mb, p.fma);
  emitReadPeak(mb);
}
