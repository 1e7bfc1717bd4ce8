// Elementwise ops: forward against float64 references on random shapes/layouts (with special values),
// backward against central finite differences, broadcasting, dtype promotion, casts and 16-bit encodings.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import {
  type Arr, F32, RUNS, arbBroadcastPair, arbInput, arbLayout, arbShape, expectClose, expectEqual, fround, gradcheck, makeExpandable,
  makeTensor, numelOf, randomArr, refExpand, refMap, refMap2,
} from './helpers.js';

type Tensor = tz.Tensor;

// ---------------- references ----------------

/**
 * erf to ~1e-16: the alternating Maclaurin series for |x| <= 1.5 (little cancellation there), and beyond it
 * Kummer's positive-term form erf(x) = 2x/sqrt(pi) e^{-x^2} sum_n (2x^2)^n / (3*5*...*(2n+1)); erfc(6) < 1e-16.
 */
function refErf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  let r: number;
  if (a <= 1.5) {
    let term = a;
    let s = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const c = term / (2 * n + 1);
      s += c;
      if (Math.abs(c) < 1e-20) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * s;
  } else {
    let term = 1;
    let s = 1;
    for (let n = 1; n < 500; n++) {
      term *= (2 * a * a) / (2 * n + 1);
      s += term;
      if (term < s * 1e-18) break;
    }
    r = ((2 * a) / Math.sqrt(Math.PI)) * Math.exp(-a * a) * s;
  }
  return Math.sign(x) * r;
}
const refSigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const refGelu = (x: number) => 0.5 * x * (1 + refErf(x / Math.SQRT2));
const refGeluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const refSoftplus = (beta: number, threshold: number) => (x: number) => (x * beta > threshold ? x : Math.log1p(Math.exp(beta * x)) / beta);
const refRelu = (x: number) => (Number.isNaN(x) ? NaN : x > 0 ? x : 0);
/** C's pow (what torch uses): pow(1, y) = 1 and pow(x, 0) = 1 even for NaN; pow(-1, +-inf) = 1. */
const refPow = (a: number, b: number) => (a === 1 || b === 0 ? 1 : a === -1 && (b === Infinity || b === -Infinity) ? 1 : Math.pow(a, b));
/** torch.remainder: fmod, then shifted into the divisor's sign. */
const refRemainder = (a: number, b: number) => {
  const m = a % b;
  return m !== 0 && m < 0 !== b < 0 ? m + b : m;
};
const nanMax = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b);
const nanMin = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b);

interface UnaryCase {
  name: string;
  f: (x: Tensor) => Tensor;
  ref: (x: number) => number;
  /** Domain for the gradient check (smooth region). */
  grad: { min: number; max: number; awayFromZero?: number };
  tol64?: { rtol: number; atol: number };
  tol32?: { rtol: number; atol: number };
  noGrad?: boolean;
}

const UNARY: UnaryCase[] = [
  { name: 'neg', f: tz.neg, ref: (x) => -x, grad: { min: -3, max: 3 } },
  { name: 'abs', f: tz.abs, ref: Math.abs, grad: { min: -3, max: 3, awayFromZero: 0.1 } },
  { name: 'exp', f: tz.exp, ref: Math.exp, grad: { min: -3, max: 3 } },
  { name: 'log', f: tz.log, ref: Math.log, grad: { min: 0.2, max: 4 } },
  { name: 'log1p', f: tz.log1p, ref: Math.log1p, grad: { min: -0.8, max: 4 } },
  { name: 'expm1', f: tz.expm1, ref: Math.expm1, grad: { min: -3, max: 3 } },
  { name: 'sqrt', f: tz.sqrt, ref: Math.sqrt, grad: { min: 0.2, max: 4 } },
  { name: 'rsqrt', f: tz.rsqrt, ref: (x) => 1 / Math.sqrt(x), grad: { min: 0.2, max: 4 } },
  { name: 'sin', f: tz.sin, ref: Math.sin, grad: { min: -4, max: 4 } },
  { name: 'cos', f: tz.cos, ref: Math.cos, grad: { min: -4, max: 4 } },
  { name: 'tanh', f: tz.tanh, ref: Math.tanh, grad: { min: -3, max: 3 } },
  { name: 'sigmoid', f: tz.sigmoid, ref: refSigmoid, grad: { min: -5, max: 5 } },
  { name: 'relu', f: tz.relu, ref: refRelu, grad: { min: -3, max: 3, awayFromZero: 0.1 } },
  { name: 'relu2', f: tz.relu2, ref: (x) => (Number.isNaN(x) ? NaN : refRelu(x) ** 2), grad: { min: -3, max: 3, awayFromZero: 0.1 } },
  { name: 'gelu', f: (x) => tz.gelu(x), ref: refGelu, grad: { min: -4, max: 4 }, tol64: { rtol: 1e-12, atol: 1e-13 } },
  { name: 'gelu(tanh)', f: (x) => tz.gelu(x, { approximate: 'tanh' }), ref: refGeluTanh, grad: { min: -4, max: 4 } },
  { name: 'silu', f: tz.silu, ref: (x) => x * refSigmoid(x), grad: { min: -5, max: 5 } },
  { name: 'softplus', f: (x) => tz.softplus(x), ref: refSoftplus(1, 20), grad: { min: -5, max: 5 } },
  { name: 'softplus(beta=2,threshold=3)', f: (x) => tz.softplus(x, { beta: 2, threshold: 3 }), ref: refSoftplus(2, 3), grad: { min: -4, max: 4, awayFromZero: 0 } },
  { name: 'erf', f: tz.erf, ref: refErf, grad: { min: -3, max: 3 }, tol64: { rtol: 1e-12, atol: 1e-13 } },
  { name: 'square', f: tz.square, ref: (x) => x * x, grad: { min: -3, max: 3 } },
  { name: 'reciprocal', f: tz.reciprocal, ref: (x) => 1 / x, grad: { min: -3, max: 3, awayFromZero: 0.3 } },
];

