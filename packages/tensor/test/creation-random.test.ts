// Creation (tensor, zeros/ones/full, arange, linspace, eye, *Like), reading back (item, tolist, data, dataSync),
// and seeded randomness: golden sequences, ranges, distributions, multinomial, dropout.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import { FC, expectError, iotaRef, numelOf, shapeArb, toNested } from './helpers-struct.js';

describe('tensor()', () => {
  it('round-trips nested arrays of any shape (0-d, size-0 and size-1 dims) through tolist()', () => {
    fc.assert(
      fc.property(shapeArb(0, 4), fc.constantFrom<T.DType>('float32', 'float64', 'int32'), (shape, dtype) => {
        const r = iotaRef(shape);
        const nested = toNested(r) as T.NestedArray;
        const t = T.tensor(nested, { dtype });
        // an empty nested array cannot say how long its missing inner dims are
        const inferable = shape.indexOf(0) === -1 || shape.indexOf(0) === shape.length - 1;
        if (inferable) {
          expect(t.shape).toEqual(shape);
          expect(t.tolist()).toEqual(nested);
        }
        const s = T.tensor(Float64Array.from(r.data), { shape, dtype });
        expect(s.shape).toEqual(shape);
        expect(s.dtype).toBe(dtype);
        expect(s.tolist()).toEqual(nested);
        expect(Array.from(s.dataSync())).toEqual(r.data);
      }),
      FC,
    );
  });

  it('infers dtypes and converts values for the target dtype', () => {
    expect(T.tensor([1, 2]).dtype).toBe('float32');
    expect(T.tensor([true, false]).dtype).toBe('bool');
    expect(T.tensor([true, false]).tolist()).toEqual([true, false]);
    expect(T.tensor(new Float64Array([1.5])).dtype).toBe('float64');
    expect(T.tensor(new Int32Array([7])).dtype).toBe('int32');
    expect(T.tensor(new Uint8Array([0, 1])).dtype).toBe('bool');
    expect(T.tensor(new Float32Array([0.1])).dataSync()[0]).toBe(Math.fround(0.1));
    expect(T.tensor([0.1]).dataSync()[0]).toBe(Math.fround(0.1));
    expect(T.tensor([1.9, -1.9, 2 ** 31 + 5], { dtype: 'int32' }).tolist()).toEqual([1, -1, -(2 ** 31) + 5]);
    expect(T.tensor([0, 2, -1, NaN], { dtype: 'bool' }).tolist()).toEqual([false, true, true, true]);
    // bytes other than 0/1 in a Uint8Array become proper booleans
    const b = T.tensor(new Uint8Array([0, 2, 255]));
    expect(b.tolist()).toEqual([false, true, true]);
    expect(Array.from(b.dataSync())).toEqual([0, 1, 1]);
    expect(T.tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] }).tolist()).toEqual([[1, 2], [3, 4]]);
    expect(T.tensor(new Float64Array([1, 2]), { dtype: 'float32' }).dtype).toBe('float32');
    expect(T.tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] }).tolist()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(T.tensor([], { shape: [0, 5] }).shape).toEqual([0, 5]);
    expect(T.tensor([[[]]]).shape).toEqual([1, 1, 0]);
    // the typed array passed in is copied, not aliased
    const src = new Float32Array([1, 2]);
    const t = T.tensor(src);
    src[0] = 99;
    expect(t.tolist()).toEqual([1, 2]);
  });

  it('rejects ragged arrays, bad shapes and bad element types', () => {
    expectError(() => T.tensor([[1, 2], [3]]), 'tensor', 'ragged');
    expectError(() => T.tensor([[1, 2], 3] as unknown as T.NestedArray), 'tensor', 'ragged');
    expectError(() => T.tensor([1, [2]] as unknown as T.NestedArray), 'tensor', 'ragged');
    expectError(() => T.tensor([[], [1]]), 'tensor', 'ragged');
    expectError(() => T.tensor(['a'] as unknown as T.NestedArray), 'tensor');
    expectError(() => T.tensor([1, 2, 3], { shape: [2, 2] }), 'tensor', '[2,2]', '3');
    expectError(() => T.tensor([1, 2], { shape: [-2, -1] }), 'tensor', 'shape');
    expectError(() => T.tensor(new Uint16Array([1])), 'tensor', 'Uint16Array');
  });

  it('0-d scalars: item(), tolist() and data()', async () => {
    const s = T.tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(s.ndim).toBe(0);
    expect(s.numel()).toBe(1);
    expect(s.item()).toBe(3.5);
    expect(s.tolist()).toBe(3.5);
    expect(Array.from(await s.data())).toEqual([3.5]);
    expect(T.tensor(true).tolist()).toBe(true);
    expect(T.tensor([[7]]).item()).toBe(7);
    expectError(() => T.tensor([1, 2]).item(), 'item', '[2]');
    expectError(() => T.zeros([0]).item(), 'item', '[0]');
  });

  it('data() and dataSync() return fresh copies in row-major order, also for views', async () => {
    const x = T.tensor([[1, 2, 3], [4, 5, 6]]);
    const d = x.dataSync();
    d[0] = 100;
    expect(x.tolist()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const a = await x.data();
    a[1] = 100;
    expect(x.tolist()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(a).toBeInstanceOf(Float32Array);
    const v = x.slice(1, 1); // an offset, non-contiguous view
    expect(Array.from(v.dataSync())).toEqual([2, 3, 5, 6]);
    expect(Array.from(await v.data())).toEqual([2, 3, 5, 6]);
    const row = x.select(0, 1); // contiguous at an offset
    const rd = row.dataSync();
    expect(Array.from(rd)).toEqual([4, 5, 6]);
    expect(rd.length).toBe(3);
    rd[0] = -1;
    expect(x.tolist()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(T.tensor([1], { dtype: 'int32' }).dataSync()).toBeInstanceOf(Int32Array);
    expect(T.tensor([1], { dtype: 'float64' }).dataSync()).toBeInstanceOf(Float64Array);
    expect(T.tensor([true]).dataSync()).toBeInstanceOf(Uint8Array);
    expect(T.tensor([1.5], { dtype: 'float16' }).dataSync()).toBeInstanceOf(Float32Array);
    expect(T.tensor([1.5], { dtype: 'bfloat16' }).tolist()).toEqual([1.5]);
  });
});

describe('constant creation', () => {
  it('zeros / ones / full / *Like for any shape and dtype', () => {
    fc.assert(
      fc.property(shapeArb(0, 4), fc.constantFrom<T.DType>(...T.DTYPES), fc.constantFrom(0, 1, -2.5, 3), (shape, dtype, v) => {
        const n = numelOf(shape);
        const cvt = (x: number) => (dtype === 'bool' ? (x !== 0 ? 1 : 0) : dtype === 'int32' ? Math.trunc(x) : x);
        for (const [t, val] of [[T.zeros(shape, { dtype }), 0], [T.ones(shape, { dtype }), 1], [T.full(shape, v, { dtype }), v]] as const) {
          expect(t.shape).toEqual(shape);
          expect(t.dtype).toBe(dtype);
          expect(Array.from(t.dataSync(), Number)).toEqual(new Array(n).fill(cvt(val)));
        }
        const like = T.full(shape, 2, { dtype });
        expect(T.zerosLike(like).dtype).toBe(dtype);
        expect(T.onesLike(like).shape).toEqual(shape);
        expect(Array.from(T.onesLike(like).dataSync(), Number)).toEqual(new Array(n).fill(1));
        expect(Array.from(T.zerosLike(like, { dtype: 'float64' }).dataSync())).toEqual(new Array(n).fill(0));
        expect(T.zerosLike(like, { dtype: 'float64' }).dtype).toBe('float64');
      }),
      FC,
    );
    expect(T.full([2], true).dtype).toBe('bool');
    expect(Object.is(T.full([1], -0, { dtype: 'float64' }).item(), -0)).toBe(true);
    expect(T.full([1], NaN).item()).toBeNaN();
    expect(T.ones([2], { requiresGrad: true }).requiresGrad).toBe(true);
    expectError(() => T.zeros([2, -1]), 'full', '[2,-1]');
    expectError(() => T.ones([1.5]), 'shape');
  });

  it('arange: int32 for integer arguments, float otherwise, negative steps, empty ranges', () => {
    fc.assert(
      fc.property(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -20, max: 20 }), fc.integer({ min: -5, max: 5 }).filter((s) => s !== 0), (a, b, s) => {
        const t = T.arange(a, b, s);
        const exp: number[] = [];
        for (let v = a; s > 0 ? v < b : v > b; v += s) exp.push(v);
        expect(t.dtype).toBe('int32');
        expect(t.tolist()).toEqual(exp);
      }),
      FC,
    );
    expect(T.arange(5).tolist()).toEqual([0, 1, 2, 3, 4]);
    expect(T.arange(0).shape).toEqual([0]);
    expect(T.arange(0, 1, 0.25).dtype).toBe('float32');
    expect(T.arange(0, 1, 0.25).tolist()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(T.arange(1, 0, -0.5).tolist()).toEqual([1, 0.5]);
    expect(T.arange(0, 1, 0.1, { dtype: 'float64' }).shape).toEqual([10]);
    expect(T.arange(0.5, 3).tolist()).toEqual([0.5, 1.5, 2.5]);
    expect(T.arange(0, 3, 1, { dtype: 'float64' }).dtype).toBe('float64');
    expect(T.arange(3, 0).shape).toEqual([0]);
    expectError(() => T.arange(0, 5, 0), 'arange', 'step');
    expectError(() => T.arange(0, Infinity), 'arange');
  });

  it('linspace: endpoints exact, evenly spaced, steps 0 and 1', () => {
    fc.assert(
      fc.property(fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: -100, max: 100, noNaN: true }), fc.integer({ min: 2, max: 50 }), (a, b, n) => {
        const t = T.linspace(a, b, n, { dtype: 'float64' });
        const v = Array.from(t.dataSync());
        expect(v.length).toBe(n);
        expect(v[0]).toBe(a);
        expect(v[n - 1]).toBe(b);
        const step = (b - a) / (n - 1);
        v.forEach((x, i) => expect(Math.abs(x - (a + step * i))).toBeLessThanOrEqual(1e-12 * (Math.abs(a) + Math.abs(b) + 1)));
        const f = T.linspace(a, b, n);
        expect(f.dtype).toBe('float32');
        expect(f.dataSync()[n - 1]).toBe(Math.fround(b));
      }),
      FC,
    );
    expect(T.linspace(2, 5, 1).tolist()).toEqual([2]);
    expect(T.linspace(2, 5, 0).shape).toEqual([0]);
    expect(T.linspace(0, 1, 5).tolist()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expectError(() => T.linspace(0, 1, -1), 'linspace');
    expectError(() => T.linspace(0, 1, 2.5), 'linspace');
  });

  it('eye: square and rectangular, empty', () => {
    for (const [n, m] of [[0, 0], [1, 1], [3, 3], [2, 4], [4, 2], [0, 3]] as const) {
      const t = T.eye(n, m);
      expect(t.shape).toEqual([n, m]);
      expect(t.tolist()).toEqual(Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => (i === j ? 1 : 0))));
    }
    expect(T.eye(2, undefined, { dtype: 'int32' }).tolist()).toEqual([[1, 0], [0, 1]]);
    expect(T.eye(2, 2, { dtype: 'bool' }).tolist()).toEqual([[true, false], [false, true]]);
    expectError(() => T.eye(-1), 'eye');
  });
});

