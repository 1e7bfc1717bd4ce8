// Emits elementwise, row-reduction, softmax and layer-norm kernels. The elementwise kernels are the op table's SIMD
// formulas evaluated over wasm lanes. Transcendental functions are evaluated in f64x2 (range-reduced exp with a
// degree-11 polynomial) and rounded once to f32, so results are within about one ulp of the correctly rounded value
// over the whole f32 range.
import { SIMD_BINARY, SIMD_UNARY, type Formula1, type Formula2, type Lanes, type Simd } from '../../op-table.js';
import type { Func, ModuleBuilder } from './emit.js';

/**
 * out = exp(v) for the f64x2 in local `v` (clobbers `t`, `n`, `r`). Leaves result on the stack. `degree`: of the
 * polynomial on |r| <= ln 2 / 2; 11 is exact to f64 rounding, 8 to 2e-10 relative (enough for a result kept in f32).
 */
function exp64(f: Func, v: number, t: number, kd: number, r: number, degree = 11): void {
  const SHIFT = 6755399441055744; // 1.5 * 2^52
  // t = clamp(v, -708, 709)
  // pmax/pmin (one instruction each) keep a NaN in the first operand.
  f.get(v).k('f64x2', -708).$('f64x2.pmax').k('f64x2', 709).$('f64x2.pmin').set(t);
  f.get(t).k('f64x2', Math.LOG2E).$('f64x2.mul').k('f64x2', SHIFT).$('f64x2.add').set(kd);
  // r = t - n*ln2hi - n*ln2lo, n = kd - SHIFT
  f.get(t);
  f.get(kd).k('f64x2', SHIFT).$('f64x2.sub').tee(r).k('f64x2', 0.6931471803691238).$('f64x2.mul').$('f64x2.sub');
  f.get(r).k('f64x2', 1.9082149292705877e-10).$('f64x2.mul').$('f64x2.sub').set(r);
  // p(r) = sum r^i / i!, i <= degree (Horner)
  let fact = 1;
  const c: number[] = [];
  for (let i = 0; i <= degree; i++) {
    if (i > 0) fact *= i;
    c.push(1 / fact);
  }
  f.k('f64x2', c[degree]!);
  for (let i = degree - 1; i >= 0; i--) f.get(r).$('f64x2.mul').k('f64x2', c[i]!).$('f64x2.add');
  // * 2^n : bits(1.0) + (bits(kd) << 52)
  f.get(kd).i32(52).$('i64x2.shl').k('i64x2', 0x3ff0000000000000n).$('i64x2.add').$('f64x2.mul');
  // v > 709 -> +inf
  f.k('f64x2', Infinity);
  f.get(v).k('f64x2', 709).$('f64x2.gt').$('v128.not'); // keep the result unless v > 709 (NaN stays)
  f.$('v128.bitselect');
  // v < -708 -> 0 (exp(-inf) = 0 exactly, as the reference: x * exp(-inf) must be NaN for x = inf)
  f.get(v).k('f64x2', -708).$('f64x2.lt').$('v128.andnot');
}


/** A value on wasm lanes: emits the instructions that push it. */
type Push = () => void;

/** The op table's lane arithmetic over `shape` lanes: each step writes a fresh local, which the engine keeps in a register. */
function wasmLanes(f: Func, shape: 'f32x4' | 'f64x2'): Lanes<Push, Push> {
  const put = (emit: () => void): Push => {
    const o = f.local('v128');
    emit();
    f.set(o);
    return () => f.get(o);
  };
  const op1 = (name: string) => (a: Push) => put(() => (a(), f.$(`${shape}.${name}`)));
  const op2 = (name: string) => (a: Push, b: Push) => put(() => (a(), b(), f.$(`${shape}.${name}`)));
  let tmp: [number, number, number, number] | null = null;
  return {
    k: (v) => () => f.k(shape, v),
    add: op2('add'), sub: op2('sub'), mul: op2('mul'), div: op2('div'),
    neg: op1('neg'), abs: op1('abs'), sqrt: op1('sqrt'), max: op2('max'), min: op2('min'),
    ge: op2('ge'), lt: op2('lt'),
    select: (m, a, b) => put(() => (a(), b(), m(), f.$('v128.bitselect'))),
    exp: (a) => {
      if (shape !== 'f64x2') throw new Error('emit: exp needs f64 lanes');
      tmp ??= [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
      const [v, t, kd, r] = tmp;
      return put(() => {
        a();
        f.set(v);
        exp64(f, v, t, kd, r);
      });
    },
  };
}

function emitUnary(mb: ModuleBuilder, op: string, k: Simd<Formula1>): void {
  // un_<op>(x, out, n)
  const f = mb.func('un_' + op, ['i32', 'i32', 'i32'], []);
  const [X, O, N] = [0, 1, 2];
  const i = f.local('i32');
  const xv = f.local('v128');
  const n4 = f.local('i32');
  const lo = f.local('v128');
  const L = wasmLanes(f, k.lanes === 'f64' ? 'f64x2' : 'f32x4');
  const apply = () => k.f(L, () => f.get(xv))();
  f.get(N).i32(-4).$('i32.and').set(n4);
  if (k.lanes === 'f64') {
    // 4 floats per step: two f64x2 halves.
    f.for_(i, () => f.i32(0), () => f.get(n4), 4, () => {
      f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('v128.load').set(lo);
      f.get(lo).$('f64x2.promote_low_f32x4').set(xv);
      apply();
      f.$('f32x4.demote_f64x2_zero');
      f.get(lo).get(lo).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('f64x2.promote_low_f32x4').set(xv);
      apply();
      f.$('f32x4.demote_f64x2_zero');
      f.shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]).set(lo);
      f.get(O).get(i).i32(2).$('i32.shl').$('i32.add').get(lo).$('v128.store');
    });
    f.for_(i, () => f.get(n4), () => f.get(N), 1, () => {
      f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('v128.load32_zero').$('f64x2.promote_low_f32x4').set(xv);
      f.get(O).get(i).i32(2).$('i32.shl').$('i32.add');
      apply();
      f.$('f32x4.demote_f64x2_zero').$('v128.store32_lane', 0, 0);
    });
  } else {
    f.for_(i, () => f.i32(0), () => f.get(n4), 4, () => {
      f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('v128.load').set(xv);
      f.get(O).get(i).i32(2).$('i32.shl').$('i32.add');
      apply();
      f.$('v128.store');
    });
    f.for_(i, () => f.get(n4), () => f.get(N), 1, () => {
      f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('v128.load32_zero').set(xv);
      f.get(O).get(i).i32(2).$('i32.shl').$('i32.add');
      apply();
      f.$('v128.store32_lane', 0, 0);
    });
  }
}

