// gather, scatterAdd, indexSelect, embedding, maskedFill: references on flat arrays, range errors, gradients.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import {
  FC, expectError, expectRef, gradCheck, iotaRef, layoutArb, layoutTensor, nonEmptyShapeArb, numelOf, refFrom, refGet, seededValues, shapeArb, type Ref,
} from './helpers-struct.js';

const randRef = (shape: number[], seed = 1): Ref => ({ shape, data: seededValues(numelOf(shape), seed) });

/** A gather/scatter case: x's shape, a dim, an index shape no larger than x off `dim`, and index values in range. */
const gatherCaseArb = nonEmptyShapeArb(1, 3, 4).chain((shape) =>
  fc.nat().chain((dd) => {
    const dim = dd % shape.length;
    return fc.tuple(
      fc.constant(shape),
      fc.constant(dim),
      fc.tuple(...shape.map((s, i) => fc.integer({ min: 0, max: i === dim ? 5 : s }))).chain((ishape) =>
        fc.tuple(fc.constant(ishape as number[]), fc.array(fc.integer({ min: 0, max: shape[dim]! - 1 }), { minLength: numelOf(ishape), maxLength: numelOf(ishape) })),
      ),
      layoutArb,
      layoutArb,
    );
  }),
);

function intTensor(r: Ref, mode: Parameters<typeof layoutTensor>[1]): T.Tensor {
  return layoutTensor(r, mode, 'int32');
}

describe('gather / scatterAdd', () => {
  it('gather picks x[..., index[...], ...] along dim', () => {
    fc.assert(
      fc.property(gatherCaseArb, ([shape, dim, [ishape, ivals], mx, mi]) => {
        const xr = iotaRef(shape);
        const ir: Ref = { shape: ishape, data: ivals };
        const y = T.gather(layoutTensor(xr, mx), dim, intTensor(ir, mi));
        expectRef(y, refFrom(ishape, (idx) => refGet(xr, idx.map((v, d) => (d === dim ? refGet(ir, idx) : v)))));
        expect(layoutTensor(xr, mx).gather(dim - shape.length, intTensor(ir, mi)).shape).toEqual(ishape);
      }),
      FC,
    );
  });

  it('scatterAdd adds src at index positions; duplicate indices accumulate', () => {
    fc.assert(
      fc.property(gatherCaseArb, ([shape, dim, [ishape, ivals], mx, mi]) => {
        const xr = iotaRef(shape);
        const ir: Ref = { shape: ishape, data: ivals };
        // src at least as large as index
        const sshape = ishape.map((s) => s + 1);
        const sr = refFrom(sshape, (idx) => 1000 * (idx.reduce((a, v) => a * 7 + v, 0) + 1));
        const expected = { shape: [...shape], data: [...xr.data] };
        const total = numelOf(ishape);
        for (let k = 0; k < total; k++) {
          const idx: number[] = [];
          let rem = k;
          for (let d = ishape.length - 1; d >= 0; d--) {
            idx[d] = rem % ishape[d]!;
            rem = Math.floor(rem / ishape[d]!);
          }
          const tgt = idx.map((v, d) => (d === dim ? refGet(ir, idx) : v));
          const pos = tgt.reduce((a, v, d) => a * shape[d]! + v, 0);
          expected.data[pos] = expected.data[pos]! + refGet(sr, idx);
        }
        const x = layoutTensor(xr, mx);
        const before = x.tolist();
        const y = T.scatterAdd(x, dim, intTensor(ir, mi), layoutTensor(sr, mi));
        expectRef(y, expected);
        expect(x.tolist()).toEqual(before); // out of place
      }),
      FC,
    );
    const acc = T.scatterAdd(T.zeros([3]), 0, T.tensor([0, 2, 0, 0], { dtype: 'int32' }), T.tensor([1, 2, 3, 4]));
    expect(acc.tolist()).toEqual([8, 0, 2]);
  });

  it('out-of-range and negative indices are errors naming the op and the value (never an out-of-bounds read)', () => {
    const x = T.tensor([[1, 2, 3], [4, 5, 6]]);
    expectError(() => T.gather(x, 1, T.tensor([[3]], { dtype: 'int32' })), 'gather', '3');
    expectError(() => T.gather(x, 1, T.tensor([[-1]], { dtype: 'int32' })), 'gather', '-1');
    expectError(() => T.gather(x, 0, T.tensor([[2, 0, 0]], { dtype: 'int32' })), 'gather', '2');
    expectError(() => T.gather(x, 1, T.tensor([[0]])), 'gather', 'int32');
    expectError(() => T.gather(x, 1, T.tensor([0], { dtype: 'int32' })), 'gather', '[2,3]');
    expectError(() => T.gather(x, 1, T.zeros([3, 1], { dtype: 'int32' })), 'gather', '[3,1]');
    expectError(() => T.gather(x, 2, T.zeros([1, 1], { dtype: 'int32' })), 'gather', '2');
    expectError(() => T.gather(T.tensor(5), 0, T.tensor(1, { dtype: 'int32' })), 'gather', '1');
    expect(T.gather(T.tensor(5), 0, T.tensor(0, { dtype: 'int32' })).item()).toBe(5);
    const z = T.zeros([2, 3]);
    expectError(() => T.scatterAdd(z, 1, T.tensor([[3]], { dtype: 'int32' }), T.ones([1, 1])), 'scatterAdd', '3');
    expectError(() => T.scatterAdd(z, 1, T.tensor([[-4]], { dtype: 'int32' }), T.ones([1, 1])), 'scatterAdd', '-4');
    expectError(() => T.scatterAdd(z, 0, T.tensor([[-1]], { dtype: 'int32' }), T.ones([1, 1])), 'scatterAdd', '-1');
    expectError(() => T.scatterAdd(z, 1, T.zeros([1, 2], { dtype: 'int32' }), T.ones([1, 1])), 'scatterAdd', '[1,2]');
    expectError(() => T.scatterAdd(z, 1, T.zeros([1], { dtype: 'int32' }), T.ones([1])), 'scatterAdd');
  });

  it('gradients of gather (duplicates accumulate) and scatterAdd', () => {
    fc.assert(
      fc.property(gatherCaseArb, ([shape, dim, [ishape, ivals]]) => {
        if (numelOf(shape) > 27) return;
        const idx = T.tensor(Int32Array.from(ivals), { shape: ishape });
        gradCheck((x) => T.gather(x, dim, idx), [randRef(shape, 1)]);
        gradCheck((x, s) => T.scatterAdd(x, dim, idx, s), [randRef(shape, 2), randRef(ishape, 3)]);
      }),
      { ...FC, numRuns: 25 },
    );
    const x = T.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    T.gather(x, 0, T.tensor([2, 2, 0, 2], { dtype: 'int32' })).sum().backward();
    expect(x.grad!.tolist()).toEqual([1, 0, 3]);
  });
});