describe('unary ops', () => {
  for (const c of UNARY) {
    it(`${c.name}: forward matches the float64 reference on any shape/layout, incl. special values`, () => {
      fc.assert(
        fc.property(arbInput(arbShape(), { min: -6, max: 6, special: 0.15 }), ({ arr, layout }) => {
          const x = makeTensor(arr, layout, 'float64');
          const y = c.f(x);
          expect(y.dtype).toBe('float64');
          expectClose(y, refMap(arr, c.ref), c.tol64 ?? { rtol: 1e-13, atol: 1e-14 }, c.name);
          const x32 = makeTensor(arr, layout, 'float32');
          const y32 = c.f(x32);
          expect(y32.dtype).toBe('float32');
          expectClose(y32, refMap(fround(arr), c.ref), c.tol32 ?? { rtol: 1e-6, atol: 1e-6 }, `${c.name} float32`);
        }),
        { numRuns: 30 },
      );
    });
    if (!c.noGrad) {
      it(`${c.name}: gradient matches central differences (float64) and float32 grads agree`, () => {
        fc.assert(
          fc.property(arbShape({ maxNumel: 12, allowZero: true }), fc.integer(), (shape, seed) => {
            gradcheck((x) => c.f(x), [randomArr(shape, seed, c.grad)]);
          }),
          { numRuns: 15 },
        );
      });
    }
  }

  it('erf/gelu hit known constants', () => {
    const x = tz.tensor([0, 0.5, 1, 2, 3, -1], { dtype: 'float64' });
    expectClose(tz.erf(x), { shape: [6], data: Float64Array.from([0, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, 0.9999779095030014, -0.8427007929497149]) }, { rtol: 1e-15, atol: 1e-16 });
    // gelu(1) = 0.5 * (1 + erf(1/sqrt(2))) = Phi(1) = 0.8413447460685429
    expect(tz.gelu(tz.tensor([1], { dtype: 'float64' })).item()).toBeCloseTo(0.8413447460685429, 15);
  });

  it('gelu tanh keeps its relative accuracy for negative x on every CPU path (x sigma(2u), not 0.5x(1 + tanh u))', () => {
    // 0.5 (1 + tanh u) = e^2u / (1 + e^2u) for u < 0; 0.5x(1 + tanh u) in float64 gives 0 from x = -10 on
    const xs = [-3, -6, -8, -10]; // gelu(-10) = -1.1e-37, still a normal float32
    const want = Float64Array.from(xs, (x) => {
      const e = Math.exp(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3));
      return (x * e) / (1 + e);
    });
    const f64 = tz.tensor(xs, { dtype: 'float64' });
    expectClose(tz.gelu(f64, { approximate: 'tanh' }), { shape: [4], data: want }, { rtol: 1e-13, atol: 0 });
    const f32 = tz.tensor(xs, { dtype: 'float32' }); // contiguous: the SIMD kernel
    const strided = tz.tensor(xs.flatMap((x) => [x, 0]), { dtype: 'float32' }).slice(0, 0, null, 2); // stride 2: the JS loop
    for (const t of [f32, strided]) {
      expect(Array.from(tz.gelu(t, { approximate: 'tanh' }).dataSync()).every((v, i) => v < 0 && Math.abs(v - want[i]!) <= Math.abs(want[i]!) * 2e-7)).toBe(true);
    }
  });

  it('sigmoid, softplus and exp-based ops do not overflow at extreme inputs', () => {
    const x = tz.tensor([-1000, -100, 100, 1000], { dtype: 'float64' });
    expectClose(tz.sigmoid(x), { shape: [4], data: Float64Array.from([0, refSigmoid(-100), 1, 1]) });
    expectClose(tz.softplus(x), { shape: [4], data: Float64Array.from([0, Math.log1p(Math.exp(-100)), 100, 1000]) });
    expectClose(tz.silu(x), { shape: [4], data: Float64Array.from([-0, -100 * refSigmoid(-100), 100, 1000]) }, { rtol: 1e-15, atol: 1e-300 });
    const xs = tz.tensor([-1000, 1000], { dtype: 'float32', requiresGrad: true });
    tz.softplus(xs).sum().backward();
    expectClose(xs.grad!, { shape: [2], data: Float64Array.from([0, 1]) });
  });

  it('int and bool inputs: float ops give float32, neg/abs keep int32', () => {
    const i = tz.tensor([1, -2, 4], { dtype: 'int32' });
    expect(tz.exp(i).dtype).toBe('float32');
    expect(tz.sqrt(i).dtype).toBe('float32');
    expectClose(tz.sqrt(i), refMap(fround({ shape: [3], data: Float64Array.from([1, -2, 4]) }), (v) => Math.fround(Math.sqrt(v))), F32);
    expect(tz.neg(i).dtype).toBe('int32');
    expectEqual(tz.abs(i), { shape: [3], data: Float64Array.from([1, 2, 4]) });
  });
});