/** The kernel name of relu2's backward, emitted as a binary kernel bin_<name>(g, x, out, n, 0). */
export const RELU2_BACKWARD_OP = 'relu2_backward';
/** relu2's backward g * 2 relu(x): 2 relu(x) is exact, so one rounding, as the composed mul(g, add(r, r)). */
const RELU2_BACKWARD: Simd<Formula2> = {
  lanes: 'f32',
  f: (m, g, x) => {
    const r = m.max(x, m.k(0));
    return m.mul(g, m.add(r, r));
  },
};

function emitBinary(mb: ModuleBuilder, op: string, k: Simd<Formula2>, rows = true): void {
  // bin_<op>(a, b, out, n, bScalar)
  const f = mb.func('bin_' + op, ['i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [A, B, O, N, SC] = [0, 1, 2, 3, 4];
  const i = f.local('i32');
  const n8 = f.local('i32');
  const bv = f.local('v128');
  const p = f.local('i32');
  const L = wasmLanes(f, 'f32x4');
  /** out[p + off] = op(a[p + off], b) for four lanes (one, in the tail: load32_zero / store32_lane). */
  const step = (off: number, b: Push, one: boolean) => {
    const r = k.f(L, () => f.get(A).get(p).$('i32.add').$(one ? 'v128.load32_zero' : 'v128.load', off), b);
    f.get(O).get(p).$('i32.add');
    r();
    if (one) f.$('v128.store32_lane', 0, 0);
    else f.$('v128.store', off);
  };
  const bAt = (off: number, one: boolean) => () => f.get(B).get(p).$('i32.add').$(one ? 'v128.load32_zero' : 'v128.load', off);
  const loops = (b: (off: number, one: boolean) => Push) => {
    f.for_(i, () => f.i32(0), () => f.get(n8), 8, () => {
      f.get(i).i32(2).$('i32.shl').set(p);
      for (const off of [0, 16]) step(off, b(off, false), false);
    });
    f.for_(i, () => f.get(n8), () => f.get(N), 1, () => {
      f.get(i).i32(2).$('i32.shl').set(p);
      step(0, b(0, true), true);
    });
  };
  f.get(N).i32(-8).$('i32.and').set(n8);
  f.get(SC).if_();
  f.get(B).$('v128.load32_splat').set(bv);
  loops(() => () => f.get(bv));
  f.$('else');
  loops(bAt);
  f.$('end');
  if (!rows) return;
  // binrow_<op>(a, b, out, rows, rowLen): b has rowLen elements, repeated per row.
  const g = mb.func('binrow_' + op, ['i32', 'i32', 'i32', 'i32', 'i32'], []);
  const r = g.local('i32');
  const self = mb.index('bin_' + op);
  g.for_(r, () => g.i32(0), () => g.get(3), 1, () => {
    g.get(0).get(1).get(2).get(4).i32(0).call(self);
    g.get(0).get(4).i32(2).$('i32.shl').$('i32.add').set(0);
    g.get(2).get(4).i32(2).$('i32.shl').$('i32.add').set(2);
  });
}

/**
 * row_max / row_min (x, out, rows, rowLen): each row's max (min) into out as f32, NaN when the row holds one (wasm's
 * f32 max / min propagate NaN). row_argmax / row_argmin: the index (i32) of its first occurrence instead, as torch's
 * argmax: the value is found by the same reduction, then the row is scanned four lanes at a time for the first
 * element equal to it (for NaN, the first NaN). rowLen > 0.
 */
function emitRowReduce(mb: ModuleBuilder, kind: 'max' | 'min', arg: boolean): void {
  const f = mb.func((arg ? 'row_arg' : 'row_') + kind, ['i32', 'i32', 'i32', 'i32'], []);
  const [X, O, ROWS, LEN] = [0, 1, 2, 3];
  const vop = `f32x4.${kind}`;
  const sop = `f32.${kind}`;
  const init = kind === 'max' ? -Infinity : Infinity;
  const r = f.local('i32');
  const i = f.local('i32');
  const p = f.local('i32');
  const n16 = f.local('i32');
  const n4 = f.local('i32');
  const acc = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const t = f.local('v128');
  const s = f.local('f32');
  f.get(LEN).i32(-16).$('i32.and').set(n16);
  f.get(LEN).i32(-4).$('i32.and').set(n4);
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    for (const a of acc) f.f32x4(init).set(a);
    f.for_(i, () => f.i32(0), () => f.get(n16), 16, () => {
      f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').set(p);
      for (let q = 0; q < 4; q++) f.get(acc[q]!).get(p).$('v128.load', q * 16).$(vop).set(acc[q]!);
    });
    f.for_(i, () => f.get(n16), () => f.get(n4), 4, () => {
      f.get(acc[0]!).get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('v128.load').$(vop).set(acc[0]!);
    });
    f.get(acc[0]!).get(acc[1]!).$(vop).get(acc[2]!).get(acc[3]!).$(vop).$(vop).tee(t);
    f.get(t).get(t).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$(vop).tee(t);
    f.$('f32x4.extract_lane', 0).get(t).$('f32x4.extract_lane', 1).$(sop).set(s);
    f.for_(i, () => f.get(n4), () => f.get(LEN), 1, () => {
      f.get(s).get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('f32.load').$(sop).set(s);
    });
    f.get(O).get(r).i32(2).$('i32.shl').$('i32.add');
    if (arg) emitFindFirst(f, X, LEN, n4, s, i, t);
    else f.get(s).$('f32.store');
    f.get(X).get(LEN).i32(2).$('i32.shl').$('i32.add').set(X);
  });
}