describe('indexSelect / embedding', () => {
  it('indexSelect picks whole slices along dim (repeats allowed, empty index ok)', () => {
    fc.assert(
      fc.property(
        nonEmptyShapeArb(1, 3, 4).chain((shape) => fc.tuple(fc.constant(shape), fc.nat(), layoutArb)).chain(([shape, dd, mode]) => {
          const dim = dd % shape.length;
          return fc.tuple(fc.constant(shape), fc.constant(dim), fc.constant(mode), fc.array(fc.integer({ min: 0, max: shape[dim]! - 1 }), { maxLength: 6 }));
        }),
        ([shape, dim, mode, ids]) => {
          const xr = iotaRef(shape);
          const y = T.indexSelect(layoutTensor(xr, mode), dim, T.tensor(Int32Array.from(ids)));
          const oshape = [...shape];
          oshape[dim] = ids.length;
          expectRef(y, refFrom(oshape, (idx) => refGet(xr, idx.map((v, d) => (d === dim ? ids[v]! : v)))));
        },
      ),
      FC,
    );
    expectError(() => T.indexSelect(T.zeros([3, 2]), 0, T.tensor([0, 3], { dtype: 'int32' })), 'indexSelect', '3');
    expectError(() => T.indexSelect(T.zeros([3, 2]), 1, T.tensor([-1], { dtype: 'int32' })), 'indexSelect', '-1');
    expectError(() => T.indexSelect(T.zeros([3, 2]), 0, T.zeros([1, 1], { dtype: 'int32' })), 'indexSelect', '[1,1]');
    expectError(() => T.indexSelect(T.zeros([3, 2]), 2, T.zeros([1], { dtype: 'int32' })), 'indexSelect', '2');
    expect(T.indexSelect(T.zeros([0, 2]), 1, T.tensor([1, 1], { dtype: 'int32' })).shape).toEqual([0, 2]);
  });

  it('embedding gives rows of weight for ids of any shape, and names bad ids', () => {
    fc.assert(
      fc.property(shapeArb(0, 3), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }), layoutArb, (ishape, num, dimE, mode) => {
        const wr = iotaRef([num, dimE]);
        const ids = refFrom(ishape, (idx) => (idx.reduce((a, v) => a * 3 + v, 1) * 7) % num);
        const y = T.embedding(intTensor(ids, mode), T.tensor(Float64Array.from(wr.data), { shape: [num, dimE] }));
        expectRef(y, refFrom([...ishape, dimE], (idx) => refGet(wr, [refGet(ids, idx.slice(0, -1)), idx.at(-1)!])));
      }),
      FC,
    );
    const w = T.zeros([4, 2]);
    expectError(() => T.embedding(T.tensor([1, 4], { dtype: 'int32' }), w), 'embedding', '4');
    expectError(() => T.embedding(T.tensor([-1], { dtype: 'int32' }), w), 'embedding', '-1');
    expectError(() => T.embedding(T.tensor([1]), w), 'embedding', 'int32');
    expectError(() => T.embedding(T.tensor([1], { dtype: 'int32' }), T.zeros([4])), 'embedding', '[4]');
  });

  it('gradients: indexSelect and embedding accumulate rows picked more than once', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(1, 3, 3), fc.nat(), fc.array(fc.nat(), { maxLength: 4 }), (shape, dd, raw) => {
        const dim = dd % shape.length;
        const ids = T.tensor(Int32Array.from(raw.map((v) => v % shape[dim]!)));
        gradCheck((x) => T.indexSelect(x, dim, ids), [randRef(shape, 4)]);
      }),
      { ...FC, numRuns: 25 },
    );
    const w = T.zeros([3, 2], { dtype: 'float64', requiresGrad: true });
    T.embedding(T.tensor([[0, 2], [2, 2]], { dtype: 'int32' }), w).mul(T.tensor([1, 10], { dtype: 'float64' })).sum().backward();
    expect(w.grad!.tolist()).toEqual([[1, 10], [0, 0], [3, 30]]);
  });
});

