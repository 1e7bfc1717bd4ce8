// Reductions and scans: forward against float64 references over random shapes, dims, keepdim and layouts;
// gradients against central finite differences; NaN/inf/empty edge cases as torch.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import {
  type Arr, RUNS, arbInput, arbShape, expectClose, expectEqual, gradcheck, makeTensor, numelOf, randomArr, ravel, refMap, refReduce, unravel,
  alongDim,
} from './helpers.js';

/** A shape plus a set of dims to reduce (sometimes negative), and keepdim. */
const arbReduceCase = (o: { maxNumel?: number; allowZero?: boolean; minRank?: number } = {}) =>
  arbShape({ maxNumel: o.maxNumel ?? 64, allowZero: o.allowZero, minRank: o.minRank }).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dims: fc.subarray(shape.map((_, i) => i)).chain((ds) => fc.tuple(...ds.map((d) => fc.constantFrom(d, d - shape.length)))),
      keepdim: fc.boolean(),
      seed: fc.integer(),
      layout: fc.constantFrom('contiguous', 'transposed', 'sliced') as fc.Arbitrary<'contiguous' | 'transposed' | 'sliced'>,
    }),
  );

const posDims = (dims: readonly number[], rank: number) => (dims.length === 0 ? [...Array(rank).keys()] : dims.map((d) => (d < 0 ? d + rank : d)));

const ksum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const kprod = (v: number[]) => v.reduce((a, b) => a * b, 1);
const kmax = (v: number[]) => (v.some(Number.isNaN) ? NaN : Math.max(...v));
const kmin = (v: number[]) => (v.some(Number.isNaN) ? NaN : Math.min(...v));
const kvar = (corr: number) => (v: number[]) => {
  const m = ksum(v) / v.length;
  return ksum(v.map((x) => (x - m) ** 2)) / Math.max(v.length - corr, 0);
};
const klse = (v: number[]) => {
  const m = Math.max(...v);
  if (m === -Infinity) return -Infinity;
  if (m === Infinity) return v.some(Number.isNaN) ? NaN : Infinity;
  return m + Math.log(ksum(v.map((x) => Math.exp(x - m))));
};

describe('sum / mean / prod', () => {
  it('forward over any dims subset, keepdim, negative dims and layouts', () => {
    fc.assert(
      fc.property(arbReduceCase(), ({ shape, dims, keepdim, seed, layout }) => {
        const a = randomArr(shape, seed, { special: 0.05 });
        const x = makeTensor(a, layout);
        const pd = posDims(dims, shape.length);
        const arg = dims.length === 0 ? undefined : dims;
        expectClose(tz.sum(x, arg, keepdim), refReduce(a, pd, keepdim, ksum), { rtol: 1e-12, atol: 1e-12 }, 'sum');
        expectClose(x.mean(arg, keepdim), refReduce(a, pd, keepdim, (v) => ksum(v) / v.length), { rtol: 1e-12, atol: 1e-12 }, 'mean');
        if (pd.length <= 1 && dims.length <= 1) {
          const r = tz.prod(x, dims.length ? dims[0] : undefined, keepdim);
          expectClose(r, refReduce(a, pd, keepdim, kprod), { rtol: 1e-12, atol: 1e-12 }, 'prod');
        }
        const a32 = tz.sum(makeTensor(a, layout, 'float32'), arg, keepdim);
        expect(a32.dtype).toBe('float32');
        expectClose(a32, refReduce({ shape, data: a.data.map(Math.fround) }, pd, keepdim, ksum), { rtol: 1e-6, atol: 1e-5 }, 'sum float32');
      }),
      { numRuns: 80 },
    );
  });

  it('integer and bool sums are int32; mean of ints is an error; empty sum is 0 and empty mean NaN', () => {
    const i = tz.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'int32' });
    expect(tz.sum(i).dtype).toBe('int32');
    expectEqual(tz.sum(i, 1), { shape: [2], data: Float64Array.from([6, 15]) });
    expectEqual(tz.prod(i, 1), { shape: [2], data: Float64Array.from([6, 120]) });
    const b = tz.tensor([true, false, true]);
    expect(tz.sum(b).dtype).toBe('int32');
    expect(tz.sum(b).item()).toBe(2);
    expect(() => tz.mean(i)).toThrow(/mean/);
    const e = tz.zeros([2, 0]);
    expectEqual(tz.sum(e, 1), { shape: [2], data: Float64Array.from([0, 0]) });
    expectEqual(tz.prod(e, 1), { shape: [2], data: Float64Array.from([1, 1]) });
    expect(Number.isNaN(tz.mean(e).item())).toBe(true);
  });

  it('gradients match central differences (sum, mean over dims; prod incl. zeros)', () => {
    fc.assert(
      fc.property(arbReduceCase({ maxNumel: 16 }), ({ shape, dims, keepdim, seed }) => {
        const a = randomArr(shape, seed);
        const arg = dims.length === 0 ? undefined : dims;
        gradcheck((x) => tz.sum(x, arg, keepdim), [a]);
        gradcheck((x) => tz.mean(x, arg, keepdim), [a]);
        // prod is multilinear, so central differences are exact even at zeros
        const z = randomArr(shape, seed, { min: -2, max: 2, integer: true });
        gradcheck((x) => tz.prod(x, dims.length ? dims[0] : undefined, keepdim), [z], { float32: { rtol: 1e-5, atol: 1e-5 } });
      }),
      { numRuns: 30 },
    );
  });

  it('prod gradient with zeros is exact: one zero gets the product of the others, two zeros give 0', () => {
    const x = tz.tensor([[2, 0, 3], [0, 5, 0], [1, 2, 4]], { dtype: 'float64', requiresGrad: true });
    tz.prod(x, 1).sum().backward();
    expectEqual(x.grad!, { shape: [3, 3], data: Float64Array.from([0, 6, 0, 0, 0, 0, 8, 4, 2]) });
    const y = tz.tensor([3, 0, 2], { dtype: 'float64', requiresGrad: true });
    tz.prod(y).backward();
    expectEqual(y.grad!, { shape: [3], data: Float64Array.from([0, 6, 0]) });
  });
});