/**
 * Pushes the index of the first element of row [X, X + 4 LEN) equal to f32 `s`, or the first NaN when `s` is NaN, and
 * stores it (i32) at the address below it on the stack. A group of four with a match ends the SIMD scan; the scalar
 * scan then starts at that group (or at n4, the SIMD part's end, when none matched).
 */
function emitFindFirst(f: Func, X: number, LEN: number, n4: number, s: number, i: number, mask: number): void {
  const target = f.local('v128');
  const nan = f.local('v128');
  const at = f.local('i32');
  const found = f.local('i32');
  f.get(s).$('f32x4.splat').tee(target).get(target).$('f32x4.ne').set(nan); // all ones when s is NaN
  f.get(n4).set(at);
  f.for_(i, () => f.i32(0), () => f.get(n4), 4, () => {
    f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('v128.load').tee(mask).get(target).$('f32x4.eq');
    f.get(mask).get(mask).$('f32x4.ne').get(nan).$('v128.and').$('v128.or').$('v128.any_true').if_();
    f.get(i).set(at).br(2);
    f.$('end');
  });
  f.get(LEN).set(found);
  f.for_(i, () => f.get(at), () => f.get(LEN), 1, () => {
    f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').$('f32.load').set(s); // s is free now: the target is in lanes
    f.get(s).get(s).$('f32.ne').get(nan).$('i32x4.extract_lane', 0).$('i32.and');
    f.get(s).get(target).$('f32x4.extract_lane', 0).$('f32.eq').$('i32.or').if_();
    f.get(i).set(found).br(2);
    f.$('end');
  });
  f.get(found).$('i32.store');
}

/** Scalar natural log for f64 x > 0 (finite, normal): exponent split + atanh series. */
function emitLog64(mb: ModuleBuilder): void {
  const f = mb.func('log64', ['f64'], ['f64'], false);
  const bits = f.local('i64');
  const e = f.local('f64');
  const m = f.local('f64');
  const t = f.local('f64');
  const t2 = f.local('f64');
  f.get(0).$('i64.reinterpret_f64').set(bits);
  // e = exponent - 1023 ; m = mantissa in [1, 2)
  f.get(bits).i64(52n).$('i64.shr_u').i64(2047n).$('i64.and').$('f64.convert_i64_s').f64(1023).$('f64.sub').set(e);
  f.get(bits).i64(0xfffffffffffffn).$('i64.and').i64(0x3ff0000000000000n).$('i64.or').$('f64.reinterpret_i64').set(m);
  f.get(m).f64(Math.SQRT2).$('f64.gt').if_();
  f.get(m).f64(0.5).$('f64.mul').set(m);
  f.get(e).f64(1).$('f64.add').set(e);
  f.$('end');
  f.get(m).f64(1).$('f64.sub').get(m).f64(1).$('f64.add').$('f64.div').tee(t).get(t).$('f64.mul').set(t2);
  // 2t (1 + t2/3 + t2^2/5 + ... + t2^9/19)
  f.f64(1 / 19);
  for (let k = 17; k >= 1; k -= 2) f.get(t2).$('f64.mul').f64(1 / k).$('f64.add');
  f.get(t).$('f64.mul').f64(2).$('f64.mul');
  f.get(e).f64(Math.LN2).$('f64.mul').$('f64.add');
}

