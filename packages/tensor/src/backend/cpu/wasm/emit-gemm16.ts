// Emits matmul kernels whose B operand is 16-bit floats (bfloat16 or IEEE float16 bits), decoded to f32
// inside the kernels so weights stay 16-bit in memory:
//  - gemvDot_<t>:  m == 1, B = W^T (W rows contiguous): y[j] = dot(a, W[j, :]) streaming W.
//  - gemvRows_<t>: m == 1, B rows contiguous ([k, n] row-major): c += a[kk] * B[kk, :].
//  - packB_<t> + gemm_<t>: m > 1, B panels decoded into the f32 packed panel, then the f32 microkernel.
// Decoding is exact: bf16 -> f32 is `bits << 16`; f16 -> f32 rescales (bits & 0x7fff) << 13 by 2^112
// (exact for normals and subnormals, wasm keeps f32 subnormals) and maps exponent 31 to inf/NaN.
import type { Func, ModuleBuilder } from './emit.js';
import { emitBatched, emitDriver, madd, RowRuns, type GemmParams } from './emit-gemm.js';

export type Half = 'bf16' | 'f16';
export const HALF_KINDS: readonly Half[] = ['bf16', 'f16'];

/** Decoders for one function: locals are allocated on first use. */
export class Decoder {
  private vl: number[] | undefined;
  private sl: number[] | undefined;
  constructor(private readonly f: Func, private readonly kind: Half) {}
  /** i32x4 of zero-extended 16-bit patterns on the stack -> f32x4 of their values. */
  vec(): void {
    const f = this.f;
    if (this.kind === 'bf16') {
      f.i32(16).$('i32x4.shl');
      return;
    }
    const [h, em, t] = (this.vl ??= [f.local('v128'), f.local('v128'), f.local('v128')]);
    f.set(h!);
    f.get(h!).k('i32x4', 0x7fff).$('v128.and').set(em!);
    f.get(em!).i32(13).$('i32x4.shl').set(t!);
    f.get(t!).k('i32x4', 0x7f800000).$('v128.or'); // exponent 31: inf / NaN (payload kept)
    f.get(t!).k('f32x4', 2 ** 112).$('f32x4.mul'); // normal and subnormal: exact rescale
    f.get(em!).k('i32x4', 0x7bff).$('i32x4.gt_s');
    f.$('v128.bitselect');
    f.get(h!).i32(16).$('i32x4.shl').k('i32x4', 0x80000000 | 0).$('v128.and');
    f.$('v128.or');
  }
  /** Loads four 16-bit values at `addr` (+ offset bytes) and decodes them to an f32x4. */
  load4(addr: () => void, offset = 0): void {
    addr();
    this.f.$('v128.load16x4_u', offset);
    this.vec();
  }
  /** i32 holding a 16-bit pattern on the stack -> f32. */
  scalar(): void {
    const f = this.f;
    if (this.kind === 'bf16') {
      f.i32(16).$('i32.shl').$('f32.reinterpret_i32');
      return;
    }
    const [h, em, t] = (this.sl ??= [f.local('i32'), f.local('i32'), f.local('i32')]);
    f.set(h!);
    f.get(h!).i32(0x7fff).$('i32.and').set(em!);
    f.get(em!).i32(13).$('i32.shl').set(t!);
    f.get(t!).i32(0x7f800000).$('i32.or');
    f.get(t!).$('f32.reinterpret_i32').f32(2 ** 112).$('f32.mul').$('i32.reinterpret_f32');
    f.get(em!).i32(0x7bff).$('i32.gt_s');
    f.$('select');
    f.get(h!).i32(16).$('i32.shl').i32(0x80000000 | 0).$('i32.and');
    f.$('i32.or').$('f32.reinterpret_i32');
  }
  /** Loads one 16-bit value at `addr` and decodes it to f32. */
  load1(addr: () => void, offset = 0): void {
    addr();
    this.f.$('i32.load16_u', offset);
    this.scalar();
  }
}