describe('max / min / amax / amin / argmax / argmin', () => {
  it('amax/amin forward over dims; max/min(dim) values+indices; argmax/argmin (first on ties, NaN wins)', () => {
    fc.assert(
      fc.property(arbReduceCase({ allowZero: false }), fc.boolean(), ({ shape, dims, keepdim, seed, layout }, nans) => {
        const a = randomArr(shape, seed, { min: -3, max: 3, integer: true, special: nans ? 0.1 : 0 });
        const x = makeTensor(a, layout);
        const pd = posDims(dims, shape.length);
        const arg = dims.length === 0 ? undefined : dims;
        expectEqual(tz.amax(x, arg, keepdim), refReduce(a, pd, keepdim, kmax), 'amax');
        expectEqual(tz.amin(x, arg, keepdim), refReduce(a, pd, keepdim, kmin), 'amin');
        const firstIdx = (pick: (v: number[]) => number) => (v: number[]) => {
          const t = pick(v);
          return v.findIndex((u) => (Number.isNaN(t) ? Number.isNaN(u) : u === t));
        };
        if (shape.length > 0) {
          const d = dims.length ? dims[0]! : -1;
          const pdd = d < 0 ? d + shape.length : d;
          const mx = tz.max(x, d, keepdim);
          expectEqual(mx.values, refReduce(a, [pdd], keepdim, kmax), 'max values');
          expect(mx.indices.dtype).toBe('int32');
          expectEqual(mx.indices, refReduce(a, [pdd], keepdim, firstIdx(kmax)), 'max indices');
          const mn = tz.min(x, d, keepdim);
          expectEqual(mn.values, refReduce(a, [pdd], keepdim, kmin), 'min values');
          expectEqual(mn.indices, refReduce(a, [pdd], keepdim, firstIdx(kmin)), 'min indices');
          expectEqual(tz.argmax(x, d, keepdim), refReduce(a, [pdd], keepdim, firstIdx(kmax)), 'argmax');
          expectEqual(tz.argmin(x, d, keepdim), refReduce(a, [pdd], keepdim, firstIdx(kmin)), 'argmin');
        }
        const flat = { shape: [a.data.length], data: a.data };
        expect(tz.argmax(x).item()).toBe(firstIdx(kmax)(Array.from(flat.data)));
        expect(tz.argmin(x).item()).toBe(firstIdx(kmin)(Array.from(flat.data)));
        expect(tz.argmax(x, null, true).shape).toEqual(shape.map(() => 1));
        expectEqual(tz.max(x), refReduce(a, [...shape.keys()], false, kmax));
      }),
      { numRuns: 80 },
    );
  });

  it('amax/amin gradient splits evenly among ties; max(dim) sends it to the returned index', () => {
    const x = tz.tensor([[1, 3, 3], [2, 0, 1]], { dtype: 'float64', requiresGrad: true });
    tz.amax(x, 1).sum().backward();
    expectEqual(x.grad!, { shape: [2, 3], data: Float64Array.from([0, 0.5, 0.5, 1, 0, 0]) });
    const y = tz.tensor([[1, 3, 3], [2, 0, 1]], { dtype: 'float64', requiresGrad: true });
    tz.max(y, 1).values.sum().backward();
    expectEqual(y.grad!, { shape: [2, 3], data: Float64Array.from([0, 1, 0, 1, 0, 0]) });
    const z = tz.tensor([[1, 3, 3], [2, 0, 0]], { dtype: 'float64', requiresGrad: true });
    tz.amin(z).backward();
    expectEqual(z.grad!, { shape: [2, 3], data: Float64Array.from([0, 0, 0, 0, 0.5, 0.5]) });
  });

  it('gradients match central differences on distinct values', () => {
    fc.assert(
      fc.property(arbReduceCase({ maxNumel: 16, allowZero: false }), ({ shape, dims, keepdim, seed }) => {
        // a random permutation of well-separated values: no ties
        const n = numelOf(shape);
        const vals = randomArr([n], seed, { min: 0, max: 1 }).data;
        const order = [...vals.keys()].sort((i, j) => vals[i]! - vals[j]!);
        const data = new Float64Array(n);
        order.forEach((i, r) => (data[i] = r * 0.37 - 1));
        const a: Arr = { shape, data };
        const arg = dims.length === 0 ? undefined : dims;
        gradcheck((x) => tz.amax(x, arg, keepdim), [a]);
        gradcheck((x) => tz.amin(x, arg, keepdim), [a]);
        if (shape.length > 0) {
          const d = dims.length ? dims[0]! : 0;
          gradcheck((x) => tz.max(x, d, keepdim).values, [a]);
          gradcheck((x) => tz.min(x, d, keepdim).values, [a]);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('reducing an empty dim is an error naming the op; bad dims are errors', () => {
    const e = tz.zeros([2, 0]);
    expect(() => tz.amax(e, 1)).toThrow(/amax/);
    expect(() => tz.max(e, 1)).toThrow(/max/);
    expect(() => tz.argmax(e)).toThrow(/argmax/);
    expectEqual(tz.amax(e, 0), { shape: [0], data: new Float64Array(0) });
    const x = tz.zeros([2, 3]);
    expect(() => tz.sum(x, 2)).toThrow(/sum.*dim.*2.*rank 2/);
    expect(() => tz.mean(x, [-3])).toThrow(/mean/);
    expect(() => tz.sum(x, [0, 0])).toThrow(/sum.*multiple/);
    expect(() => tz.max(x, 5)).toThrow(/max/);
    expect(() => tz.cumsum(x, 2)).toThrow(/cumsum/);
    expect(() => tz.sort(x, -3)).toThrow(/sort/);
    expect(() => tz.topk(x, 4, 1)).toThrow(/topk.*4/);
  });
});

describe('var / std / logsumexp / any / all', () => {
  it('var/std with correction and keepdim match the reference; gradients match finite differences', () => {
    fc.assert(
      fc.property(arbReduceCase({ maxNumel: 48 }), fc.constantFrom(0, 1, 2), ({ shape, dims, keepdim, seed, layout }, correction) => {
        const a = randomArr(shape, seed);
        const x = makeTensor(a, layout);
        const pd = posDims(dims, shape.length);
        const arg = dims.length === 0 ? undefined : dims;
        const v = tz.var(x, arg, { correction, keepdim });
        expectClose(v, refReduce(a, pd, keepdim, kvar(correction)), { rtol: 1e-10, atol: 1e-12 }, 'var');
        expectClose(tz.std(x, arg, { correction, keepdim }), refReduce(a, pd, keepdim, (u) => Math.sqrt(kvar(correction)(u))), { rtol: 1e-10, atol: 1e-12 }, 'std');
        const count = numelOf(pd.map((d) => shape[d]!));
        if (count - correction >= 1 && count >= 2 && numelOf(shape) <= 16) {
          gradcheck((t) => tz.var(t, arg, { correction, keepdim }), [a]);
          gradcheck((t) => tz.std(t, arg, { correction, keepdim }), [a]);
        }
      }),
      { numRuns: 60 },
    );
    // default correction is 1 (Bessel)
    expect(tz.var(tz.tensor([1, 2, 3, 4], { dtype: 'float64' })).item()).toBeCloseTo(5 / 3, 14);
    expect(tz.tensor([1, 2, 3, 4], { dtype: 'float64' }).std(null, { correction: 0 }).item()).toBeCloseTo(Math.sqrt(1.25), 14);
  });

  it('logsumexp is stable, handles -inf rows (-> -inf) and +inf; gradient is softmax', () => {
    fc.assert(
      fc.property(arbReduceCase({ minRank: 1 }), fc.boolean(), ({ shape, dims, keepdim, seed, layout }, big) => {
        const a = randomArr(shape, seed, { min: big ? 500 : -3, max: big ? 800 : 3, special: 0.1 });
        const x = makeTensor(a, layout);
        const pd = posDims(dims, shape.length);
        const arg = dims.length === 0 ? [...shape.keys()] : dims;
        expectClose(tz.logsumexp(x, arg, keepdim), refReduce(a, pd, keepdim, klse), { rtol: 1e-13, atol: 1e-13 }, 'logsumexp');
        const b = randomArr(shape, seed, { min: big ? 500 : -3, max: big ? 800 : 3 });
        if (numelOf(shape) <= 16) gradcheck((t) => tz.logsumexp(t, arg, keepdim), [b], { float32: big ? false : undefined });
      }),
      { numRuns: 50 },
    );
    const r = tz.logsumexp(tz.tensor([[-Infinity, -Infinity], [1000, 1000]], { dtype: 'float32' }), 1);
    expectClose(r, { shape: [2], data: Float64Array.from([-Infinity, 1000 + Math.log(2)]) }, { rtol: 1e-7, atol: 0 });
  });

  it('any/all over dims (NaN is truthy, empty any=false, empty all=true)', () => {
    fc.assert(
      fc.property(arbReduceCase(), ({ shape, dims, keepdim, seed, layout }) => {
        const a = randomArr(shape, seed, { min: -1, max: 1, integer: true, special: 0.1 });
        const x = makeTensor(a, layout);
        const pd = posDims(dims, shape.length);
        const arg = dims.length === 0 ? undefined : dims;
        const r = tz.any(x, arg, keepdim);
        expect(r.dtype).toBe('bool');
        expectEqual(r, refReduce(a, pd, keepdim, (v) => (v.some((u) => u !== 0) ? 1 : 0)), 'any');
        expectEqual(tz.all(x, arg, keepdim), refReduce(a, pd, keepdim, (v) => (v.every((u) => u !== 0) ? 1 : 0)), 'all');
      }),
      RUNS,
    );
  });
});

describe('cumsum / sort / topk', () => {
  const arbDimCase = (o: { maxNumel?: number; allowZero?: boolean } = {}) =>
    arbShape({ maxNumel: o.maxNumel ?? 64, allowZero: o.allowZero }).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        dim: shape.length === 0 ? fc.constantFrom(0, -1) : fc.integer({ min: -shape.length, max: shape.length - 1 }),
        seed: fc.integer(),
        layout: fc.constantFrom('contiguous', 'transposed', 'sliced') as fc.Arbitrary<'contiguous' | 'transposed' | 'sliced'>,
      }),
    );

  /** Applies `f` to each 1-D line along dim, returning a same-shape array. */

  it('cumsum forward (float and int) and gradient', () => {
    fc.assert(
      fc.property(arbDimCase(), ({ shape, dim, seed, layout }) => {
        const a = randomArr(shape, seed, { special: 0.05 });
        const scan = (l: number[]) => {
          let s = 0;
          return l.map((v) => (s += v));
        };
        expectClose(tz.cumsum(makeTensor(a, layout), dim), alongDim(a, dim, scan), { rtol: 1e-12, atol: 1e-12 });
        const ai = randomArr(shape, seed, { min: -9, max: 9, integer: true });
        const ti = tz.tensor(Array.from(ai.data), { dtype: 'int32', shape });
        const ci = tz.cumsum(ti, dim);
        expect(ci.dtype).toBe('int32');
        expectEqual(ci, alongDim(ai, dim, scan));
        if (numelOf(shape) <= 16) gradcheck((t) => tz.cumsum(t, dim), [randomArr(shape, seed)]);
      }),
      RUNS,
    );
  });

  /** torch's stable sort: NaN after every number ascending, before every number descending; ties keep order. */
  function refSortIdx(line: number[], descending: boolean): number[] {
    const key = (v: number) => (Number.isNaN(v) ? (descending ? -Infinity : Infinity) : descending ? -v : v);
    const nanRank = (v: number) => (Number.isNaN(v) ? (descending ? 0 : 1) : descending ? 1 : 0);
    return [...line.keys()].sort((i, j) => {
      const a = line[i]!;
      const b = line[j]!;
      if (Number.isNaN(a) || Number.isNaN(b)) return nanRank(a) - nanRank(b) || i - j;
      return key(a) - key(b) || (a === b ? i - j : 0) || i - j;
    });
  }

  it('sort: stable, NaN placement as torch, values and indices, ascending and descending', () => {
    fc.assert(
      fc.property(arbDimCase(), fc.boolean(), ({ shape, dim, seed, layout }, descending) => {
        const a = randomArr(shape, seed, { min: -3, max: 3, integer: true, special: 0.2 });
        const { values, indices } = tz.sort(makeTensor(a, layout), dim, descending);
        expect(indices.dtype).toBe('int32');
        expectEqual(indices, alongDim(a, dim, (l) => refSortIdx(l, descending)), 'sort indices');
        expectEqual(values, alongDim(a, dim, (l) => refSortIdx(l, descending).map((i) => l[i]!)), 'sort values');
      }),
      { numRuns: 80 },
    );
    const { values, indices } = tz.tensor([3, NaN, -Infinity, 1, NaN, Infinity, 1]).sort(0);
    expect(Array.from(indices.dataSync())).toEqual([2, 3, 6, 0, 5, 1, 4]);
    expect(Array.from(values.dataSync())).toEqual([-Infinity, 1, 1, 3, Infinity, NaN, NaN]);
    const d = tz.tensor([3, NaN, 1, 3]).sort(0, true);
    expect(Array.from(d.indices.dataSync())).toEqual([1, 0, 3, 2]);
  });

  it('topk: the k largest/smallest sorted, indices point at them; gradient flows to those positions', () => {
    fc.assert(
      fc.property(arbDimCase({ allowZero: true }), fc.boolean(), fc.nat(), ({ shape, dim, seed, layout }, largest, kk) => {
        // distinct values so the selected set is unique
        const n = numelOf(shape);
        const r = randomArr([n], seed, { min: 0, max: 1 }).data;
        const data = new Float64Array(n);
        [...r.keys()].sort((i, j) => r[i]! - r[j]!).forEach((i, rank) => (data[i] = rank * 0.5 - 3));
        const a: Arr = { shape, data };
        const len = shape.length === 0 ? 1 : shape[dim < 0 ? dim + shape.length : dim]!;
        const k = kk % (len + 1);
        const x = makeTensor(a, layout);
        const { values, indices } = tz.topk(x, k, dim, largest);
        const full = alongDim(a, dim, (l) => refSortIdx(l, largest));
        const fullV = alongDim(a, dim, (l) => refSortIdx(l, largest).map((i) => l[i]!));
        const narrowK = (t: Arr) => (shape.length === 0 ? t : { shape: tz.narrow(tz.tensor(Array.from(t.data), { dtype: 'float64', shape }), dim, 0, k).shape, data: Float64Array.from(tz.narrow(tz.tensor(Array.from(t.data), { dtype: 'float64', shape }), dim, 0, k).dataSync()) });
        expectEqual(values, narrowK(fullV), 'topk values');
        expectEqual(indices, narrowK(full), 'topk indices');
        if (n <= 16) gradcheck((t) => tz.topk(t, k, dim, largest).values, [a]);
      }),
      RUNS,
    );
  });

  it('sort gradient scatters back through the permutation', () => {
    fc.assert(
      fc.property(arbDimCase({ maxNumel: 16 }), ({ shape, dim, seed }) => {
        const n = numelOf(shape);
        const data = Float64Array.from([...randomArr([n], seed).data].map((v, i) => v + i * 1e-3));
        gradcheck((t) => tz.sort(t, dim, true).values, [{ shape, data }]);
      }),
      { numRuns: 20 },
    );
  });
});

void refMap;
void arbInput;