function emitSoftmax(mb: ModuleBuilder): void {
  // softmax(x, out, rows, rowLen, log, tmp, scale, first, period, phase): softmax (log-softmax) of scale * row, scale >
  // 0; tmp = 16 bytes of scratch; x and out may be the same rows (in place). With period > 0, row i covers only its
  // first min(rowLen, first + (phase + i) % period) elements (a causal mask) and the rest of it is written 0 (-inf).
  const rowMax = mb.index('row_max');
  const log64 = mb.index('log64');
  const f = mb.func('softmax', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'i32', 'i32', 'i32'], []);
  const [X, O, ROWS, LEN, LOG, TMP, SCALE, FIRST, PERIOD, PHASE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const r = f.local('i32');
  const i = f.local('i32');
  const n = f.local('i32');
  const mx = f.local('v128');
  const sc = f.local('v128');
  const sum = f.local('v128');
  const sum2 = f.local('v128');
  const xv = f.local('v128');
  const e = f.local('v128');
  const e2 = f.local('v128');
  const tmp = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const n4 = f.local('i32');
  const s = f.local('f64');
  const mxs = f.local('f32');
  const inv = f.local('v128');
  const HIGH = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
  const LOW_PAIRS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]; // two demoted pairs into one f32x4
  const at = (base: number) => f.get(base).get(i).i32(2).$('i32.shl').$('i32.add');
  // exp of (lanes - max) * scale in f64 (the difference is exact): degree 8, as the values are rounded to f32
  const exp = (dst: number) => {
    f.get(xv).get(mx).$('f64x2.sub').get(sc).$('f64x2.mul').set(tmp[0]!);
    exp64(f, tmp[0]!, tmp[1]!, tmp[2]!, tmp[3]!, 8);
    f.set(dst);
  };
  f.get(SCALE).$('f64x2.splat').set(sc);
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    // n: the row's unmasked length
    f.get(LEN).set(n);
    f.get(PERIOD).if_();
    f.get(FIRST).get(PHASE).$('i32.add').tee(n).get(LEN).get(n).get(LEN).$('i32.lt_s').$('select').set(n);
    f.get(PHASE).i32(1).$('i32.add').tee(PHASE).get(PERIOD).$('i32.eq').if_();
    f.i32(0).set(PHASE);
    f.$('end');
    f.$('end');
    f.get(n).i32(-4).$('i32.and').set(n4);
    f.get(X).get(TMP).i32(1).get(n).call(rowMax);
    f.get(TMP).$('f32.load').tee(mxs);
    f.$('f64.promote_f32').$('f64x2.splat').set(mx);
    f.f64x2(0).set(sum);
    f.f64x2(0).set(sum2);
    // four lanes a step, as two f64 pairs with their own sums (independent chains the core overlaps)
    f.for_(i, () => f.i32(0), () => f.get(n4), 4, () => {
      at(X).$('v128.load', 0).set(tmp[4]!);
      f.get(tmp[4]!).$('f64x2.promote_low_f32x4').set(xv);
      exp(e);
      f.get(tmp[4]!).get(tmp[4]!).shuffle(HIGH).$('f64x2.promote_low_f32x4').set(xv);
      exp(e2);
      f.get(sum).get(e).$('f64x2.add').set(sum);
      f.get(sum2).get(e2).$('f64x2.add').set(sum2);
      f.get(LOG).$('i32.eqz').if_();
      at(O).get(e).$('f32x4.demote_f64x2_zero').get(e2).$('f32x4.demote_f64x2_zero');
      f.shuffle(LOW_PAIRS).$('v128.store', 0);
      f.$('end');
    });
    f.for_(i, () => f.get(n4), () => f.get(n), 1, () => {
      at(X).$('v128.load32_zero').$('f64x2.promote_low_f32x4').set(xv);
      exp(e);
      f.get(e).i64x2(0n).i32(-1).$('i32x4.replace_lane', 0).i32(-1).$('i32x4.replace_lane', 1).$('v128.and').set(e);
      f.get(sum).get(e).$('f64x2.add').set(sum);
      f.get(LOG).$('i32.eqz').if_();
      at(O).get(e).$('f32x4.demote_f64x2_zero').$('v128.store32_lane', 0, 0);
      f.$('end');
    });
    f.get(sum).get(sum2).$('f64x2.add').set(sum);
    f.get(sum).$('f64x2.extract_lane', 0).get(sum).$('f64x2.extract_lane', 1).$('f64.add').set(s);
    f.get(LOG).if_();
    // out = x * scale - (max * scale + log(sum)); past n, -inf
    f.get(mx).$('f64x2.extract_lane', 0).get(SCALE).$('f64.mul').get(s).call(log64).$('f64.add').$('f64x2.splat').set(e);
    f.for_(i, () => f.i32(0), () => f.get(n), 1, () => {
      at(O);
      at(X).$('f32.load').$('f64.promote_f32').get(SCALE).$('f64.mul').get(e).$('f64x2.extract_lane', 0).$('f64.sub');
      f.$('f32.demote_f64').$('f32.store');
    });
    f.for_(i, () => f.get(n), () => f.get(LEN), 1, () => {
      at(O).f32(-Infinity).$('f32.store');
    });
    f.$('else');
    // out = e * (1 / sum) in f64, rounded once to f32: the product is within an f64 ulp of e / sum; past n, 0
    f.f64(1).get(s).$('f64.div').$('f64x2.splat').set(inv);
    f.for_(i, () => f.i32(0), () => f.get(n4), 4, () => {
      at(O).$('v128.load', 0).set(tmp[4]!);
      at(O);
      f.get(tmp[4]!).$('f64x2.promote_low_f32x4').get(inv).$('f64x2.mul').$('f32x4.demote_f64x2_zero');
      f.get(tmp[4]!).get(tmp[4]!).shuffle(HIGH).$('f64x2.promote_low_f32x4').get(inv).$('f64x2.mul').$('f32x4.demote_f64x2_zero');
      f.shuffle(LOW_PAIRS).$('v128.store', 0);
    });
    f.for_(i, () => f.get(n4), () => f.get(n), 1, () => {
      at(O);
      at(O).$('f32.load').$('f64.promote_f32').get(inv).$('f64x2.extract_lane', 0).$('f64.mul');
      f.$('f32.demote_f64').$('f32.store');
    });
    f.for_(i, () => f.get(n), () => f.get(LEN), 1, () => {
      at(O).f32(0).$('f32.store');
    });
    f.$('end');
    f.get(X).get(LEN).i32(2).$('i32.shl').$('i32.add').set(X);
    f.get(O).get(LEN).i32(2).$('i32.shl').$('i32.add').set(O);
  });
}