// ---------------- binary ----------------

interface BinaryCase {
  name: string;
  f: (a: Tensor, b: Tensor) => Tensor;
  ref: (a: number, b: number) => number;
  grad?: { a: { min: number; max: number; awayFromZero?: number }; b: { min: number; max: number; awayFromZero?: number } };
  tol32?: { rtol: number; atol: number };
}

const BINARY: BinaryCase[] = [
  { name: 'add', f: tz.add, ref: (a, b) => a + b, grad: { a: { min: -3, max: 3 }, b: { min: -3, max: 3 } } },
  { name: 'sub', f: tz.sub, ref: (a, b) => a - b, grad: { a: { min: -3, max: 3 }, b: { min: -3, max: 3 } } },
  { name: 'mul', f: tz.mul, ref: (a, b) => a * b, grad: { a: { min: -3, max: 3 }, b: { min: -3, max: 3 } } },
  { name: 'div', f: tz.div, ref: (a, b) => a / b, grad: { a: { min: -3, max: 3 }, b: { min: -3, max: 3, awayFromZero: 0.3 } } },
  { name: 'pow', f: tz.pow, ref: refPow, grad: { a: { min: 0.3, max: 3 }, b: { min: -2, max: 2 } } },
  { name: 'maximum', f: tz.maximum, ref: nanMax, grad: { a: { min: -3, max: 3 }, b: { min: -3, max: 3 } } },
  { name: 'minimum', f: tz.minimum, ref: nanMin, grad: { a: { min: -3, max: 3 }, b: { min: -3, max: 3 } } },
  { name: 'atan2', f: tz.atan2, ref: Math.atan2, grad: { a: { min: -3, max: 3, awayFromZero: 0.2 }, b: { min: -3, max: 3, awayFromZero: 0.2 } } },
  { name: 'remainder', f: tz.remainder, ref: refRemainder, tol32: { rtol: 1e-6, atol: 1e-5 } },
  { name: 'eq', f: tz.eq, ref: (a, b) => (a === b ? 1 : 0) },
  { name: 'ne', f: tz.ne, ref: (a, b) => (a !== b ? 1 : 0) },
  { name: 'lt', f: tz.lt, ref: (a, b) => (a < b ? 1 : 0) },
  { name: 'le', f: tz.le, ref: (a, b) => (a <= b ? 1 : 0) },
  { name: 'gt', f: tz.gt, ref: (a, b) => (a > b ? 1 : 0) },
  { name: 'ge', f: tz.ge, ref: (a, b) => (a >= b ? 1 : 0) },
  { name: 'logicalAnd', f: tz.logicalAnd, ref: (a, b) => (a !== 0 && b !== 0 ? 1 : 0) },
  { name: 'logicalOr', f: tz.logicalOr, ref: (a, b) => (a !== 0 || b !== 0 ? 1 : 0) },
  { name: 'logicalXor', f: tz.logicalXor, ref: (a, b) => ((a !== 0) !== (b !== 0) ? 1 : 0) },
];
const BOOL_OUT = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr', 'logicalXor']);