// --- randomness ---

/** An independent BigInt model of the generator (splitmix-style seeding + xoshiro128**), for seeds < 2^32. */
function referenceU32(seed: number, count: number): number[] {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint) => (a * b) & M;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  const s: bigint[] = [];
  let x = BigInt(seed) & M;
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9n) & M;
    let z = x;
    z = mul(z ^ (z >> 16n), 0x85ebca6bn);
    z = mul(z ^ (z >> 13n), 0xc2b2ae35n);
    s.push(z ^ (z >> 16n));
  }
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number(mul(rotl(mul(s[1]!, 5n), 7n), 9n)));
    const t = (s[1]! << 9n) & M;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
  }
  return out;
}

describe('Generator', () => {
  it('golden values: the same sequence on every run and platform (seeds 0 and 42)', () => {
    // raw 32-bit outputs
    const u0 = new T.Generator(0);
    expect(Array.from({ length: 4 }, () => u0.nextUint32())).toEqual([3809008728, 1133695204, 53579671, 2891528803]);
    const u42 = new T.Generator(42);
    expect(Array.from({ length: 4 }, () => u42.nextUint32())).toEqual([2837322924, 544945897, 479756282, 3500138142]);
    // rand float32: multiples of 2^-24 from the top 24 bits
    const r0 = Array.from(T.rand([5], { generator: new T.Generator(0) }).dataSync(), (v) => v * 2 ** 24);
    expect(r0).toEqual([14878940, 4428496, 209295, 11295034, 545631]);
    const r42 = Array.from(T.rand([5], { generator: new T.Generator(42) }).dataSync(), (v) => v * 2 ** 24);
    expect(r42).toEqual([11083292, 2128694, 1874047, 13672414, 1327172]);
    // rand float64: 53 bits from two draws
    expect(Array.from(T.rand([4], { generator: new T.Generator(0), dtype: 'float64' }).dataSync())).toEqual([
      0.8868539502021594, 0.012474988946590604, 0.032522145755498943, 0.024408060085556516,
    ]);
    expect(Array.from(T.rand([4], { generator: new T.Generator(42), dtype: 'float64' }).dataSync())).toEqual([
      0.6606157208001621, 0.1117019639532224, 0.0791056456144914, 0.015209237180418,
    ]);
    // randint
    expect(T.randint(0, 10, [6], { generator: new T.Generator(0) }).tolist()).toEqual([8, 4, 1, 3, 6, 5]);
    expect(T.randint(0, 10, [6], { generator: new T.Generator(42) }).tolist()).toEqual([4, 7, 2, 2, 0, 0]);
    expect(T.randint(-5, 1000, [6], { generator: new T.Generator(0) }).tolist()).toEqual([433, 929, 101, 83, 611, 810]);
    expect(T.randint(-5, 1000, [6], { generator: new T.Generator(42) }).tolist()).toEqual([889, 722, 432, 517, 850, 235]);
    // randn (uses Math.log/cos/sin, so compared to 1e-12)
    const n0 = Array.from(T.randn([3], { generator: new T.Generator(0), dtype: 'float64' }).dataSync());
    [2.0812089348701357, 0.16346561362740877, 0.2541306960223768].forEach((v, i) => expect(n0[i]).toBeCloseTo(v, 12));
  });

  it('matches an independent BigInt model of xoshiro128** for many seeds', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 32 - 1 }), (seed) => {
        const g = new T.Generator(seed);
        const got = Array.from({ length: 16 }, () => g.nextUint32());
        expect(got).toEqual(referenceU32(seed, 16));
      }),
      { ...FC, numRuns: 100 },
    );
  });

  it('reseeding restarts the sequence; manualSeed drives the default generator', () => {
    const g = new T.Generator(7);
    const a = T.randn([10], { generator: g, dtype: 'float64' }).tolist();
    const b = T.randn([10], { generator: g, dtype: 'float64' }).tolist();
    expect(a).not.toEqual(b);
    g.manualSeed(7);
    expect(T.randn([10], { generator: g, dtype: 'float64' }).tolist()).toEqual(a);
    // an odd number of normals must not leave a cached spare behind after reseeding
    g.manualSeed(7);
    T.randn([3], { generator: g });
    g.manualSeed(7);
    expect(T.randn([10], { generator: g, dtype: 'float64' }).tolist()).toEqual(a);
    T.manualSeed(123);
    const d1 = T.rand([5]).tolist();
    T.manualSeed(123);
    expect(T.rand([5]).tolist()).toEqual(d1);
    expect(T.rand([5]).tolist()).not.toEqual(d1);
    expect(new T.Generator(1).nextUint32()).not.toBe(new T.Generator(2).nextUint32());
    expect(new T.Generator(2 ** 40).nextUint32()).not.toBe(new T.Generator(0).nextUint32());
    expectError(() => new T.Generator(0.5), 'manualSeed');
  });

  it('rand is in [0, 1) for every float dtype, even when the underlying draw is just below 1', () => {
    const g = new T.Generator(3);
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as const) {
      const v = Array.from(T.rand([2000], { generator: g, dtype }).dataSync());
      expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...v)).toBeLessThan(1);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    }
    // a generator whose every draw is the largest possible value
    const maxed = Object.assign(Object.create(T.Generator.prototype) as T.Generator, {
      nextUint32: () => 0xffffffff,
      random: () => 1 - 2 ** -53,
    });
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as const) {
      const v = T.rand([4], { generator: maxed, dtype }).dataSync();
      for (const x of v) expect(x).toBeLessThan(1);
    }
    expect(T.rand([0]).shape).toEqual([0]);
    expect(T.rand([]).shape).toEqual([]);
    expect(T.rand([2, 3]).shape).toEqual([2, 3]);
  });

  it('randn has plausible mean, std and tails (fixed seed)', () => {
    const v = Array.from(T.randn([20000], { generator: new T.Generator(11), dtype: 'float64' }).dataSync());
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std - 1)).toBeLessThan(0.03);
    const within1 = v.filter((x) => Math.abs(x) < 1).length / v.length;
    expect(Math.abs(within1 - 0.6827)).toBeLessThan(0.02);
    expect(v.every(Number.isFinite)).toBe(true);
  });

  it('randint stays in [low, high) and hits every value', () => {
    fc.assert(
      fc.property(fc.integer({ min: -50, max: 50 }), fc.integer({ min: 1, max: 12 }), fc.nat(), (low, span, seed) => {
        const v = T.randint(low, low + span, [300], { generator: new T.Generator(seed) }).tolist() as number[];
        for (const x of v) {
          expect(Number.isInteger(x)).toBe(true);
          expect(x).toBeGreaterThanOrEqual(low);
          expect(x).toBeLessThan(low + span);
        }
        expect(new Set(v).size).toBe(span);
      }),
      { ...FC, numRuns: 50 },
    );
    expect(T.randint(0, 3, [2]).dtype).toBe('int32');
    expectError(() => T.randint(3, 3, [2]), 'randint');
    expectError(() => T.randint(0, 1.5, [2]), 'randint');
  });
});