/**
 * Pushes exp(v) for the f32x4 in local `v` (clobbers t, n): Cephes' expf (range reduction by ln 2 in two parts, degree-5
 * polynomial), within 2 ulp for v in [-87.3, 88]; below, 0. For softmax-like arguments (v <= 0) where f32 suffices.
 */
function exp32(f: Func, v: number, t: number, n: number): void {
  f.get(v).k('f32x4', -87.33654).$('f32x4.pmax').k('f32x4', 88).$('f32x4.pmin').set(t);
  f.get(t).k('f32x4', Math.LOG2E).$('f32x4.mul').$('f32x4.nearest').set(n);
  f.get(t).get(n).k('f32x4', 0.693359375).$('f32x4.mul').$('f32x4.sub').get(n).k('f32x4', -2.12194440e-4).$('f32x4.mul').$('f32x4.sub').set(t);
  f.k('f32x4', 1.9875691500e-4);
  for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) f.get(t).$('f32x4.mul').k('f32x4', c).$('f32x4.add');
  f.get(t).get(t).$('f32x4.mul').$('f32x4.mul').get(t).$('f32x4.add').k('f32x4', 1).$('f32x4.add');
  f.get(n).$('i32x4.trunc_sat_f32x4_s').k('i32x4', 127).$('i32x4.add').i32(23).$('i32x4.shl').$('f32x4.mul');
  f.get(v).k('f32x4', -87.33654).$('f32x4.lt').$('v128.andnot');
}

function emitRowLogSumExp(mb: ModuleBuilder): void {
  // row_lse(x, out, rows, rowLen, tmp): out[r] = max + log(sum(exp(x - max))) per row; exp in f32 lanes (each term
  // within 2 ulp), summed in f64; tmp = 16 bytes
  const rowMax = mb.index('row_max');
  const log64 = mb.index('log64');
  const f = mb.func('row_lse', ['i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [X, O, ROWS, LEN, TMP] = [0, 1, 2, 3, 4];
  const r = f.local('i32');
  const i = f.local('i32');
  const n4 = f.local('i32');
  const mx = f.local('v128');
  const sum = f.local('v128');
  const v = f.local('v128');
  const t = f.local('v128');
  const n = f.local('v128');
  const e = f.local('v128');
  const total = f.local('f64');
  f.get(LEN).i32(-4).$('i32.and').set(n4);
  const expAt = (one: boolean) => {
    f.get(X).get(i).i32(2).$('i32.shl').$('i32.add').$(one ? 'v128.load32_zero' : 'v128.load', 0).get(mx).$('f32x4.sub').set(v);
    exp32(f, v, t, n);
    f.set(e);
  };
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    f.get(X).get(TMP).i32(1).get(LEN).call(rowMax);
    f.get(TMP).$('v128.load32_splat').set(mx);
    f.f64x2(0).set(sum);
    f.for_(i, () => f.i32(0), () => f.get(n4), 4, () => {
      expAt(false);
      f.get(sum).get(e).$('f64x2.promote_low_f32x4').$('f64x2.add');
      f.get(e).get(e).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('f64x2.promote_low_f32x4').$('f64x2.add').set(sum);
    });
    f.get(sum).$('f64x2.extract_lane', 0).get(sum).$('f64x2.extract_lane', 1).$('f64.add').set(total);
    f.for_(i, () => f.get(n4), () => f.get(LEN), 1, () => {
      expAt(true);
      f.get(e).$('f32x4.extract_lane', 0).$('f64.promote_f32').get(total).$('f64.add').set(total);
    });
    f.get(O).get(r).i32(2).$('i32.shl').$('i32.add');
    f.get(total).call(log64).get(TMP).$('f32.load').$('f64.promote_f32').$('f64.add').$('f32.demote_f64').$('f32.store');
    f.get(X).get(LEN).i32(2).$('i32.shl').$('i32.add').set(X);
  });
}

function emitCrossEntropyGrad(mb: ModuleBuilder): void {
  // ce_grad(x, out, rows, rowLen, lse, scale): out = exp(x - lse[r]) * scale[r] per row in f32 lanes (a gradient: f32
  // precision suffices; the one-hot subtraction is the caller's, one element per row)
  const f = mb.func('ce_grad', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], []);
  const [X, O, ROWS, LEN, LSE, SCALE] = [0, 1, 2, 3, 4, 5];
  const r = f.local('i32');
  const i = f.local('i32');
  const p = f.local('i32');
  const n4 = f.local('i32');
  const mx = f.local('v128');
  const sc = f.local('v128');
  const v = f.local('v128');
  const t = f.local('v128');
  const n = f.local('v128');
  f.get(LEN).i32(-4).$('i32.and').set(n4);
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    f.get(LSE).get(r).i32(2).$('i32.shl').$('i32.add').$('v128.load32_splat').set(mx);
    f.get(SCALE).get(r).i32(2).$('i32.shl').$('i32.add').$('v128.load32_splat').set(sc);
    const body = (one: boolean) => {
      f.get(i).i32(2).$('i32.shl').set(p);
      f.get(X).get(p).$('i32.add').$(one ? 'v128.load32_zero' : 'v128.load', 0).get(mx).$('f32x4.sub').set(v);
      f.get(O).get(p).$('i32.add');
      exp32(f, v, t, n);
      f.get(sc).$('f32x4.mul');
      if (one) f.$('v128.store32_lane', 0, 0);
      else f.$('v128.store', 0);
    };
    f.for_(i, () => f.i32(0), () => f.get(n4), 4, () => body(false));
    f.for_(i, () => f.get(n4), () => f.get(LEN), 1, () => body(true));
    f.get(X).get(LEN).i32(2).$('i32.shl').$('i32.add').set(X);
    f.get(O).get(LEN).i32(2).$('i32.shl').$('i32.add').set(O);
  });
}