/** Values with many exact ties and specials, so comparisons and NaN rules are exercised. */
const tieValues = { min: -3, max: 3, integer: true, special: 0.2 };

describe('binary ops with broadcasting', () => {
  for (const c of BINARY) {
    it(`${c.name}: forward matches the reference on broadcast shape pairs and non-contiguous layouts`, () => {
      fc.assert(
        fc.property(arbBroadcastPair(), fc.integer(), fc.integer(), arbLayout, arbLayout, fc.boolean(), ([sa, sb], s1, s2, la, lb, ints) => {
          const v = ints ? tieValues : { min: -4, max: 4, special: 0.15 };
          let a = randomArr(sa, s1, v);
          let b = randomArr(sb, s2, v);
          if (la === 'expanded') a = makeExpandable(a);
          if (lb === 'expanded') b = makeExpandable(b);
          const y = c.f(makeTensor(a, la), makeTensor(b, lb));
          expect(y.dtype).toBe(BOOL_OUT.has(c.name) ? 'bool' : 'float64');
          expectClose(y, refMap2(a, b, c.ref), { rtol: 1e-14, atol: 1e-14 }, c.name);
          const y32 = c.f(makeTensor(a, la, 'float32'), makeTensor(b, lb, 'float32'));
          expect(y32.dtype).toBe(BOOL_OUT.has(c.name) ? 'bool' : 'float32');
          expectClose(y32, refMap2(fround(a), fround(b), c.ref), c.tol32 ?? { rtol: 1e-6, atol: 1e-6 }, `${c.name} float32`);
        }),
        { numRuns: 40 },
      );
    });
    if (c.grad) {
      const g = c.grad;
      it(`${c.name}: gradients (reduced over broadcast dims) match central differences`, () => {
        fc.assert(
          fc.property(arbBroadcastPair({ maxNumel: 12 }), fc.integer(), fc.integer(), ([sa, sb], s1, s2) => {
            const a = randomArr(sa, s1, g.a);
            const b = randomArr(sb, s2, g.b);
            if (c.name === 'maximum' || c.name === 'minimum') {
              // keep away from ties (the gradient splits there, and finite differences are one-sided)
              const ok = refMap2(a, b, (x, y) => Math.abs(x - y)).data.every((d) => d > 1e-3);
              if (!ok) return;
            }
            gradcheck(c.f, [a, b]);
          }),
          { numRuns: 20 },
        );
      });
    }
  }

  it('maximum/minimum split the gradient evenly on ties (as torch)', () => {
    const a = tz.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const b = tz.tensor([1, 1, 4], { dtype: 'float64', requiresGrad: true });
    tz.maximum(a, b).sum().backward();
    expectEqual(a.grad!, { shape: [3], data: Float64Array.from([0.5, 1, 0]) });
    expectEqual(b.grad!, { shape: [3], data: Float64Array.from([0.5, 0, 1]) });
  });

  it('pow: the gradient at 0^0 and 0^positive is 0, not NaN (torch masking)', () => {
    const a = tz.tensor([0, 0, 2], { dtype: 'float64', requiresGrad: true });
    const b = tz.tensor([0, 2, 3], { dtype: 'float64', requiresGrad: true });
    const y = tz.pow(a, b);
    expectEqual(y, { shape: [3], data: Float64Array.from([1, 0, 8]) });
    y.sum().backward();
    expectEqual(a.grad!, { shape: [3], data: Float64Array.from([0, 0, 12]) });
    expectClose(b.grad!, { shape: [3], data: Float64Array.from([0, 0, 8 * Math.log(2)]) });
  });

  it('broadcast failures name the op and both shapes', () => {
    const a = tz.zeros([2, 3]);
    const b = tz.zeros([4, 3]);
    expect(() => tz.add(a, b)).toThrow(/add.*\[2,3\].*\[4,3\]/);
    expect(() => tz.mul(tz.zeros([3]), tz.zeros([2]))).toThrow(/mul.*\[3\].*\[2\]/);
    expect(() => tz.where(tz.ones([2], { dtype: 'bool' }), tz.zeros([3]), 0)).toThrow(/where.*\[2\].*\[3\]/);
    expect(() => tz.eq(tz.zeros([2, 1, 5]), tz.zeros([3, 4]))).toThrow(/eq.*\[2,1,5\].*\[3,4\]/);
  });
});