describe('multinomial', () => {
  it('with replacement follows the probabilities; zero-probability classes never appear', () => {
    const p = T.tensor([0.1, 0, 0.6, 0.3]);
    const n = 20000;
    const s = T.multinomial(p, n, { replacement: true, generator: new T.Generator(5) });
    expect(s.dtype).toBe('int32');
    expect(s.shape).toEqual([n]);
    const counts = [0, 0, 0, 0];
    for (const v of s.dataSync()) counts[v]!++;
    expect(counts[1]).toBe(0);
    [0.1, 0, 0.6, 0.3].forEach((q, i) => expect(Math.abs(counts[i]! / n - q)).toBeLessThan(0.015));
    // unnormalized weights, 2-D
    const w = T.tensor([[0, 0, 5], [1, 3, 0]]);
    const s2 = T.multinomial(w, 4000, { replacement: true, generator: new T.Generator(6) });
    expect(s2.shape).toEqual([2, 4000]);
    const rows = s2.tolist() as number[][];
    expect(rows[0]!.every((v) => v === 2)).toBe(true);
    const ones = rows[1]!.filter((v) => v === 1).length / 4000;
    expect(rows[1]!.includes(2)).toBe(false);
    expect(Math.abs(ones - 0.75)).toBeLessThan(0.03);
  });

  it('without replacement: no repeats, zero-probability never sampled, first draw follows the probabilities', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 5, noNaN: true })), { minLength: 1, maxLength: 8 }), fc.nat(), (w, seed) => {
        const positive = w.filter((x) => x > 0).length;
        if (positive === 0) {
          expectError(() => T.multinomial(T.tensor(w, { dtype: 'float64' }), 1), 'multinomial');
          return;
        }
        const k = 1 + (seed % positive);
        const s = T.multinomial(T.tensor(w, { dtype: 'float64' }), k, { generator: new T.Generator(seed) }).tolist() as number[];
        expect(s.length).toBe(k);
        expect(new Set(s).size).toBe(k);
        for (const i of s) expect(w[i]).toBeGreaterThan(0);
        if (k < w.length && positive < k + 1) return;
      }),
      FC,
    );
    const p = [0.5, 0.2, 0.3];
    const firsts = [0, 0, 0];
    const g = new T.Generator(9);
    for (let i = 0; i < 6000; i++) firsts[(T.multinomial(T.tensor(p), 2, { generator: g }).tolist() as number[])[0]!]!++;
    p.forEach((q, i) => expect(Math.abs(firsts[i]! / 6000 - q)).toBeLessThan(0.025));
    // drawing everything without replacement is a permutation
    const all = T.multinomial(T.ones([6]), 6, { generator: new T.Generator(1) }).tolist() as number[];
    expect([...all].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('rejects bad input naming the op', () => {
    expectError(() => T.multinomial(T.tensor([0.5, 0.5]), 3), 'multinomial', '3');
    expectError(() => T.multinomial(T.tensor([0.5, -0.1]), 1), 'multinomial', '-0.1');
    expectError(() => T.multinomial(T.tensor([0.5, NaN]), 1), 'multinomial');
    expectError(() => T.multinomial(T.tensor([0, 0]), 1, { replacement: true }), 'multinomial');
    expectError(() => T.multinomial(T.tensor([1, 0, 0]), 2), 'multinomial');
    expectError(() => T.multinomial(T.tensor(1), 1), 'multinomial', '[]');
    expectError(() => T.multinomial(T.ones([2, 2, 2]), 1), 'multinomial', '[2,2,2]');
    expectError(() => T.multinomial(T.ones([2]), 0), 'multinomial', '0');
  });
});