function emitLayerNorm(mb: ModuleBuilder): void {
  // layernorm(x, out, rows, rowLen, w, b, eps, mean, rstd); w/b/mean/rstd = 0 when absent
  const f = mb.func('layernorm', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'i32', 'i32'], []);
  const [X, O, ROWS, LEN, W, B, EPS, MEAN, RSTD] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const r = f.local('i32');
  const i = f.local('i32');
  const n2 = f.local('i32');
  const acc = f.local('v128');
  const mv = f.local('v128');
  const rv = f.local('v128');
  const xv = f.local('v128');
  const mean = f.local('f64');
  const rstd = f.local('f64');
  const y = f.local('f64');
  f.get(LEN).i32(-2).$('i32.and').set(n2);
  const at = (base: number) => f.get(base).get(i).i32(2).$('i32.shl').$('i32.add');
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    f.f64x2(0).set(acc);
    f.for_(i, () => f.i32(0), () => f.get(n2), 2, () => {
      f.get(acc);
      at(X).$('v128.load64_zero').$('f64x2.promote_low_f32x4').$('f64x2.add').set(acc);
    });
    f.get(acc).$('f64x2.extract_lane', 0).get(acc).$('f64x2.extract_lane', 1).$('f64.add').set(mean);
    f.get(n2).get(LEN).$('i32.ne').if_();
    f.get(mean).get(X).get(n2).i32(2).$('i32.shl').$('i32.add').$('f32.load').$('f64.promote_f32').$('f64.add').set(mean);
    f.$('end');
    f.get(mean).get(LEN).$('f64.convert_i32_s').$('f64.div').tee(mean).$('f64x2.splat').set(mv);
    f.f64x2(0).set(acc);
    f.for_(i, () => f.i32(0), () => f.get(n2), 2, () => {
      at(X).$('v128.load64_zero').$('f64x2.promote_low_f32x4').get(mv).$('f64x2.sub').tee(xv);
      f.get(xv).$('f64x2.mul').get(acc).$('f64x2.add').set(acc);
    });
    f.get(acc).$('f64x2.extract_lane', 0).get(acc).$('f64x2.extract_lane', 1).$('f64.add').set(rstd);
    f.get(n2).get(LEN).$('i32.ne').if_();
    f.get(X).get(n2).i32(2).$('i32.shl').$('i32.add').$('f32.load').$('f64.promote_f32').get(mean).$('f64.sub').tee(y);
    f.get(y).$('f64.mul').get(rstd).$('f64.add').set(rstd);
    f.$('end');
    f.f64(1).get(rstd).get(LEN).$('f64.convert_i32_s').$('f64.div').get(EPS).$('f64.add').$('f64.sqrt').$('f64.div').tee(rstd);
    f.$('f64x2.splat').set(rv);
    f.get(MEAN).if_().get(MEAN).get(r).i32(2).$('i32.shl').$('i32.add').get(mean).$('f32.demote_f64').$('f32.store').$('end');
    f.get(RSTD).if_().get(RSTD).get(r).i32(2).$('i32.shl').$('i32.add').get(rstd).$('f32.demote_f64').$('f32.store').$('end');
    // out = (x - mean) * rstd * w + b, per element in f64
    f.for_(i, () => f.i32(0), () => f.get(LEN), 1, () => {
      at(X).$('f32.load').$('f64.promote_f32').get(mean).$('f64.sub').get(rstd).$('f64.mul').set(y);
      f.get(W).if_().get(y);
      at(W).$('f32.load').$('f64.promote_f32').$('f64.mul').set(y).$('end');
      f.get(B).if_().get(y);
      at(B).$('f32.load').$('f64.promote_f32').$('f64.add').set(y).$('end');
      at(O).get(y).$('f32.demote_f64').$('f32.store');
    });
    f.get(X).get(LEN).i32(2).$('i32.shl').$('i32.add').set(X);
    f.get(O).get(LEN).i32(2).$('i32.shl').$('i32.add').set(O);
  });
  void xv;
}