describe('dtype promotion and number operands', () => {
  it('promotes as torch: int+float -> float, int/int -> float32, float32+float64 -> float64, numbers are weak', () => {
    const i = tz.tensor([1, 2, 3], { dtype: 'int32' });
    const f = tz.tensor([0.5, 0.25, 2], { dtype: 'float32' });
    const d = tz.tensor([1, 2, 3], { dtype: 'float64' });
    const b = tz.tensor([true, false, true]);
    expect(tz.add(i, f).dtype).toBe('float32');
    expect(tz.add(i, i).dtype).toBe('int32');
    expect(tz.mul(i, 2).dtype).toBe('int32');
    expect(tz.add(i, 1.5).dtype).toBe('float32');
    expect(tz.add(f, d).dtype).toBe('float64');
    expect(tz.add(f, 1).dtype).toBe('float32');
    expect(tz.add(d, 1.5).dtype).toBe('float64');
    expect(tz.add(b, 1).dtype).toBe('int32');
    expect(tz.add(b, i).dtype).toBe('int32');
    expect(tz.add(b, f).dtype).toBe('float32');
    const q = tz.div(i, tz.tensor([2, 4, 3], { dtype: 'int32' }));
    expect(q.dtype).toBe('float32');
    expectClose(q, { shape: [3], data: Float64Array.from([0.5, 0.5, 1]) });
    expect(tz.div(i, 2).dtype).toBe('float32');
    expectClose(tz.add(i, 1.5), { shape: [3], data: Float64Array.from([2.5, 3.5, 4.5]) });
    expectEqual(tz.sub(i, 5), { shape: [3], data: Float64Array.from([-4, -3, -2]) });
    // int32 arithmetic wraps like torch's int32
    expectEqual(tz.add(tz.tensor([2147483647], { dtype: 'int32' }), 1), { shape: [1], data: Float64Array.from([-2147483648]) });
    // 16-bit storage types compute in float32
    const h = tz.tensor([1, 2], { dtype: 'float16' });
    expect(tz.add(h, h).dtype).toBe('float32');
    expect(tz.exp(tz.tensor([1], { dtype: 'bfloat16' })).dtype).toBe('float32');
  });

  it('number operands on either side match tensor operands', () => {
    fc.assert(
      fc.property(arbShape({ maxNumel: 24 }), fc.integer(), fc.double({ min: -3, max: 3, noNaN: true }), (shape, seed, s) => {
        const a = randomArr(shape, seed, { min: 0.5, max: 3 });
        const x = makeTensor(a, 'contiguous');
        const sc = { shape: [] as number[], data: Float64Array.from([s]) };
        expectClose(tz.add(x, s), refMap2(a, sc, (p, q) => p + q));
        expectClose(tz.add(s, x), refMap2(sc, a, (p, q) => p + q));
        expectClose(tz.sub(s, x), refMap2(sc, a, (p, q) => p - q));
        expectClose(tz.div(s, x), refMap2(sc, a, (p, q) => p / q));
        expectClose(tz.pow(x, s), refMap2(a, sc, refPow));
        expectClose(tz.pow(2, x), refMap2({ shape: [], data: Float64Array.from([2]) }, a, refPow), { rtol: 1e-14, atol: 0 });
        expectClose(tz.maximum(x, s), refMap2(a, sc, nanMax));
        expectEqual(tz.lt(x, s), refMap2(a, sc, (p, q) => (p < q ? 1 : 0)));
      }),
      RUNS,
    );
  });

  it('gradients with number operands flow only to the tensor', () => {
    gradcheck((x) => tz.add(tz.mul(tz.sub(1, x), 3), tz.div(2, x)), [randomArr([2, 3], 7, { min: 0.5, max: 2 })]);
    gradcheck((x) => tz.pow(x, 3), [randomArr([4], 8, { min: -2, max: 2 })]);
    gradcheck((x) => tz.pow(2.5, x), [randomArr([4], 9, { min: -2, max: 2 })]);
    gradcheck((x) => tz.remainder(x, 1.5), [{ shape: [4], data: Float64Array.from([0.2, 1.7, -0.4, 4.1]) }]);
  });

  it('add/sub alpha', () => {
    const a = tz.tensor([1, 2], { dtype: 'float64' });
    const b = tz.tensor([10, 20], { dtype: 'float64' });
    expectEqual(tz.add(a, b, { alpha: 2 }), { shape: [2], data: Float64Array.from([21, 42]) });
    expectEqual(tz.sub(a, b, { alpha: 0.5 }), { shape: [2], data: Float64Array.from([-4, -8]) });
  });
});

