// Views: reshape/view/flatten/permute/transpose/t/T/expand/squeeze/unsqueeze/narrow/slice/select,
// contiguous/clone/copy_, against references on nested arrays; storage sharing; gradients.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import {
  FC, expectError, expectRef, fromRef, gradCheck, iotaRef, layoutArb, layoutTensor, nonEmptyShapeArb, numelOf, refFrom, refGet, seededValues, shapeArb, type Ref,
} from './helpers-struct.js';

/** Python's slice(start, end, step).indices(n) for step > 0. */
function pySliceIndices(n: number, start: number | null, end: number | null, step: number): number[] {
  const norm = (v: number | null, d: number) => (v === null ? d : v < 0 ? Math.max(v + n, 0) : Math.min(v, n));
  const s = norm(start, 0);
  const e = norm(end, n);
  const out: number[] = [];
  for (let i = s; i < e; i += step) out.push(i);
  return out;
}

function refPermute(r: Ref, perm: number[]): Ref {
  return refFrom(perm.map((p) => r.shape[p]!), (idx) => {
    const src = new Array<number>(perm.length);
    perm.forEach((p, i) => (src[p] = idx[i]!));
    return refGet(r, src);
  });
}

function refIndexAlong(r: Ref, dim: number, indices: number[]): Ref {
  const shape = [...r.shape];
  shape[dim] = indices.length;
  return refFrom(shape, (idx) => refGet(r, idx.map((v, d) => (d === dim ? indices[v]! : v))));
}

const permArb = (rank: number) => fc.shuffledSubarray(Array.from({ length: rank }, (_, i) => i), { minLength: rank, maxLength: rank });

const randRef = (shape: number[], seed = 1): Ref => ({ shape, data: seededValues(numelOf(shape), seed) });