describe('maskedFill', () => {
  it('fills where the (broadcast) mask is true, keeping x shape and dtype', () => {
    fc.assert(
      fc.property(shapeArb(0, 3), layoutArb, fc.nat(), fc.constantFrom(-Infinity, 0, 2.5), (shape, mode, bits, value) => {
        const xr = iotaRef(shape);
        // mask broadcast over the leading dim
        const mshape = shape.length ? [1, ...shape.slice(1)] : [];
        const mr = refFrom(mshape, (idx) => ((bits >> (idx.reduce((a, v) => a * 3 + v, 0) % 30)) & 1));
        const mask = T.tensor(Uint8Array.from(mr.data), { shape: mshape });
        const y = T.maskedFill(layoutTensor(xr, mode), mask, value);
        expect(y.dtype).toBe('float64');
        expectRef(y, refFrom(shape, (idx) => (refGet(mr, idx.map((v, d) => (d === 0 && shape.length ? 0 : v))) ? value : refGet(xr, idx))));
      }),
      FC,
    );
    const i = T.tensor([1, 2, 3], { dtype: 'int32' }).maskedFill(T.tensor([true, false, true]), 9);
    expect(i.dtype).toBe('int32');
    expect(i.tolist()).toEqual([9, 2, 9]);
    expectError(() => T.maskedFill(T.zeros([2]), T.tensor([1, 0]), 1), 'maskedFill', 'bool');
    expectError(() => T.maskedFill(T.zeros([2]), T.tensor([true, false, true]), 1), 'maskedFill');
    expectError(() => T.maskedFill(T.zeros([2]), T.ones([3, 2], { dtype: 'bool' }), 1), 'maskedFill', '[3,2]');
  });

  it('gradient is zero where filled', () => {
    const x = T.tensor([[1, 2], [3, 4]], { dtype: 'float64', requiresGrad: true });
    x.maskedFill(T.tensor([true, false]), 0).mul(x).sum().backward();
    expect(x.grad!.tolist()).toEqual([[0, 4], [0, 8]]);
    gradCheck((a) => a.maskedFill(T.tensor([[false, true, false]]), -3).mul(a), [randRef([2, 3], 5)]);
  });
});