describe('predicates, logic and where', () => {
  it('isnan / isfinite / isinf / logicalNot on special values', () => {
    fc.assert(
      fc.property(arbInput(arbShape(), { special: 0.5 }), fc.constantFrom<tz.DType>('float64', 'float32', 'float16', 'bfloat16'), ({ arr, layout }, dt) => {
        const x = makeTensor(arr, layout, dt);
        const isBool = (t: Tensor) => expect(t.dtype).toBe('bool');
        const nan = tz.isnan(x);
        isBool(nan);
        expectEqual(nan, refMap(arr, (v) => (Number.isNaN(v) ? 1 : 0)));
        expectEqual(tz.isfinite(x), refMap(arr, (v) => (Number.isFinite(v) ? 1 : 0)));
        expectEqual(tz.isinf(x), refMap(arr, (v) => (v === Infinity || v === -Infinity ? 1 : 0)));
        expectEqual(tz.logicalNot(x), refMap(arr, (v) => (v === 0 ? 1 : 0)));
      }),
      RUNS,
    );
    const i = tz.tensor([0, 3], { dtype: 'int32' });
    expectEqual(tz.isfinite(i), { shape: [2], data: Float64Array.from([1, 1]) });
    expectEqual(tz.isnan(i), { shape: [2], data: Float64Array.from([0, 0]) });
  });

  it('where: forward with three-way broadcasting, number branches, and gradients', () => {
    fc.assert(
      fc.property(arbBroadcastPair({ maxNumel: 24 }), fc.integer(), fc.boolean(), ([sa, sb], seed, condFirst) => {
        const out = tz.broadcastShapes('t', sa, sb);
        // the condition takes one operand's shape (so all three broadcast)
        const c = randomArr(condFirst ? sa : sb, seed, { min: -1, max: 1 });
        const a = randomArr(sa, seed + 1);
        const b = randomArr(sb, seed + 2);
        const cond = tz.gt(makeTensor(c, 'contiguous'), 0);
        const C = refExpand(refMap(c, (v) => (v > 0 ? 1 : 0)), out);
        const A = refExpand(a, out);
        const B = refExpand(b, out);
        expectEqual(tz.where(cond, makeTensor(a, 'transposed'), makeTensor(b, 'sliced')), { shape: out, data: C.data.map((v, i) => (v ? A.data[i]! : B.data[i]!)) });
        const outB = tz.broadcastShapes('t', c.shape, sb);
        const CB = refExpand(refMap(c, (v) => (v > 0 ? 1 : 0)), outB);
        const BB = refExpand(b, outB);
        expectEqual(tz.where(cond, -7, makeTensor(b, 'contiguous')), { shape: outB, data: CB.data.map((v, i) => (v ? -7 : BB.data[i]!)) });
        gradcheck((p, q) => tz.where(cond, p, q), [a, b]);
      }),
      { numRuns: 30 },
    );
  });

  it('where: requires a bool condition and promotes branch dtypes', () => {
    expect(() => tz.where(tz.ones([2]), tz.zeros([2]), 1)).toThrow(/where.*bool/);
    const c = tz.tensor([true, false]);
    expect(tz.where(c, tz.zeros([2], { dtype: 'int32' }), 1.5).dtype).toBe('float32');
    expect(tz.where(c, tz.zeros([2], { dtype: 'float64' }), tz.zeros([2])).dtype).toBe('float64');
    expectClose(tz.where(c, tz.zeros([2], { dtype: 'int32' }), 1.5), { shape: [2], data: Float64Array.from([0, 1.5]) });
  });

  it('logical ops accept numeric tensors by truthiness (NaN is true)', () => {
    const a = tz.tensor([0, NaN, 2, 0], { dtype: 'float32' });
    const b = tz.tensor([0, 0, -1, 5], { dtype: 'int32' });
    expectEqual(tz.logicalAnd(a, b), { shape: [4], data: Float64Array.from([0, 0, 1, 0]) });
    expectEqual(tz.logicalOr(a, b), { shape: [4], data: Float64Array.from([0, 1, 1, 1]) });
    expectEqual(tz.logicalXor(a, b), { shape: [4], data: Float64Array.from([0, 1, 0, 1]) });
  });
});