/**
 * packB_<t>(src, kc, nc, rsBytes, csBytes, dst): like packB, reading 16-bit B and writing decoded f32
 * NR-column panels. Fast paths: contiguous columns (csBytes == 2) and contiguous rows (rsBytes == 2, B = W^T).
 */
function emitPackB16(mb: ModuleBuilder, p: GemmParams, kind: Half): void {
  const { NR } = p;
  const NV = NR / 4;
  const f = mb.func(`packB_${kind}`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], false);
  const d = new Decoder(f, kind);
  const [SRC, KC, NC, RS, CS, DST] = [0, 1, 2, 3, 4, 5];
  const jr = f.local('i32');
  const j = f.local('i32');
  const kk = f.local('i32');
  const sp = f.local('i32');
  const dp = f.local('i32');
  const nr = f.local('i32');
  const colp = f.local('i32');
  const kc4 = f.local('i32');
  const r = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const t = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const s1 = f.local('i32');
  f.get(DST).set(dp);
  f.get(KC).i32(-4).$('i32.and').set(kc4);
  f.for_(jr, () => f.i32(0), () => f.get(NC), NR, () => {
    f.get(NC).get(jr).$('i32.sub').set(nr);
    f.get(nr).i32(NR).$('i32.gt_s').if_().i32(NR).set(nr).$('end');
    f.get(SRC).get(jr).get(CS).$('i32.mul').$('i32.add').set(sp);
    // Case 1: full panel, contiguous columns: NR values per k row, four at a time.
    f.get(nr).i32(NR).$('i32.eq').get(CS).i32(2).$('i32.eq').$('i32.and').if_();
    f.get(dp).set(colp);
    f.for_(kk, () => f.i32(0), () => f.get(KC), 1, () => {
      for (let v = 0; v < NV; v++) {
        f.get(colp);
        d.load4(() => f.get(sp), v * 8);
        f.$('v128.store', v * 16);
      }
      f.get(sp).get(RS).$('i32.add').set(sp);
      f.get(colp).i32(NR * 4).$('i32.add').set(colp);
    });
    f.$('else');
    // Case 2: full panel, contiguous rows (B = W^T): four k values of four columns, 4x4 transposes.
    f.get(nr).i32(NR).$('i32.eq').get(RS).i32(2).$('i32.eq').$('i32.and').if_();
    for (let g = 0; g < NV; g++) {
      f.get(sp).get(CS).i32(4 * g).$('i32.mul').$('i32.add').set(s1);
      f.get(dp).i32(g * 16).$('i32.add').set(colp);
      f.for_(kk, () => f.i32(0), () => f.get(kc4), 4, () => {
        d.load4(() => f.get(s1));
        f.set(r[0]!);
        d.load4(() => f.get(s1).get(CS).$('i32.add'));
        f.set(r[1]!);
        d.load4(() => f.get(s1).get(CS).i32(1).$('i32.shl').$('i32.add'));
        f.set(r[2]!);
        d.load4(() => f.get(s1).get(CS).i32(3).$('i32.mul').$('i32.add'));
        f.set(r[3]!);
        const il = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
        const ih = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
        f.get(r[0]!).get(r[1]!).shuffle(il).set(t[0]!);
        f.get(r[2]!).get(r[3]!).shuffle(il).set(t[1]!);
        f.get(r[0]!).get(r[1]!).shuffle(ih).set(t[2]!);
        f.get(r[2]!).get(r[3]!).shuffle(ih).set(t[3]!);
        const lo = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
        const hi = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
        f.get(colp).get(t[0]!).get(t[1]!).shuffle(lo).$('v128.store', 0);
        f.get(colp).get(t[0]!).get(t[1]!).shuffle(hi).$('v128.store', NR * 4);
        f.get(colp).get(t[2]!).get(t[3]!).shuffle(lo).$('v128.store', NR * 8);
        f.get(colp).get(t[2]!).get(t[3]!).shuffle(hi).$('v128.store', NR * 12);
        f.get(s1).i32(8).$('i32.add').set(s1);
        f.get(colp).i32(NR * 16).$('i32.add').set(colp);
      });
      f.for_(kk, () => f.get(kc4), () => f.get(KC), 1, () => {
        for (let c = 0; c < 4; c++) {
          f.get(colp);
          d.load1(() => f.get(s1).get(CS).i32(c).$('i32.mul').$('i32.add'));
          f.$('f32.store', c * 4);
        }
        f.get(s1).i32(2).$('i32.add').set(s1);
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
        f.get(colp);
        d.load1(() => f.get(s1));
        f.$('f32.store');
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
 * gemvRows_<t>(k, a, b, rsbBytes, c, j0, j1): c[j] = sum_kk a[kk] * B[kk, j] for j in [j0, j1), B rows contiguous
 * 16-bit. Streams B four rows at a time into c (which stays in cache), eight columns per step. Every column
 * is accumulated in the same order (vector body and scalar tail alike), so column splits do not change results.
 */
function emitGemvRows16(mb: ModuleBuilder, kind: Half, fma: boolean): void {
  const f = mb.func(`gemvRows_${kind}`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
  const d = new Decoder(f, kind);
  const [K, A, B, RS, C, J0, J1] = [0, 1, 2, 3, 4, 5, 6];
  const kk = f.local('i32');
  const j = f.local('i32');
  const j8 = f.local('i32');
  const av = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const p0 = f.local('i32');
  const cp = f.local('i32');
  const k4 = f.local('i32');
  const s = f.local('f32');
  const c0 = f.local('v128');
  const c1 = f.local('v128');
  // j8 = j0 + ((j1 - j0) & ~7)
  f.get(J0).get(J1).get(J0).$('i32.sub').i32(-8).$('i32.and').$('i32.add').set(j8);
  f.for_(j, () => f.get(J0), () => f.get(J1), 1, () => {
    f.get(C).get(j).i32(2).$('i32.shl').$('i32.add').f32(0).$('f32.store');
  });
  const rowAddr = (r: number) => {
    f.get(p0);
    if (r === 1) f.get(RS).$('i32.add');
    if (r === 2) f.get(RS).i32(1).$('i32.shl').$('i32.add');
    if (r === 3) f.get(RS).i32(3).$('i32.mul').$('i32.add');
  };
  const rowsStep = (R: number) => {
    for (let r = 0; r < R; r++) f.get(A).get(kk).i32(r).$('i32.add').i32(2).$('i32.shl').$('i32.add').$('v128.load32_splat').set(av[r]!);
    f.get(B).get(kk).get(RS).$('i32.mul').$('i32.add').get(J0).i32(1).$('i32.shl').$('i32.add').set(p0);
    f.get(C).get(J0).i32(2).$('i32.shl').$('i32.add').set(cp);
    f.for_(j, () => f.get(J0), () => f.get(j8), 8, () => {
      f.get(cp).$('v128.load', 0).set(c0);
      f.get(cp).$('v128.load', 16).set(c1);
      for (let r = 0; r < R; r++) {
        madd(f, fma, () => f.get(c0), () => f.get(av[r]!), () => d.load4(() => rowAddr(r), 0));
        f.set(c0);
        madd(f, fma, () => f.get(c1), () => f.get(av[r]!), () => d.load4(() => rowAddr(r), 8));
        f.set(c1);
      }
      f.get(cp).get(c0).$('v128.store', 0);
      f.get(cp).get(c1).$('v128.store', 16);
      f.get(p0).i32(16).$('i32.add').set(p0);
      f.get(cp).i32(32).$('i32.add').set(cp);
    });
    // column tail (scalar, same order; with fma the vector body would differ, so fma is off here)
    f.for_(j, () => f.get(j8), () => f.get(J1), 1, () => {
      f.get(C).get(j).i32(2).$('i32.shl').$('i32.add').set(cp);
      f.get(cp).$('f32.load').set(s);
      for (let r = 0; r < R; r++) {
        f.get(s);
        f.get(av[r]!).$('f32x4.extract_lane', 0);
        d.load1(() => f.get(B).get(kk).i32(r).$('i32.add').get(RS).$('i32.mul').$('i32.add').get(j).i32(1).$('i32.shl').$('i32.add'));
        f.$('f32.mul').$('f32.add').set(s);
      }
      f.get(cp).get(s).$('f32.store');
    });
  };
  f.get(K).i32(-4).$('i32.and').set(k4);
  f.for_(kk, () => f.i32(0), () => f.get(k4), 4, () => rowsStep(4));
  f.for_(kk, () => f.get(k4), () => f.get(K), 1, () => rowsStep(1));
}

/**
 * gemvDot_<t>(k, a, b, csbBytes, c, j0, j1): c[j] = dot(a, B[:, j]) with B columns contiguous 16-bit (B = W^T,
 * so these are rows of W). R rows at a time, one from each of R runs of rows (RowRuns), 8H k per step into NA
 * accumulators each (even / odd k when two);
 * lanes are summed pairwise, then the k tail. Each row's result depends only on that row, so any row split gives the same bits.
 */
function emitGemvDot16(mb: ModuleBuilder, kind: Half, fma: boolean): void {
  const f = mb.func(`gemvDot_${kind}`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
  const d = new Decoder(f, kind);
  const [K, A, B, CS, C, J0, J1] = [0, 1, 2, 3, 4, 5, 6];
  // Rows per group (R), 8-k steps per iteration (H, a power of two) and accumulators per row (NA), chosen by
  // measurement: TurboFan spills beyond ~15 live v128. bf16: 32 bytes of each row per iteration into one accumulator
  // per row, a fence after each row (without it TurboFan loads all rows first and spills them: 8 rows did); 6 rows
  // ran 1.2-1.4x the unfenced 8 rows on a cache-resident 1024x3072 (in-process alternation, relaxed_madd), 8 fenced
  // rows 1.0-1.3x, 4 rows 1.04x, 16 bytes per row 1.1x, 64 bytes slower. f16 is bound by its decode (3 Gweights/s
  // in every form tried), so it keeps 4 x 1 x 2.
  const R = kind === 'bf16' ? 6 : 4;
  const H = kind === 'bf16' ? 2 : 1;
  const NA = kind === 'bf16' ? 1 : 2;
  const rows = new RowRuns(f, R, J0, J1);
  const kk = f.local('i32');
  const kMain = f.local('i32');
  const k4 = f.local('i32');
  const ptr: number[] = [];
  for (let r = 0; r < R; r++) ptr.push(f.local('i32'));
  const acc: number[] = [];
  for (let r = 0; r < NA * R; r++) acc.push(f.local('v128'));
  const av: number[] = [];
  const xs: number[] = [];
  for (let q = 0; q < 2 * H; q++) av.push(f.local('v128'));
  for (let q = 0; q < 2 * H; q++) xs.push(f.local('v128'));
  const w = f.local('v128');
  const ap = f.local('i32');
  const s = f.local('f32');
  const t = f.local('v128');
  const EVEN = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
  const ODD = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31];
  // f32x4 of the even / odd elements of the 8 patterns in `w`.
  const evenHalf = () => {
    if (kind === 'bf16') f.get(w).i32(16).$('i32x4.shl');
    else {
      f.get(w).k('i32x4', 0xffff).$('v128.and');
      d.vec();
    }
  };
  const oddHalf = () => {
    if (kind === 'bf16') f.get(w).k('i32x4', 0xffff0000 | 0).$('v128.and');
    else {
      f.get(w).i32(16).$('i32x4.shr_u');
      d.vec();
    }
  };
  f.get(K).i32(-8 * H).$('i32.and').set(kMain);
  f.get(K).i32(-4).$('i32.and').set(k4);
  rows.loop(() => {
    for (let r = 0; r < R; r++) {
      rows.ptr(r, B, CS);
      f.set(ptr[r]!);
      for (let a = 0; a < NA; a++) f.i32x4(0).set(acc[NA * r + a]!);
    }
    f.get(A).set(ap);
    f.for_(kk, () => f.i32(0), () => f.get(kMain), 8 * H, () => {
      // One v128 holds 8 consecutive 16-bit values: the low halves of its i32 lanes are k = 0,2,4,6 and the
      // high halves k = 1,3,5,7. Decode the two halves separately (no widening) against a split into even / odd.
      for (let q = 0; q < 2 * H; q++) f.get(ap).$('v128.load', q * 16).set(av[q]!);
      for (let h = 0; h < H; h++) {
        f.get(av[2 * h]!).get(av[2 * h + 1]!).shuffle(EVEN).set(xs[2 * h]!);
        f.get(av[2 * h]!).get(av[2 * h + 1]!).shuffle(ODD).set(xs[2 * h + 1]!);
      }
      for (let r = 0; r < R; r++) {
        for (let h = 0; h < H; h++) {
          f.get(ptr[r]!).$('v128.load', h * 16).set(w);
          const ae = acc[NA * r + ((2 * h) % NA)]!;
          const ao = acc[NA * r + ((2 * h + 1) % NA)]!;
          madd(f, fma, () => f.get(ae), () => f.get(xs[2 * h]!), () => evenHalf());
          f.set(ae);
          madd(f, fma, () => f.get(ao), () => f.get(xs[2 * h + 1]!), () => oddHalf());
          f.set(ao);
        }
        f.get(ptr[r]!).i32(16 * H).$('i32.add').set(ptr[r]!);
        if (kind === 'bf16') f.fence(K, acc.slice(NA * r, NA * (r + 1)));
      }
      f.get(ap).i32(32 * H).$('i32.add').set(ap);
    });
    // four at a time up to k4
    f.for_(kk, () => f.get(kMain), () => f.get(k4), 4, () => {
      f.get(ap).$('v128.load').set(av[0]!);
      for (let r = 0; r < R; r++) {
        madd(f, fma, () => f.get(acc[NA * r]!), () => f.get(av[0]!), () => d.load4(() => f.get(ptr[r]!)));
        f.set(acc[NA * r]!);
        f.get(ptr[r]!).i32(8).$('i32.add').set(ptr[r]!);
      }
      f.get(ap).i32(16).$('i32.add').set(ap);
    });
    for (let r = 0; r < R; r++) {
      f.get(acc[NA * r]!);
      for (let a = 1; a < NA; a++) f.get(acc[NA * r + a]!).$('f32x4.add');
      f.tee(t);
      f.get(t).get(t).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('f32x4.add').tee(t);
      f.$('f32x4.extract_lane', 0).get(t).$('f32x4.extract_lane', 1).$('f32.add').set(s);
      // k tail: ptr[r] has reached element k4 of its row
      f.for_(kk, () => f.get(k4), () => f.get(K), 1, () => {
        f.get(s);
        f.get(A).get(kk).i32(2).$('i32.shl').$('i32.add').$('f32.load');
        d.load1(() => f.get(ptr[r]!));
        f.$('f32.mul').$('f32.add').set(s);
        f.get(ptr[r]!).i32(2).$('i32.add').set(ptr[r]!);
      });
      rows.store(r, C, () => f.get(s));
    }
  });
}

/** Emits all 16-bit-B kernels (needs the f32 `ukernel` and `packA` already emitted). */
export function emitGemm16(mb: ModuleBuilder, p: GemmParams): void {
  for (const t of HALF_KINDS) {
    emitPackB16(mb, p, t);
    emitDriver(mb, p, `gemm_${t}`, `packB_${t}`, 1);
    // The column-tail of gemvRows is scalar mul+add: keep the vector body unfused so both agree bit for bit.
    emitGemvRows16(mb, t, false);
    emitGemvDot16(mb, t, p.fma);
    emitBatched(mb, `gemm_${t}`, 15, [2, 5, 8]);
    emitBatched(mb, `gemvRows_${t}`, 7, [1, 2, 4]);
    emitBatched(mb, `gemvDot_${t}`, 7, [1, 2, 4]);
  }
}