describe('reshape / view / flatten', () => {
  it('reshape to any factorization keeps row-major order; -1 is inferred; view shares storage on contiguous input', () => {
    fc.assert(
      fc.property(shapeArb(0, 4), shapeArb(0, 4), layoutArb, fc.nat(), (shape, other, mode, negAt) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const n = numelOf(shape);
        // a target shape with the same numel: the other shape's dims, with the remainder in the last dim
        const target = numelOf(other) > 0 && n % numelOf(other) === 0 ? [...other, n / numelOf(other)] : [n];
        const y = x.reshape(target);
        expectRef(y, { shape: target, data: r.data });
        if (target.length > 0 && target.every((d) => d > 0)) {
          const withNeg = [...target];
          withNeg[negAt % target.length] = -1;
          expectRef(x.reshape(withNeg), { shape: target, data: r.data });
        }
        if (x.isContiguous()) {
          const v = x.view(target);
          expect(v.storage).toBe(x.storage);
          expectRef(v, { shape: target, data: r.data });
          expect(x.reshape(target).storage).toBe(x.storage);
        }
      }),
      FC,
    );
  });

  it('reshape copies only when a view is impossible, and view errors exactly then', () => {
    const x = T.arange(0, 6, 1, { dtype: 'float64' }).reshape([2, 3]).t(); // [3,2], strides [1,3]
    expect(x.isContiguous()).toBe(false);
    expectError(() => x.view([6]), 'view', '[6]', 'reshape');
    const y = x.reshape([6]);
    expect(y.storage).not.toBe(x.storage);
    expect(Array.from(y.dataSync())).toEqual([0, 3, 1, 4, 2, 5]);
    // splitting a dim of a transposed tensor is still a view
    const z = x.view([3, 2, 1]);
    expect(z.storage).toBe(x.storage);
    expect(z.tolist()).toEqual([[[0], [3]], [[1], [4]], [[2], [5]]]);
    // a view of a column slice: merging the leading dims works (stride 4 = 2*2)
    const w = T.arange(0, 24, 1, { dtype: 'float64' }).reshape([3, 2, 4]).slice(2, 0, 2);
    const m = w.view([6, 2]);
    expect(m.storage).toBe(w.storage);
    expect(m.tolist()).toEqual([[0, 1], [4, 5], [8, 9], [12, 13], [16, 17], [20, 21]]);
    expectError(() => w.view([12]), 'view');
    // expanded (stride 0) tensors view into shapes that only split/merge size-1 runs
    const e = T.tensor([1, 2, 3]).expand([4, 3]);
    expect(e.view([4, 1, 3]).storage).toBe(e.storage);
    expect(e.reshape([12]).tolist()).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
  });

  it('view on a non-contiguous input succeeds iff torch would (permuted layouts)', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(2, 4), (shape) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, 'permuted');
        const nontrivial = shape.filter((d) => d > 1).length;
        const flat = () => x.view([-1]);
        if (nontrivial <= 1) expectRef(flat(), { shape: [r.data.length], data: r.data });
        else expectError(flat, 'view');
      }),
      FC,
    );
  });

  it('bad shapes are rejected with the op name', () => {
    const x = T.zeros([2, 3]);
    expectError(() => x.reshape([4]), 'reshape', '[4]', '6');
    expectError(() => x.reshape([-1, -1]), 'reshape', 'only one');
    expectError(() => x.reshape([-1, 4]), 'reshape');
    expectError(() => x.reshape([2, -2]), 'reshape');
    expectError(() => x.reshape([2.5, 2]), 'reshape');
    expectError(() => x.view([5]), 'view');
    expectError(() => T.zeros([0, 3]).reshape([-1, 0]), 'reshape'); // -1 ambiguous with a 0 dim
    expect(T.zeros([0, 3]).reshape([-1, 3]).shape).toEqual([0, 3]);
    expectError(() => T.zeros([0, 3]).reshape([3, 0, -1]), 'reshape');
    expect(T.zeros([0, 3]).reshape([3, 0, 2]).shape).toEqual([3, 0, 2]);
  });

  it('flatten merges the given dims (0-d becomes [1])', () => {
    fc.assert(
      fc.property(shapeArb(1, 4), layoutArb, fc.nat(), fc.nat(), (shape, mode, a, b) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        let s = a % shape.length;
        let e = b % shape.length;
        if (s > e) [s, e] = [e, s];
        const expShape = [...shape.slice(0, s), numelOf(shape.slice(s, e + 1)), ...shape.slice(e + 1)];
        expectRef(x.flatten(s, e), { shape: expShape, data: r.data });
        expectRef(T.flatten(x, s - shape.length, e), { shape: expShape, data: r.data });
        expectRef(x.flatten(), { shape: [r.data.length], data: r.data });
      }),
      FC,
    );
    expect(T.tensor(5).flatten().shape).toEqual([1]);
    expectError(() => T.zeros([2, 3, 4]).flatten(2, 1), 'flatten');
    expectError(() => T.zeros([2, 3]).flatten(0, 2), 'flatten', '2');
  });
});

describe('permute / transpose / t / T', () => {
  it('permute matches the reference, is a view, and the inverse permutation round-trips to identity', () => {
    fc.assert(
      fc.property(
        shapeArb(0, 4).chain((s) => fc.tuple(fc.constant(s), permArb(s.length), layoutArb)),
        ([shape, perm, mode]) => {
          const r = iotaRef(shape);
          const x = layoutTensor(r, mode);
          const y = x.permute(perm);
          expect(y.storage).toBe(x.storage);
          expectRef(y, refPermute(r, perm));
          const inv = new Array<number>(perm.length);
          perm.forEach((p, i) => (inv[p] = i));
          const back = y.permute(inv);
          expect(back.shape).toEqual(x.shape);
          expect(back.strides).toEqual(x.strides);
          expectRef(back, r);
        },
      ),
      FC,
    );
  });

  it('transpose swaps two dims (negative dims too); t() on 2-D; T reverses dims', () => {
    fc.assert(
      fc.property(shapeArb(1, 4), layoutArb, fc.nat(), fc.nat(), (shape, mode, a, b) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const d0 = a % shape.length;
        const d1 = b % shape.length;
        const perm = shape.map((_, i) => i);
        perm[d0] = d1;
        perm[d1] = d0;
        expectRef(x.transpose(d0, d1 - shape.length), refPermute(r, perm));
        expectRef(x.T, refPermute(r, shape.map((_, i) => shape.length - 1 - i)));
        if (shape.length <= 2) expectRef(x.t(), refPermute(r, shape.map((_, i) => shape.length - 1 - i)));
        else expectError(() => x.t(), 't', 'transpose');
      }),
      FC,
    );
    const s = T.tensor(3);
    expect(s.t().item()).toBe(3);
    expect(s.T.shape).toEqual([]);
  });

  it('permute rejects bad dims', () => {
    const x = T.zeros([2, 3, 4]);
    expectError(() => x.permute([0, 1]), 'permute', '[2,3,4]');
    expectError(() => x.permute([0, 1, 1]), 'permute', 'repeated');
    expectError(() => x.permute([0, 1, 3]), 'permute', '3');
    expectError(() => x.transpose(0, 3), 'transpose', '3');
  });
});