describe('dropout', () => {
  it('zeroes about p of the elements and scales the rest by 1/(1-p)', () => {
    const x = T.full([20000], 2, { dtype: 'float64' });
    for (const p of [0.1, 0.5, 0.9]) {
      const y = Array.from(T.dropout(x, p, true, { generator: new T.Generator(4) }).dataSync());
      const kept = y.filter((v) => v !== 0);
      for (const v of kept) expect(v).toBeCloseTo(2 / (1 - p), 12);
      expect(Math.abs(kept.length / y.length - (1 - p))).toBeLessThan(0.015);
    }
  });

  it('p = 0 and eval mode are the identity; p = 1 zeroes everything; bad p is an error', () => {
    const x = T.tensor([1, -2, 3]);
    expect(T.dropout(x, 0).tolist()).toEqual([1, -2, 3]);
    expect(T.dropout(x, 0.7, false).tolist()).toEqual([1, -2, 3]);
    expect(T.dropout(x, 1).tolist()).toEqual([0, -0, 0]);
    expectError(() => T.dropout(x, 1.5), 'dropout', '1.5');
    expectError(() => T.dropout(x, -0.1), 'dropout');
  });

  it('is reproducible with a generator, and its gradient is the same mask and scale', () => {
    const x = T.ones([50], { dtype: 'float64', requiresGrad: true });
    const y = T.dropout(x, 0.3, true, { generator: new T.Generator(8) });
    expect(T.dropout(x, 0.3, true, { generator: new T.Generator(8) }).tolist()).toEqual(y.tolist());
    y.sum().backward();
    expect(x.grad!.tolist()).toEqual(y.tolist());
    expect(y.dtype).toBe('float64');
  });
});