function emitAdam(mb: ModuleBuilder): void {
  // adam(p, g, m, v, n, mode, sign, beta1, beta2, 1 - beta1, 1 - beta2, decay, weightDecay, sqrt(bc2), eps, stepSize):
  // n a multiple of 4; mode 0 no weight decay, 1 decoupled (p *= decay), 2 added to the gradient. f32x4 arithmetic
  // rounds every step to f32, in torch's order, so the result equals the op-by-op update.
  const f = mb.func('adam', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', ...Array<'f32'>(10).fill('f32')], []);
  const [P, G, M, V, N, MODE] = [0, 1, 2, 3, 4, 5];
  const k = Array.from({ length: 10 }, (_, j) => {
    const l = f.local('v128');
    f.get(6 + j).$('f32x4.splat').set(l);
    return l;
  });
  const [SIGN, B1, B2, O1, O2, DEC, WD, SQ, EPS, SS] = k as [number, number, number, number, number, number, number, number, number, number];
  const i = f.local('i32');
  const p = f.local('i32');
  const d = f.local('v128');
  const w = f.local('v128');
  const mv = f.local('v128');
  const vv = f.local('v128');
  const at = (base: number) => f.get(base).get(p).$('i32.add');
  const loop = (mode: number) => f.for_(i, () => f.i32(0), () => f.get(N), 4, () => {
    f.get(i).i32(2).$('i32.shl').set(p);
    at(G).$('v128.load', 0).get(SIGN).$('f32x4.mul').set(d);
    at(P).$('v128.load', 0).set(w);
    if (mode === 1) f.get(w).get(DEC).$('f32x4.mul').set(w);
    if (mode === 2) f.get(d).get(w).get(WD).$('f32x4.mul').$('f32x4.add').set(d);
    at(M);
    at(M).$('v128.load', 0).get(B1).$('f32x4.mul').get(d).get(O1).$('f32x4.mul').$('f32x4.add').tee(mv).$('v128.store', 0);
    at(V);
    at(V).$('v128.load', 0).get(B2).$('f32x4.mul').get(d).get(d).$('f32x4.mul').get(O2).$('f32x4.mul').$('f32x4.add').tee(vv).$('v128.store', 0);
    at(P);
    f.get(w).get(mv).get(vv).$('f32x4.sqrt').get(SQ).$('f32x4.div').get(EPS).$('f32x4.add').$('f32x4.div').get(SS).$('f32x4.mul').$('f32x4.sub');
    f.$('v128.store', 0);
  });
  f.get(MODE).i32(1).$('i32.eq').if_();
  loop(1);
  f.$('else');
  f.get(MODE).i32(2).$('i32.eq').if_();
  loop(2);
  f.$('else');
  loop(0);
  f.$('end');
  f.$('end');
}

/**
 * rotary(rows, x, xrsBytes, cos, sin, crsBytes, out, h, D): per row, out[i] = x[i] cos[i] - x[h+i] sin[i] and
 * out[h+i] = x[h+i] cos[h+i] + x[i] sin[h+i] for i < h (h a multiple of 4), x[2h..D) copied; x, cos and sin rows
 * contiguous at the given byte strides, out rows of D packed. f32x4 arithmetic rounds each product and the sum as
 * the composite's float32 ops do.
 */
function emitRotary(mb: ModuleBuilder): void {
  const f = mb.func('rotary', Array<'i32'>(9).fill('i32'), []);
  const [ROWS, X, XRS, C, S, CRS, O, H, D] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const r = f.local('i32');
  const i = f.local('i32');
  const hb = f.local('i32');
  const a = f.local('v128');
  const b = f.local('v128');
  const at = (base: number, off = 0) => f.get(base).get(i).$('i32.add').$('v128.load', off);
  f.get(H).i32(2).$('i32.shl').set(hb);
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    // i runs over bytes here
    f.for_(i, () => f.i32(0), () => f.get(hb), 16, () => {
      at(X).set(a);
      f.get(X).get(hb).$('i32.add').get(i).$('i32.add').$('v128.load').set(b);
      f.get(O).get(i).$('i32.add');
      f.get(a);
      at(C).$('f32x4.mul');
      f.get(b).$('f32x4.neg');
      at(S).$('f32x4.mul').$('f32x4.add').$('v128.store');
      f.get(O).get(hb).$('i32.add').get(i).$('i32.add');
      f.get(b);
      f.get(C).get(hb).$('i32.add').get(i).$('i32.add').$('v128.load').$('f32x4.mul');
      f.get(a);
      f.get(S).get(hb).$('i32.add').get(i).$('i32.add').$('v128.load').$('f32x4.mul').$('f32x4.add').$('v128.store');
    });
    f.for_(i, () => f.get(hb).i32(1).$('i32.shl'), () => f.get(D).i32(2).$('i32.shl'), 4, () => {
      f.get(O).get(i).$('i32.add').get(X).get(i).$('i32.add').$('f32.load').$('f32.store');
    });
    f.get(X).get(XRS).$('i32.add').set(X);
    f.get(C).get(CRS).$('i32.add').set(C);
    f.get(S).get(CRS).$('i32.add').set(S);
    f.get(O).get(D).i32(2).$('i32.shl').$('i32.add').set(O);
  });
}

/**
 * ln_bwd(g, x, mean, rstd, w, rows, len, dx, dw, db, gw, xh): layer-norm backward over rows of even length in f64x2,
 * as kernels/layer-norm.ts's layerNormBackwardRows: dx = rstd (g w - mean(g w) - xhat mean(g w xhat)); dw += g xhat and
 * db += g (f64 accumulators, each optional: 0), w optional; gw / xh are f64 scratch rows of len.
 */