describe('expand / squeeze / unsqueeze', () => {
  it('expand broadcasts with stride 0 and no copy; -1 keeps a dim', () => {
    fc.assert(
      fc.property(shapeArb(0, 3), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), layoutArb, (shape, lead, sizes, mode) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        // each size-1 dim expands to a random size; others keep (sometimes written as -1)
        const tgt = shape.map((d, i) => (d === 1 ? (sizes[i] ?? 1) : d));
        const req = [...lead, ...tgt.map((d, i) => (i % 2 === 0 && d === shape[i] ? -1 : d))];
        const y = x.expand(req);
        const outShape = [...lead, ...tgt];
        expect(y.shape).toEqual(outShape);
        expect(y.storage).toBe(x.storage);
        y.shape.forEach((d, i) => {
          if (i < lead.length || (shape[i - lead.length] === 1 && d !== 1)) expect(y.strides[i]).toBe(0);
        });
        expectRef(y, refFrom(outShape, (idx) => refGet(r, idx.slice(lead.length).map((v, i) => (shape[i] === 1 ? 0 : v)))));
      }),
      FC,
    );
    expectError(() => T.zeros([2, 3]).expand([3, 3]), 'expand', '[2,3]', '[3,3]');
    expectError(() => T.zeros([2, 3]).expand([3]), 'expand');
    expectError(() => T.zeros([3]).expand([-1, 3]), 'expand');
  });

  it('squeeze removes size-1 dims (all or given), unsqueeze inserts one; they round-trip', () => {
    fc.assert(
      fc.property(shapeArb(0, 4), layoutArb, fc.integer({ min: -5, max: 4 }), (shape, mode, dim) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const all = x.squeeze();
        expect(all.storage).toBe(x.storage);
        expectRef(all, { shape: shape.filter((d) => d !== 1), data: r.data });
        const rank = shape.length;
        if (dim >= -(rank + 1) && dim <= rank) {
          const u = x.unsqueeze(dim);
          const pos = dim < 0 ? dim + rank + 1 : dim;
          const exp = [...shape];
          exp.splice(pos, 0, 1);
          expect(u.storage).toBe(x.storage);
          expectRef(u, { shape: exp, data: r.data });
          expectRef(u.squeeze(pos), r);
          expectRef(u.squeeze(dim), r);
          // a unsqueezed view is still a usable view: contiguous input stays contiguous
          if (x.isContiguous()) expect(u.isContiguous()).toBe(true);
        } else {
          expectError(() => x.unsqueeze(dim), 'unsqueeze', String(dim));
        }
        if (rank > 0) {
          const d = ((dim % rank) + rank) % rank;
          expectRef(x.squeeze(d), { shape: shape[d] === 1 ? shape.filter((_, i) => i !== d) : shape, data: r.data });
        }
      }),
      FC,
    );
    expect(T.zeros([1, 2, 1, 3]).squeeze([0, 2]).shape).toEqual([2, 3]);
    expect(T.zeros([1, 2, 1]).squeeze([0, 1]).shape).toEqual([2, 1]);
    expectError(() => T.zeros([2, 3]).squeeze(2), 'squeeze', '2');
  });
});