describe('clamp', () => {
  it('forward with scalar bounds (either may be omitted) on any layout', () => {
    fc.assert(
      fc.property(arbInput(arbShape(), { special: 0.1 }), fc.option(fc.double({ min: -2, max: 2, noNaN: true })), fc.option(fc.double({ min: -2, max: 2, noNaN: true })), ({ arr, layout }, lo, hi) => {
        if (lo === null && hi === null) return;
        const y = tz.clamp(makeTensor(arr, layout), lo, hi);
        expectEqual(y, refMap(arr, (v) => {
          if (Number.isNaN(v)) return NaN;
          let r = v;
          if (lo !== null) r = Math.max(r, lo);
          if (hi !== null) r = Math.min(r, hi);
          return r;
        }));
      }),
      RUNS,
    );
    expect(() => tz.clamp(tz.zeros([2]))).toThrow(/clamp/);
  });

  it('gradient passes inside [min, max] (boundaries included) and is 0 outside', () => {
    const x = tz.tensor([-2, -1, 0, 1, 2], { dtype: 'float64', requiresGrad: true });
    tz.clamp(x, -1, 1).sum().backward();
    expectEqual(x.grad!, { shape: [5], data: Float64Array.from([0, 1, 1, 1, 0]) });
    gradcheck((t) => tz.clamp(t, -0.5, 0.7), [{ shape: [6], data: Float64Array.from([-1, -0.3, 0.1, 0.6, 0.9, 2]) }]);
  });

  it('tensor bounds broadcast and receive gradient where they bind', () => {
    const lo = { shape: [3], data: Float64Array.from([-0.5, 0, 0.5]) };
    const hi = { shape: [2, 1], data: Float64Array.from([0.8, 2]) };
    const x: Arr = { shape: [2, 3], data: Float64Array.from([-1, 0.3, 0.2, 1.1, 3, 0.7]) };
    const y = tz.clamp(makeTensor(x, 'contiguous'), makeTensor(lo, 'contiguous'), makeTensor(hi, 'contiguous'));
    expectEqual(y, refMap2(refMap2(x, lo, Math.max), hi, Math.min));
    gradcheck((p, l, h) => tz.clamp(p, l, h), [x, lo, hi]);
  });
});

// ---------------- casts and 16-bit encodings ----------------

function bitsOf(t: Tensor): number[] {
  return Array.from(tz.getBackend('cpu').readSync!(t.contiguous().storage) as Uint16Array);
}

/** Bits of the float32 nearest to x, for building exact expectations. */
function f32bits(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0]!;
}