function emitLayerNormBackward(mb: ModuleBuilder): void {
  const f = mb.func('ln_bwd', Array<'i32'>(12).fill('i32'), []);
  const [G, X, MEAN, RSTD, W, ROWS, LEN, DX, DW, DB, GW, XH] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const r = f.local('i32');
  const i = f.local('i32');
  const a = f.local('v128');
  const b = f.local('v128');
  const mu = f.local('v128');
  const rs = f.local('v128');
  const gi = f.local('v128');
  const xh = f.local('v128');
  const gw = f.local('v128');
  const inv = f.local('f64');
  const f32at = (base: number) => f.get(base).get(i).i32(2).$('i32.shl').$('i32.add');
  const f64at = (base: number) => f.get(base).get(i).i32(3).$('i32.shl').$('i32.add');
  const pair = (base: number) => f32at(base).$('v128.load64_zero').$('f64x2.promote_low_f32x4');
  const hsum = (v: number) => f.get(v).$('f64x2.extract_lane', 0).get(v).$('f64x2.extract_lane', 1).$('f64.add');
  f.f64(1).get(LEN).$('f64.convert_i32_s').$('f64.div').set(inv);
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    f.get(MEAN).get(r).i32(2).$('i32.shl').$('i32.add').$('f32.load').$('f64.promote_f32').$('f64x2.splat').set(mu);
    f.get(RSTD).get(r).i32(2).$('i32.shl').$('i32.add').$('f32.load').$('f64.promote_f32').$('f64x2.splat').set(rs);
    f.f64x2(0).set(a);
    f.f64x2(0).set(b);
    f.for_(i, () => f.i32(0), () => f.get(LEN), 2, () => {
      pair(G).set(gi);
      pair(X).get(mu).$('f64x2.sub').get(rs).$('f64x2.mul').set(xh);
      f.get(gi).set(gw);
      f.get(W).if_().get(gi);
      pair(W).$('f64x2.mul').set(gw).$('end');
      f64at(GW).get(gw).$('v128.store');
      f64at(XH).get(xh).$('v128.store');
      f.get(a).get(gw).$('f64x2.add').set(a);
      f.get(b).get(gw).get(xh).$('f64x2.mul').$('f64x2.add').set(b);
      f.get(DW).if_();
      f64at(DW);
      f64at(DW).$('v128.load').get(gi).get(xh).$('f64x2.mul').$('f64x2.add').$('v128.store');
      f.$('end');
      f.get(DB).if_();
      f64at(DB);
      f64at(DB).$('v128.load').get(gi).$('f64x2.add').$('v128.store');
      f.$('end');
    });
    hsum(a).get(inv).$('f64.mul').$('f64x2.splat').set(a);
    hsum(b).get(inv).$('f64.mul').$('f64x2.splat').set(b);
    f.for_(i, () => f.i32(0), () => f.get(LEN), 2, () => {
      f32at(DX);
      f64at(GW).$('v128.load').get(a).$('f64x2.sub');
      f64at(XH).$('v128.load').get(b).$('f64x2.mul').$('f64x2.sub');
      f.get(rs).$('f64x2.mul').$('f32x4.demote_f64x2_zero').$('v128.store64_lane', 0, 0);
    });
    f.get(G).get(LEN).i32(2).$('i32.shl').$('i32.add').set(G);
    f.get(X).get(LEN).i32(2).$('i32.shl').$('i32.add').set(X);
    f.get(DX).get(LEN).i32(2).$('i32.shl').$('i32.add').set(DX);
  });
}

/**
 * sm_bwd(g, y, rows, len, dx): softmax backward over rows of even length in f64x2, as
 * kernels/softmax-backward.ts's softmaxBackwardRows: dx = y (g - sum(g y)).
 */
function emitSoftmaxBackward(mb: ModuleBuilder): void {
  const f = mb.func('sm_bwd', Array<'i32'>(5).fill('i32'), []);
  const [G, Y, ROWS, LEN, DX] = [0, 1, 2, 3, 4];
  const r = f.local('i32');
  const i = f.local('i32');
  const acc = f.local('v128');
  const at = (base: number) => f.get(base).get(i).i32(2).$('i32.shl').$('i32.add');
  const pair = (base: number) => at(base).$('v128.load64_zero').$('f64x2.promote_low_f32x4');
  f.for_(r, () => f.i32(0), () => f.get(ROWS), 1, () => {
    f.f64x2(0).set(acc);
    f.for_(i, () => f.i32(0), () => f.get(LEN), 2, () => {
      pair(G);
      pair(Y).$('f64x2.mul').get(acc).$('f64x2.add').set(acc);
    });
    f.get(acc).$('f64x2.extract_lane', 0).get(acc).$('f64x2.extract_lane', 1).$('f64.add').$('f64x2.splat').set(acc);
    f.for_(i, () => f.i32(0), () => f.get(LEN), 2, () => {
      at(DX);
      pair(Y);
      pair(G).get(acc).$('f64x2.sub').$('f64x2.mul').$('f32x4.demote_f64x2_zero').$('v128.store64_lane', 0, 0);
    });
    f.get(G).get(LEN).i32(2).$('i32.shl').$('i32.add').set(G);
    f.get(Y).get(LEN).i32(2).$('i32.shl').$('i32.add').set(Y);
    f.get(DX).get(LEN).i32(2).$('i32.shl').$('i32.add').set(DX);
  });
}

export const ELEMENTWISE_KERNELS = [
  ...SIMD_BINARY.flatMap(([o]) => ['bin_' + o, 'binrow_' + o]),
  ...SIMD_UNARY.map(([o]) => 'un_' + o),
  'bin_' + RELU2_BACKWARD_OP, 'row_max', 'row_min', 'row_argmax', 'row_argmin', 'softmax', 'layernorm', 'adam', 'row_lse', 'ce_grad', 'rotary', 'ln_bwd', 'sm_bwd',
];

export function emitElementwise(mb: ModuleBuilder): void {
  for (const [op, k] of SIMD_BINARY) emitBinary(mb, op, k);
  for (const [op, k] of SIMD_UNARY) emitUnary(mb, op, k);
  emitBinary(mb, RELU2_BACKWARD_OP, RELU2_BACKWARD, false);
  for (const arg of [false, true]) {
    emitRowReduce(mb, 'max', arg);
    emitRowReduce(mb, 'min', arg);
  }
  emitLog64(mb);
  emitSoftmax(mb);
  emitLayerNorm(mb);
  emitAdam(mb);
  emitRowLogSumExp(mb);
  emitCrossEntropyGrad(mb);
  emitRotary(mb);
  emitLayerNormBackward(mb);
  emitSoftmaxBackward(mb);
}