describe('narrow / slice / select', () => {
  it('slice follows Python slicing (negative indices, clamping, steps)', () => {
    fc.assert(
      fc.property(
        shapeArb(1, 3, 6), layoutArb, fc.nat(), fc.option(fc.integer({ min: -9, max: 9 })), fc.option(fc.integer({ min: -9, max: 9 })), fc.integer({ min: 1, max: 4 }),
        (shape, mode, dd, start, end, step) => {
          const r = iotaRef(shape);
          const x = layoutTensor(r, mode);
          const dim = dd % shape.length;
          const y = x.slice(dim, start, end, step);
          expect(y.storage).toBe(x.storage);
          expectRef(y, refIndexAlong(r, dim, pySliceIndices(shape[dim]!, start, end, step)));
          expectRef(T.slice(x, dim - shape.length, start, end, step), refIndexAlong(r, dim, pySliceIndices(shape[dim]!, start, end, step)));
        },
      ),
      FC,
    );
    const x = T.arange(0, 10, 1);
    expect(x.slice(0, -3).tolist()).toEqual([7, 8, 9]);
    expect(x.slice(0, 2, -2, 3).tolist()).toEqual([2, 5]);
    expect(x.slice(0, 20, 30).tolist()).toEqual([]);
    expect(x.slice(0, -20, 2).tolist()).toEqual([0, 1]);
    expect(x.slice(0, 5, 2).shape).toEqual([0]);
    expectError(() => x.slice(0, 0, 5, 0), 'slice', 'step');
    expectError(() => x.slice(0, 0, 5, -1), 'slice', 'step');
    expectError(() => x.slice(1, 0, 5), 'slice', '1');
    expectError(() => x.slice(0, 0.5, 5), 'slice');
  });

  it('narrow takes [start, start+length) and errors when out of range', () => {
    fc.assert(
      fc.property(shapeArb(1, 3, 5), layoutArb, fc.nat(), fc.integer({ min: -6, max: 6 }), fc.integer({ min: 0, max: 6 }), (shape, mode, dd, start, length) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const dim = dd % shape.length;
        const n = shape[dim]!;
        const s = start < 0 ? start + n : start;
        if (s >= 0 && s + length <= n) {
          const y = x.narrow(dim, start, length);
          expect(y.storage).toBe(x.storage);
          expectRef(y, refIndexAlong(r, dim, Array.from({ length }, (_, i) => s + i)));
        } else {
          expectError(() => x.narrow(dim, start, length), 'narrow');
        }
      }),
      FC,
    );
  });

  it('select removes the dim (negative index counts from the end)', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(1, 4), layoutArb, fc.nat(), fc.integer({ min: -5, max: 5 }), (shape, mode, dd, index) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const dim = dd % shape.length;
        const n = shape[dim]!;
        if (index >= -n && index < n) {
          const i = index < 0 ? index + n : index;
          const y = x.select(dim, index);
          expect(y.storage).toBe(x.storage);
          const sel = refIndexAlong(r, dim, [i]);
          expectRef(y, { shape: shape.filter((_, k) => k !== dim), data: sel.data });
        } else {
          expectError(() => x.select(dim, index), 'select', String(index));
        }
      }),
      FC,
    );
  });
});

describe('contiguous / clone / copy_', () => {
  it('contiguous returns the tensor itself when dense, a dense copy otherwise', () => {
    fc.assert(
      fc.property(shapeArb(0, 4), layoutArb, (shape, mode) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const c = x.contiguous();
        if (x.isContiguous()) expect(c).toBe(x);
        else expect(c.storage).not.toBe(x.storage);
        expect(c.isContiguous()).toBe(true);
        expectRef(c, r);
        const k = x.clone();
        expect(k.storage).not.toBe(x.storage);
        expectRef(k, r);
      }),
      FC,
    );
  });

  it('copy_ writes through views (with broadcasting and casting) into the shared storage', () => {
    const base = T.zeros([3, 4], { dtype: 'float64' });
    base.slice(1, 1, 4, 2).copy_(T.tensor([[1], [2], [3]], { dtype: 'float64' }));
    expect(base.tolist()).toEqual([[0, 1, 0, 1], [0, 2, 0, 2], [0, 3, 0, 3]]);
    base.t().select(0, 0).copy_(T.tensor([7, 8, 9], { dtype: 'int32' }));
    expect(base.tolist()).toEqual([[7, 1, 0, 1], [8, 2, 0, 2], [9, 3, 0, 3]]);
    base.select(1, 2).copy_(5);
    expect(base.tolist()).toEqual([[7, 1, 5, 1], [8, 2, 5, 2], [9, 3, 5, 3]]);
    const i = T.zeros([2], { dtype: 'int32' }).copy_(T.tensor([1.7, -2.7]));
    expect(i.tolist()).toEqual([1, -2]);
    expectError(() => T.zeros([2, 3]).copy_(T.zeros([4])), 'copy_');
  });

  it('copy_ from an overlapping view of itself reads the old values (as if src were cloned)', () => {
    const a = T.tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    a.copy_(a.t());
    expect(a.tolist()).toEqual([[1, 3], [2, 4]]);
    const b = T.arange(0, 5, 1, { dtype: 'float64' });
    b.slice(0, 1).copy_(b.slice(0, 0, 4));
    expect(b.tolist()).toEqual([0, 0, 1, 2, 3]);
  });
});