describe('casts', () => {
  it('float -> int32 truncates toward zero, -> bool is x != 0 (NaN true), int/bool -> float exact', () => {
    fc.assert(
      fc.property(arbInput(arbShape(), { min: -50, max: 50, special: 0.1 }), ({ arr, layout }) => {
        const finite = refMap(arr, (v) => (Number.isFinite(v) ? v : 0));
        const x = makeTensor(finite, layout);
        const i = tz.cast(x, 'int32');
        expect(i.dtype).toBe('int32');
        expectEqual(i, refMap(finite, (v) => Math.trunc(v) + 0));
        expectEqual(x.to('bool'), refMap(finite, (v) => (v !== 0 ? 1 : 0)));
        expectEqual(makeTensor(arr, layout).to('bool'), refMap(arr, (v) => (v !== 0 ? 1 : 0)));
        expectEqual(i.to('float64'), refMap(finite, (v) => Math.trunc(v) + 0));
        expectEqual(makeTensor(arr, layout).to('float32'), fround(arr));
      }),
      RUNS,
    );
  });

  it('cast gradient flows back in the source dtype', () => {
    const x = tz.tensor([1.5, -2], { dtype: 'float64', requiresGrad: true });
    const y = tz.mul(x.to('float32'), 3).sum();
    y.backward();
    expect(x.grad!.dtype).toBe('float64');
    expectEqual(x.grad!, { shape: [2], data: Float64Array.from([3, 3]) });
  });

  it('bfloat16 encode rounds to nearest even at the bit level', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [1 + 2 ** -8, 0x3f80], // exact tie between 1 and 1+2^-7: even (1)
      [1 + 3 * 2 ** -8, 0x3f82], // tie between 1+2^-7 (odd) and 1+2^-6 (even): up
      [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above the tie: up
      [1 + 2 ** -8 + 2 ** -40, 0x3f81], // just above the tie, below float32 resolution: still up (correct rounding from the exact value)
      [1 + 2 ** -8 - 2 ** -40, 0x3f80], // just below the tie: down
      [-2.5, 0xc020],
      [0, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [3.3895313892515355e38, 0x7f7f], // max finite bfloat16
      [3.4e38, 0x7f80], // above the midpoint to 2^128: inf
      [2 ** -133, 0x0001], // smallest subnormal
      [2 ** -134, 0x0000], // half of it: tie to even (0)
      [3 * 2 ** -134, 0x0002], // 1.5 ulp: tie to even (2)
      [1e-50, 0x0000],
    ];
    for (const [x, bits] of cases) {
      expect(tz.numberToBf16(x), `bf16(${x})`).toBe(bits);
      expect(bitsOf(tz.tensor([x], { dtype: 'bfloat16' })), `tensor bf16(${x})`).toEqual([bits]);
      expect(bitsOf(tz.tensor([x], { dtype: 'float64' }).to('bfloat16')), `cast f64->bf16(${x})`).toEqual([bits]);
    }
    const nan = tz.numberToBf16(NaN);
    expect(nan & 0x7f80).toBe(0x7f80);
    expect(nan & 0x7f).not.toBe(0);
    expect(Number.isNaN(tz.tensor([NaN], { dtype: 'float32' }).to('bfloat16').item())).toBe(true);
  });

  it('float16 encode rounds to nearest even at the bit level, incl. subnormals and overflow', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [1 + 2 ** -11, 0x3c00], // tie: even
      [1 + 3 * 2 ** -11, 0x3c02], // tie: up to even
      [1 + 2 ** -11 + 2 ** -40, 0x3c01], // just above a tie
      [65504, 0x7bff], // max half
      [65519.99, 0x7bff],
      [65520, 0x7c00], // midpoint to 2^16 rounds to inf
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie to even (0)
      [3 * 2 ** -25, 0x0002], // tie to even (2)
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal into the normals
      [-0, 0x8000],
      [0.1, 0x2e66],
      [-2, 0xc000],
    ];
    for (const [x, bits] of cases) {
      expect(tz.numberToF16(x), `f16(${x})`).toBe(bits);
      expect(bitsOf(tz.tensor([x], { dtype: 'float64' }).to('float16')), `cast f64->f16(${x})`).toEqual([bits]);
    }
    expect(bitsOf(tz.tensor([NaN]).to('float16'))[0]! & 0x7c00).toBe(0x7c00);
    expect(tz.numberToF16(NaN) & 0x3ff).not.toBe(0);
  });

  it('16-bit decode is exact and encode(decode(b)) == b for every non-NaN bit pattern', () => {
    for (let b = 0; b < 0x10000; b++) {
      const h = tz.f16ToNumber(b);
      const bf = tz.bf16ToNumber(b);
      if (!Number.isNaN(h)) expect(tz.numberToF16(h)).toBe(b);
      if (!Number.isNaN(bf)) expect(tz.numberToBf16(bf)).toBe(b);
      // bf16 is the top half of a float32
      if (!Number.isNaN(bf)) expect(f32bits(bf) >>> 16).toBe(b);
    }
    expect(tz.f16ToNumber(0x0001)).toBe(2 ** -24);
    expect(tz.f16ToNumber(0x7bff)).toBe(65504);
    expect(tz.bf16ToNumber(0x3f81)).toBe(1 + 2 ** -7);
  });

  it('float32 -> 16-bit casts agree with a reference RNE on random float32 values', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 40 }), (vals) => {
        const t = tz.tensor(vals, { dtype: 'float32' });
        const bf = bitsOf(t.to('bfloat16'));
        const h = bitsOf(t.to('float16'));
        vals.forEach((v, i) => {
          // bfloat16: RNE on the float32 bits
          const u = f32bits(v);
          const lower = u & 0xffff;
          let top = u >>> 16;
          if (lower > 0x8000 || (lower === 0x8000 && top & 1)) top += 1;
          expect(bf[i], `bf16 of ${v}`).toBe(top & 0xffff);
          // float16: the nearest representable, ties to even (checked via the decoded neighbours)
          const dec = tz.f16ToNumber(h[i]!);
          if (Math.abs(v) >= 65520) expect(Math.abs(dec)).toBe(Infinity);
          else {
            const up = tz.f16ToNumber(h[i]! + 1);
            const down = tz.f16ToNumber(h[i]! - 1);
            const err = Math.abs(dec - v);
            if ((h[i]! & 0x7fff) < 0x7bff) expect(err).toBeLessThanOrEqual(Math.abs(up - v));
            if ((h[i]! & 0x7fff) > 0) expect(err).toBeLessThanOrEqual(Math.abs(down - v));
          }
        });
      }),
      RUNS,
    );
  });

  it('ops on 16-bit tensors compute in float32 on the decoded values', () => {
    const vals = [0.1, 1.7, -3.3, 1000.5];
    for (const dt of ['float16', 'bfloat16'] as const) {
      const t = tz.tensor(vals, { dtype: dt });
      const dec = Array.from(t.dataSync());
      const y = tz.add(tz.mul(t, 2), 1);
      expect(y.dtype).toBe('float32');
      expectClose(y, { shape: [4], data: Float64Array.from(dec.map((v) => Math.fround(Math.fround(v * 2) + 1))) }, { rtol: 0, atol: 0 });
    }
  });
});

void numelOf;
