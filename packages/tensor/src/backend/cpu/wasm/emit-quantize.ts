// Emits the quantizers: `quantize_<q>_<src>(src, dst, nblocks)` turns nblocks * 32 float32 or bfloat16 values at
// `src` into llama.cpp q8_0 / q4_0 blocks at `dst`, bit for bit as quant-blocks.ts's quantizeBlocks (ggml's reference
// rounding) for every input, NaN, infinities and subnormals included. One block is eight f32x4 registers:
//   amax = the largest |x| ignoring NaN (pmax keeps its first operand, as the reference's `amax < |x|` does);
//   q4_0's `max` = the first x with |x| == amax (a lane bitmask and ctz), +0 when amax is 0;
//   d = amax / 127 (q8_0) or max / -8 (q4_0, as max * -0.125: exact), id = d != 0 ? 1 / d : 0, all in f32 as the reference;
//   d is stored as f16 (round to nearest even, the bit form of dtype.ts's numberToF16);
//   q8_0: roundf(x * id) (halves away from zero, see below) to an int32, its low byte kept as JavaScript's `& 0xff` does;
//   q4_0: min(15, trunc(x * id + 8.5)) for element j and j + 16, the byte (lo | hi << 4) & 0xff.
// Int32 conversions follow JavaScript's ToInt32 where it matters for the kept low byte: NaN, infinities and
// |v| >= 2^31 give low byte 0 (a finite f32 that large is a multiple of 256).
import type { Func, ModuleBuilder } from './emit.js';

type QuantizeKind = 'q8_0' | 'q4_0';
/** The source element kinds the quantizers read. */
export type QuantizeSource = 'f32' | 'bf16';
const BLOCK_BYTES: Record<QuantizeKind, number> = { q8_0: 34, q4_0: 18 };

/** Pushes the f16 bits (i32) of the f32 in local `x` (round to nearest even; NaN -> 0x7e00, as numberToF16). */
function f32ToF16(f: Func, x: number, bits: number, sign: number, o: number): void {
  f.get(x).$('i32.reinterpret_f32').tee(bits).i32(0x80000000).$('i32.and').i32(16).$('i32.shr_u').set(sign);
  f.get(bits).i32(0x7fffffff).$('i32.and').set(bits);
  // |x| >= 2^16 (or inf / NaN): inf, or NaN without its sign
  f.get(bits).i32(0x47800000).$('i32.ge_u').if_();
  f.i32(0x7e00).i32(0x7c00).get(sign).$('i32.or').get(bits).i32(0x7f800000).$('i32.gt_u').$('select').set(o);
  f.$('else');
  // |x| < 2^-14: the f32 add of 0.5 rounds the mantissa to f16 subnormal units (2^-24), to nearest even
  f.get(bits).i32(0x38800000).$('i32.lt_u').if_();
  f.get(bits).$('f32.reinterpret_i32').f32(0.5).$('f32.add').$('i32.reinterpret_f32').i32(0x3f000000).$('i32.sub');
  f.get(sign).$('i32.or').set(o);
  f.$('else');
  // normal: rebias the exponent, add 0xfff plus the lowest kept mantissa bit (ties to even), keep the top bits
  f.get(bits).i32(((15 - 127) << 23) + 0xfff).$('i32.add').get(bits).i32(13).$('i32.shr_u').i32(1).$('i32.and').$('i32.add');
  f.i32(13).$('i32.shr_u').get(sign).$('i32.or').set(o);
  f.$('end');
  f.$('end');
  f.get(o);
}