describe('gradients through views', () => {
  const runs = { ...FC, numRuns: 25 };
  it('reshape, permute, transpose, expand, squeeze/unsqueeze, flatten', () => {
    fc.assert(
      fc.property(
        shapeArb(0, 3, 3).chain((s) => fc.tuple(fc.constant(s), permArb(s.length))),
        ([shape, perm]) => {
          const r = randRef(shape);
          gradCheck((x) => x.permute(perm), [r]);
          gradCheck((x) => x.reshape([-1]).reshape([...shape].reverse()), [r]);
          gradCheck((x) => x.unsqueeze(0).expand([2, ...shape]).mul(x.unsqueeze(0)), [r]);
          gradCheck((x) => x.flatten().unsqueeze(1).squeeze(), [r]);
          if (shape.length >= 2) gradCheck((x) => x.transpose(0, -1).contiguous(), [r]);
        },
      ),
      runs,
    );
  });

  it('expand sums the gradient over broadcast dims (exact)', () => {
    const x = T.tensor([[1], [2]], { dtype: 'float64', requiresGrad: true });
    const w = T.tensor([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]], { dtype: 'float64' });
    x.expand([2, 2, 3]).mul(w).sum().backward();
    expect(x.grad!.tolist()).toEqual([[1 + 2 + 3 + 7 + 8 + 9], [4 + 5 + 6 + 10 + 11 + 12]]);
  });

  it('slice (with steps), narrow, select, clone, contiguous of a non-contiguous view', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(1, 3, 5), fc.nat(), fc.integer({ min: -6, max: 6 }), fc.integer({ min: 1, max: 3 }), (shape, dd, start, step) => {
        const r = randRef(shape, 3);
        const dim = dd % shape.length;
        gradCheck((x) => x.slice(dim, start, null, step), [r]);
        gradCheck((x) => x.select(dim, -1).clone(), [r]);
        gradCheck((x) => x.narrow(dim, 0, 1).mul(x.narrow(dim, shape[dim]! - 1, 1)), [r]);
        gradCheck((x) => x.T.contiguous().mul(2), [r]);
      }),
      runs,
    );
  });

  it('slice gradient places values exactly (zeros elsewhere)', () => {
    const x = T.zeros([7], { dtype: 'float64', requiresGrad: true });
    x.slice(0, 1, -1, 2).mul(T.tensor([1, 2, 3], { dtype: 'float64' })).sum().backward();
    expect(x.grad!.tolist()).toEqual([0, 1, 0, 2, 0, 3, 0]);
    const y = T.zeros([2, 3], { dtype: 'float64', requiresGrad: true });
    y.select(1, -1).sum().backward();
    expect(y.grad!.tolist()).toEqual([[0, 0, 1], [0, 0, 1]]);
  });

  it('views of a leaf keep requiresGrad and a gradFn; views of non-grad tensors do not', () => {
    const x = T.zeros([2, 3], { requiresGrad: true });
    for (const v of [x.reshape([6]), x.t(), x.expand([4, 2, 3]), x.slice(1, 1), x.select(0, 1), x.unsqueeze(0), x.squeeze(), x.flatten()]) {
      expect(v.requiresGrad).toBe(true);
    }
    const y = T.zeros([2, 3]);
    expect(y.reshape([6]).requiresGrad).toBe(false);
    expect(y.t().gradFn).toBe(null);
    void fromRef;
  });
});
