// dtypes: exact float16/bfloat16 decode and round-to-nearest-even encode (exhaustive over all bit patterns),
// casts through tensors, the promotion table.
import { describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import { expectError } from './helpers-struct.js';

const isNaNF16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isNaNBf16 = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

/** Independent float16 decoder: sign * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024. */
function refF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : sign * Infinity;
  return e === 0 ? sign * 2 ** -14 * (m / 1024) : sign * 2 ** (e - 15) * (1 + m / 1024);
}

/** Independent bfloat16 decoder: the top half of a float32. */
function refBf16(h: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, h << 16);
  return dv.getFloat32(0);
}

describe('16-bit float codecs (all 65536 patterns)', () => {
  for (const [name, dec, enc, isNaNBits, ref, maxFinite] of [
    ['float16', T.f16ToNumber, T.numberToF16, isNaNF16, refF16, 0x7bff],
    ['bfloat16', T.bf16ToNumber, T.numberToBf16, isNaNBf16, refBf16, 0x7f7f],
  ] as const) {
    it(`${name}: decode is exact and encode(decode(bits)) === bits (NaNs stay NaN)`, () => {
      for (let h = 0; h < 65536; h++) {
        const v = dec(h);
        const r = ref(h);
        if (isNaNBits(h)) {
          expect(Number.isNaN(v)).toBe(true);
          const back = enc(v);
          expect(isNaNBits(back)).toBe(true);
          continue;
        }
        if (v !== r || Object.is(v, -0) !== Object.is(r, -0)) expect([h, v]).toEqual([h, r]);
        const back = enc(v);
        if (back !== h) expect([h, back]).toEqual([h, h]);
      }
    });

    it(`${name}: encode rounds to nearest, ties to even (midpoints and their float32 neighbours)`, () => {
      const below = (x: number) => {
        const f = new Float32Array([x]);
        const u = new Uint32Array(f.buffer);
        u[0] = x > 0 ? u[0]! - 1 : u[0]! + 1;
        return f[0]!;
      };
      const above = (x: number) => {
        const f = new Float32Array([x]);
        const u = new Uint32Array(f.buffer);
        u[0] = x > 0 ? u[0]! + 1 : u[0]! - 1;
        return f[0]!;
      };
      for (let k = 0; k <= maxFinite; k++) {
        const a = dec(k);
        // the next value up; past the largest finite one, the "virtual" next step is 2^(emax+1)
        const b = k === maxFinite ? (name === 'float16' ? 65536 : 2 ** 128) : dec(k + 1);
        const mid = (a + b) / 2;
        expect(Math.fround(mid)).toBe(mid); // the midpoint is a float32: these are exactly the inputs that matter
        const even = k % 2 === 0 ? k : k + 1;
        for (const s of [1, -1]) {
          const sb = s < 0 ? 0x8000 : 0;
          const got = enc(s * mid);
          if (got !== (sb | even)) expect([name, k, s * mid, got]).toEqual([name, k, s * mid, sb | even]);
          const lo = enc(s * below(mid));
          const hi = enc(s * above(mid));
          if (lo !== (sb | k) || hi !== (sb | (k + 1))) expect([k, lo, hi]).toEqual([k, sb | k, sb | (k + 1)]);
        }
      }
    });
  }

  it('special values', () => {
    expect(T.numberToF16(65504)).toBe(0x7bff);
    expect(T.numberToF16(65519.99)).toBe(0x7bff);
    expect(T.numberToF16(65520)).toBe(0x7c00);
    expect(T.numberToF16(1e10)).toBe(0x7c00);
    expect(T.numberToF16(-Infinity)).toBe(0xfc00);
    expect(T.numberToF16(-0)).toBe(0x8000);
    expect(T.numberToF16(2 ** -25)).toBe(0); // exactly half the smallest subnormal: ties to even (0)
    expect(T.numberToF16(2 ** -25 * 1.0001)).toBe(1);
    expect(T.numberToF16(3 * 2 ** -25)).toBe(2);
    expect(T.numberToBf16(-0)).toBe(0x8000);
    expect(T.numberToBf16(Infinity)).toBe(0x7f80);
    expect(T.numberToBf16(3.39e38)).toBe(0x7f7f);
    expect(T.numberToBf16(3.4e38)).toBe(0x7f80); // above the midpoint to 2^128
    expect(T.numberToBf16(1)).toBe(0x3f80);
    expect(T.numberToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(T.numberToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(Number.isNaN(T.bf16ToNumber(T.numberToBf16(NaN)))).toBe(true);
    expect(Number.isNaN(T.f16ToNumber(T.numberToF16(NaN)))).toBe(true);
  });
});

describe('16-bit tensors', () => {
  it('tensor(), fromBits() and casts use the same exact codecs', () => {
    const vals = [0, -0, 1, -2.5, 65504, 65520, 1e-8, 0.1, 1 / 3, 3.4e38, -Infinity];
    for (const [dtype, enc, dec] of [['float16', T.numberToF16, T.f16ToNumber], ['bfloat16', T.numberToBf16, T.bf16ToNumber]] as const) {
      const expected = vals.map((v) => dec(enc(v)));
      const t = T.tensor(vals, { dtype });
      expect(t.dtype).toBe(dtype);
      expect(Array.from(t.dataSync())).toEqual(expected.map((v) => Math.fround(v)));
      // through a float32 tensor and a cast kernel: same bits
      const c = T.tensor(vals, { dtype: 'float32' }).to(dtype);
      expect(Array.from(c.dataSync())).toEqual(Array.from(T.tensor(vals.map(Math.fround), { dtype }).dataSync()));
      // raw bits
      const bits = new Uint16Array(vals.map((v) => enc(v)));
      const fb = T.fromBits(bits, [vals.length], dtype);
      expect(Array.from(fb.dataSync())).toEqual(Array.from(t.dataSync()));
      expect(fb.to('float64').tolist()).toEqual(expected);
      // and back: 16 -> 32 -> 16 is the identity on bits
      expect(Array.from(fb.to('float32').to(dtype).to('float64').dataSync())).toEqual(expected);
    }
    expectError(() => T.fromBits(new Uint16Array(3), [2, 2], 'float16'), 'fromBits', '[2,2]');
  });

  it('casting between all dtypes', () => {
    const x = T.tensor([-1.7, -0.5, 0, 0.5, 2.9, 300], { dtype: 'float64' });
    expect(x.to('int32').tolist()).toEqual([-1, 0, 0, 0, 2, 300]);
    expect(x.to('bool').tolist()).toEqual([true, true, false, true, true, true]);
    expect(x.to('float32').tolist()).toEqual([-1.7, -0.5, 0, 0.5, 2.9, 300].map(Math.fround));
    expect(x.to('bool').to('float32').tolist()).toEqual([1, 1, 0, 1, 1, 1]);
    expect(x.to('int32').to('float16').tolist()).toEqual([-1, 0, 0, 0, 2, 300]);
    expect(T.tensor([1.5, -2.5], { dtype: 'bfloat16' }).to('int32').tolist()).toEqual([1, -2]);
    expect(T.tensor([1.5], { dtype: 'bfloat16' }).to('float16').tolist()).toEqual([1.5]);
    expect(T.tensor([0.1], { dtype: 'float64' }).to('bfloat16').to('float16').dtype).toBe('float16');
    for (const dt of T.DTYPES) {
      const y = T.tensor([1, 0], { dtype: dt });
      expect(y.to(dt)).toBe(y); // a no-op cast returns the same tensor
      for (const dt2 of T.DTYPES) expect(y.to(dt2).tolist()).toEqual(dt2 === 'bool' ? [true, false] : [1, 0]);
    }
    expect(T.itemSize('float16')).toBe(2);
    expect(T.itemSize('float64')).toBe(8);
    expect(T.itemSize('bool')).toBe(1);
    expect(T.isFloating('bfloat16')).toBe(true);
    expect(T.isFloating('int32')).toBe(false);
  });
});

describe('type promotion', () => {
  const order: Record<T.DType, number> = { bool: 0, int32: 1, float16: 2, bfloat16: 2, q8_0: 2, q4_0: 2, float32: 2, float64: 3 };
  it('promoteTypes: bool < int32 < (16-bit floats, float32 -> float32) < float64, symmetric', () => {
    for (const a of T.DTYPES) {
      for (const b of T.DTYPES) {
        const r = Math.max(order[a], order[b]);
        const expected = ['bool', 'int32', 'float32', 'float64'][r];
        expect(T.promoteTypes(a, b), `${a} + ${b}`).toBe(expected);
        expect(T.promoteTypes(b, a)).toBe(T.promoteTypes(a, b));
        // the binary ops use the table
        const out = T.add(T.ones([1], { dtype: a }), T.ones([1], { dtype: b }));
        expect(out.dtype, `add(${a}, ${b})`).toBe(expected === 'bool' ? 'int32' : expected);
      }
    }
  });

  it('plain numbers are weak scalars, as in torch', () => {
    const i = T.tensor([1], { dtype: 'int32' });
    expect(T.add(i, 2).dtype).toBe('int32');
    expect(T.add(i, 2.5).dtype).toBe('float32');
    expect(T.add(i, 2.5).tolist()).toEqual([3.5]);
    expect(T.add(T.tensor([1], { dtype: 'float64' }), 2.5).dtype).toBe('float64');
    expect(T.mul(T.tensor([1], { dtype: 'float16' }), 2).dtype).toBe('float32');
    expect(T.add(2, i).dtype).toBe('int32');
    expect(T.add(T.tensor([true]), 1).dtype).toBe('int32');
    expect(T.tensor([1], { dtype: 'float64' }).mul(3).dtype).toBe('float64');
  });
});