function emitQuantize(mb: ModuleBuilder, kind: QuantizeKind, src: QuantizeSource): void {
  const f = mb.func(`quantize_${kind}_${src}`, ['i32', 'i32', 'i32'], []);
  const [SRC, DST, NB] = [0, 1, 2];
  const BB = BLOCK_BYTES[kind];
  const SB = src === 'f32' ? 128 : 64; // source bytes per block
  const b = f.local('i32');
  const sp = f.local('i32');
  const dp = f.local('i32');
  const v: number[] = [];
  for (let k = 0; k < 8; k++) v.push(f.local('v128'));
  const m0 = f.local('v128');
  const m1 = f.local('v128');
  const idv = f.local('v128');
  const t = f.local('v128');
  const amax = f.local('f32');
  const max = f.local('f32');
  const d = f.local('f32');
  const mask = f.local('i32');
  const [bits, sign, h] = [f.local('i32'), f.local('i32'), f.local('i32')];
  const ints: number[] = [];
  for (let k = 0; k < 8; k++) ints.push(f.local('v128'));

  f.get(SRC).set(sp);
  f.get(DST).set(dp);
  f.for_(b, () => f.i32(0), () => f.get(NB), 1, () => {
    // the block's 32 values as f32 (bf16 is the top half of an f32)
    if (src === 'f32') {
      for (let k = 0; k < 8; k++) f.get(sp).$('v128.load', 16 * k).set(v[k]!);
    } else {
      for (let k = 0; k < 4; k++) {
        f.get(sp).$('v128.load', 16 * k).set(t);
        f.get(t).$('i32x4.extend_low_i16x8_u').i32(16).$('i32x4.shl').set(v[2 * k]!);
        f.get(t).$('i32x4.extend_high_i16x8_u').i32(16).$('i32x4.shl').set(v[2 * k + 1]!);
      }
    }
    // amax: two pmax chains from +0 (a NaN lane never enters), then across lanes, splat in m0
    f.i32x4(0).set(m0);
    f.i32x4(0).set(m1);
    for (let k = 0; k < 8; k++) {
      const m = k % 2 === 0 ? m0 : m1;
      f.get(m).get(v[k]!).$('f32x4.abs').$('f32x4.pmax').set(m);
    }
    f.get(m0).get(m1).$('f32x4.pmax').set(m0);
    f.get(m0).get(m0).get(m0).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).$('f32x4.pmax').set(m0);
    f.get(m0).get(m0).get(m0).shuffle([4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]).$('f32x4.pmax').set(m0);
    f.get(m0).$('f32x4.extract_lane', 0).set(amax);
    if (kind === 'q8_0') {
      f.get(amax).f32(127).$('f32.div').set(d);
    } else {
      // the first value whose |x| is amax, +0 when amax is 0
      f.i32(0).set(mask);
      for (let k = 7; k >= 0; k--) {
        f.get(mask).i32(4).$('i32.shl');
        f.get(v[k]!).$('f32x4.abs').get(m0).$('f32x4.eq').$('i32x4.bitmask').$('i32.or').set(mask);
      }
      // (ctz & 31: with amax 0 and every value NaN the mask is empty, and the load must stay inside the block)
      f.get(sp).get(mask).$('i32.ctz').i32(31).$('i32.and');
      if (src === 'f32') f.i32(2).$('i32.shl').$('i32.add').$('f32.load');
      else f.i32(1).$('i32.shl').$('i32.add').$('i32.load16_u').i32(16).$('i32.shl').$('f32.reinterpret_i32');
      f.f32(0).get(amax).f32(0).$('f32.ne').$('select').set(max);
      f.get(max).f32(-0.125).$('f32.mul').set(d);
    }
    // id = d != 0 ? 1 / d : 0
    f.f32(1).get(d).$('f32.div').f32(0).get(d).f32(0).$('f32.ne').$('select').$('f32x4.splat').set(idv);
    f.get(dp);
    f32ToF16(f, d, bits, sign, h);
    f.$('i32.store16');
    if (kind === 'q8_0') {
      for (let k = 0; k < 8; k++) {
        // roundf(y), y = x * id: trunc(y + copysign(0.49999997, y)) (the f32 below 0.5: exact for every f32, where
        // adding 0.5 would round 0.49999997 up to 1), then ToInt32's low byte: 0 where |r| >= 2^31, inf or NaN
        f.get(v[k]!).get(idv).$('f32x4.mul').tee(t).k('i32x4', 0x80000000 | 0).$('v128.and').k('f32x4', 0.5 - 2 ** -25).$('v128.or');
        f.get(t).$('f32x4.add').tee(t).$('i32x4.trunc_sat_f32x4_s').get(t).$('f32x4.abs').k('f32x4', 2 ** 31).$('f32x4.lt').$('v128.and');
        f.k('i32x4', 0xff).$('v128.and').set(ints[k]!);
      }
      for (let half = 0; half < 2; half++) {
        f.get(dp);
        f.get(ints[4 * half]!).get(ints[4 * half + 1]!).$('i16x8.narrow_i32x4_u');
        f.get(ints[4 * half + 2]!).get(ints[4 * half + 3]!).$('i16x8.narrow_i32x4_u');
        f.$('i8x16.narrow_i16x8_u').$('v128.store', 2 + 16 * half);
      }
    } else {
      for (let k = 0; k < 8; k++) {
        // min(15, trunc(x * id + 8.5)) as int32 (NaN -> 0; -inf and <= -2^31 saturate to a low byte of 0)
        f.get(v[k]!).get(idv).$('f32x4.mul').k('f32x4', 8.5).$('f32x4.add').k('f32x4', 15).$('f32x4.min');
        f.$('i32x4.trunc_sat_f32x4_s').set(ints[k]!);
      }
      for (let k = 0; k < 4; k++) {
        f.get(ints[k]!).get(ints[k + 4]!).i32(4).$('i32x4.shl').$('v128.or').k('i32x4', 0xff).$('v128.and').set(ints[k]!);
      }
      f.get(dp);
      f.get(ints[0]!).get(ints[1]!).$('i16x8.narrow_i32x4_u');
      f.get(ints[2]!).get(ints[3]!).$('i16x8.narrow_i32x4_u');
      f.$('i8x16.narrow_i16x8_u').$('v128.store', 2);
    }
    f.get(sp).i32(SB).$('i32.add').set(sp);
    f.get(dp).i32(BB).$('i32.add').set(dp);
  });
}

/** Adds quantize_{q8_0,q4_0}_{f32,bf16}. */
export function emitQuantizers(mb: ModuleBuilder): void {
  for (const kind of ['q8_0', 'q4_0'] as const) for (const src of ['f32', 'bf16'] as const) emitQuantize(mb, kind, src);
}
