// cat, stack, split, chunk, flip, pad, triu/tril against references on flat arrays; gradients.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import {
  FC, expectError, expectRef, gradCheck, iotaRef, layoutArb, layoutTensor, nonEmptyShapeArb, numelOf, refFrom, refGet, seededValues, shapeArb, type Ref,
} from './helpers-struct.js';

const randRef = (shape: number[], seed = 1): Ref => ({ shape, data: seededValues(numelOf(shape), seed) });

function refNarrow(r: Ref, dim: number, start: number, len: number): Ref {
  const shape = [...r.shape];
  shape[dim] = len;
  return refFrom(shape, (idx) => refGet(r, idx.map((v, d) => (d === dim ? v + start : v))));
}

function refCat(rs: Ref[], dim: number): Ref {
  const shape = [...rs[0]!.shape];
  shape[dim] = rs.reduce((a, r) => a + r.shape[dim]!, 0);
  return refFrom(shape, (idx) => {
    let i = idx[dim]!;
    for (const r of rs) {
      if (i < r.shape[dim]!) return refGet(r, idx.map((v, d) => (d === dim ? i : v)));
      i -= r.shape[dim]!;
    }
    throw new Error('unreachable');
  });
}

/** Shapes that agree except along `dim`. */
const catCaseArb = shapeArb(1, 3).chain((shape) =>
  fc.tuple(fc.constant(shape), fc.nat(), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }), fc.array(layoutArb, { minLength: 4, maxLength: 4 })),
);

describe('cat / stack', () => {
  it('cat matches the reference along any dim, for any layouts', () => {
    fc.assert(
      fc.property(catCaseArb, ([shape, dd, sizes, modes]) => {
        const dim = dd % shape.length;
        let base = 0;
        const refs = sizes.map((s) => {
          const sh = [...shape];
          sh[dim] = s;
          const r = refFrom(sh, (idx) => base + idx.reduce((a, v) => a * 10 + v, 0));
          base += 1000;
          return r;
        });
        const ts = refs.map((r, i) => layoutTensor(r, modes[i]!));
        expectRef(T.cat(ts, dim), refCat(refs, dim));
        expectRef(T.cat(ts, dim - shape.length), refCat(refs, dim));
      }),
      FC,
    );
  });

  it('stack inserts a new dim (negative dims count from the result)', () => {
    fc.assert(
      fc.property(shapeArb(0, 3), fc.integer({ min: 1, max: 3 }), fc.nat(), layoutArb, (shape, k, dd, mode) => {
        const dim = dd % (shape.length + 1);
        const refs = Array.from({ length: k }, (_, i) => refFrom(shape, (idx) => i * 1000 + idx.reduce((a, v) => a * 10 + v, 0)));
        const out = T.stack(refs.map((r) => layoutTensor(r, mode)), dim);
        const outShape = [...shape];
        outShape.splice(dim, 0, k);
        expectRef(out, refFrom(outShape, (idx) => refGet(refs[idx[dim]!]!, idx.filter((_, d) => d !== dim))));
        expectRef(T.stack(refs.map((r) => layoutTensor(r, mode)), dim - shape.length - 1), refFrom(outShape, (idx) => refGet(refs[idx[dim]!]!, idx.filter((_, d) => d !== dim))));
      }),
      FC,
    );
  });

  it('cat promotes dtypes, skips legacy empty 1-D tensors, and returns a fresh tensor', () => {
    const a = T.tensor([1, 2], { dtype: 'int32' });
    const b = T.tensor([0.5]);
    const c = T.cat([a, b]);
    expect(c.dtype).toBe('float32');
    expect(c.tolist()).toEqual([1, 2, 0.5]);
    expect(T.cat([a, a]).dtype).toBe('int32');
    for (const dt of ['float16', 'bfloat16'] as const) {
      const h = T.tensor([1.5, -2], { dtype: dt });
      expect(T.cat([h, h]).dtype).toBe(dt);
      expect(T.stack([h, h]).dtype).toBe(dt);
      expect(T.cat([h, h]).tolist()).toEqual([1.5, -2, 1.5, -2]);
    }
    expect(T.cat([T.tensor([1], { dtype: 'float16' }), T.tensor([2], { dtype: 'bfloat16' })]).dtype).toBe('float32');
    expect(T.cat([T.tensor([true]), T.tensor([false])]).tolist()).toEqual([true, false]);
    const m = T.cat([T.zeros([0]), T.ones([2, 2]), T.zeros([0])], 1);
    expect(m.shape).toEqual([2, 2]);
    const one = T.tensor([3]);
    const single = T.cat([one]);
    expect(single.storage).not.toBe(one.storage);
    expect(single.tolist()).toEqual([3]);
  });

  it('cat and stack reject bad input naming the op and shapes', () => {
    expectError(() => T.cat([]), 'cat');
    expectError(() => T.cat([T.zeros([2, 3]), T.zeros([2, 4])]), 'cat', '[2,3]', '[2,4]');
    expectError(() => T.cat([T.zeros([2, 3]), T.zeros([2, 3, 1])]), 'cat');
    expectError(() => T.cat([T.zeros([2, 3])], 2), 'cat', '2');
    expectError(() => T.cat([T.tensor(1), T.tensor(2)]), 'cat', 'zero-dim');
    expectError(() => T.stack([]), 'stack');
    expectError(() => T.stack([T.zeros([2]), T.zeros([3])]), 'stack', '[2]', '[3]');
    expectError(() => T.stack([T.zeros([2])], 2), 'stack', '2');
  });

  it('gradients of cat and stack', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(1, 3, 3), fc.nat(), (shape, dd) => {
        const dim = dd % shape.length;
        const other = [...shape];
        other[dim] = 1;
        gradCheck((x, y) => T.cat([x, y, x], dim), [randRef(shape, 1), randRef(other, 2)]);
        gradCheck((x, y) => T.stack([x, y.mul(y)], -1), [randRef(shape, 3), randRef(shape, 4)]);
      }),
      { ...FC, numRuns: 25 },
    );
    // mixed dtypes: the gradient flows back through the cast, to the float32 input
    const a = T.tensor([1, 2], { requiresGrad: true });
    const b = T.tensor([3], { dtype: 'float64', requiresGrad: true });
    T.cat([a, b]).mul(T.tensor([1, 2, 3], { dtype: 'float64' })).sum().backward();
    expect(a.grad!.dtype).toBe('float32');
    expect(a.grad!.tolist()).toEqual([1, 2]);
    expect(b.grad!.tolist()).toEqual([3]);
  });
});

describe('split / chunk', () => {
  it('split by size: equal pieces, the last may be smaller; views of the input', () => {
    fc.assert(
      fc.property(shapeArb(1, 3, 7), fc.nat(), fc.integer({ min: 1, max: 8 }), layoutArb, (shape, dd, size, mode) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const dim = dd % shape.length;
        const n = shape[dim]!;
        const parts = x.split(size, dim);
        const expectCount = n === 0 ? 1 : Math.ceil(n / size);
        expect(parts.length).toBe(expectCount);
        let at = 0;
        for (const p of parts) {
          const len = Math.min(size, n - at);
          expect(p.storage).toBe(x.storage);
          expectRef(p, refNarrow(r, dim, at, len));
          at += len;
        }
      }),
      FC,
    );
  });

  it('split by a list of sizes (zeros allowed; the sum must match)', () => {
    fc.assert(
      fc.property(shapeArb(1, 3), fc.nat(), fc.array(fc.nat(3), { maxLength: 5 }), (shape, dd, cuts) => {
        const dim = dd % shape.length;
        const n = shape[dim]!;
        const r = iotaRef(shape);
        const x = T.tensor(Float64Array.from(r.data), { shape });
        // random sizes summing to n
        const sizes: number[] = [];
        let left = n;
        for (const c of cuts) {
          const s = Math.min(c, left);
          sizes.push(s);
          left -= s;
        }
        sizes.push(left);
        const parts = T.split(x, sizes, dim);
        expect(parts.length).toBe(sizes.length);
        let at = 0;
        parts.forEach((p, i) => {
          expectRef(p, refNarrow(r, dim, at, sizes[i]!));
          at += sizes[i]!;
        });
        expectError(() => T.split(x, [...sizes, 1], dim), 'split', String(n));
      }),
      FC,
    );
    expectError(() => T.split(T.zeros([4]), [2, -1, 3]), 'split');
    expectError(() => T.split(T.zeros([4]), 0), 'split');
    expectError(() => T.split(T.zeros([4]), 2, 1), 'split', '1');
  });

  it('chunk follows torch: pieces of ceil(n/chunks), possibly fewer pieces; empty dims give `chunks` empty pieces', () => {
    fc.assert(
      fc.property(shapeArb(1, 3, 9), fc.nat(), fc.integer({ min: 1, max: 10 }), layoutArb, (shape, dd, chunks, mode) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const dim = dd % shape.length;
        const n = shape[dim]!;
        const parts = x.chunk(chunks, dim);
        let sizes: number[];
        if (n === 0) sizes = new Array<number>(chunks).fill(0);
        else {
          const size = Math.ceil(n / chunks);
          sizes = [];
          for (let at = 0; at < n; at += size) sizes.push(Math.min(size, n - at));
        }
        expect(parts.map((p) => p.shape[dim])).toEqual(sizes);
        let at = 0;
        parts.forEach((p, i) => {
          expectRef(p, refNarrow(r, dim, at, sizes[i]!));
          at += sizes[i]!;
        });
      }),
      FC,
    );
    // the classic "fewer chunks" case: 6 elements into 4 chunks -> 3 pieces of 2
    expect(T.arange(0, 6, 1).chunk(4).map((p) => p.tolist())).toEqual([[0, 1], [2, 3], [4, 5]]);
    expect(T.arange(0, 5, 1).chunk(2).map((p) => p.tolist())).toEqual([[0, 1, 2], [3, 4]]);
    expect(T.zeros([0, 2]).chunk(3).length).toBe(3);
    expectError(() => T.zeros([4]).chunk(0), 'chunk');
  });

  it('gradients through split and chunk', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(1, 3, 4), fc.nat(), fc.integer({ min: 1, max: 3 }), (shape, dd, size) => {
        const dim = dd % shape.length;
        gradCheck((x) => T.cat(x.split(size, dim).map((p, i) => p.mul(i + 1)).reverse(), dim), [randRef(shape, 5)]);
        gradCheck((x) => x.chunk(2, dim)[0]!.mul(x.chunk(2, dim).at(-1)!.sum()), [randRef(shape, 6)]);
      }),
      { ...FC, numRuns: 25 },
    );
  });
});

describe('flip', () => {
  it('reverses the given dims, returns a copy', () => {
    fc.assert(
      fc.property(shapeArb(1, 4), layoutArb, fc.array(fc.nat(), { maxLength: 3 }), (shape, mode, picks) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const dims = [...new Set(picks.map((p) => p % shape.length))];
        const y = x.flip(dims.map((d, i) => (i % 2 ? d - shape.length : d)));
        expect(y.storage).not.toBe(x.storage);
        expectRef(y, refFrom(shape, (idx) => refGet(r, idx.map((v, d) => (dims.includes(d) ? shape[d]! - 1 - v : v)))));
        expectRef(y.flip(dims), r);
      }),
      FC,
    );
    expectError(() => T.zeros([2, 3]).flip([0, 0]), 'flip');
    expectError(() => T.zeros([2, 3]).flip(2), 'flip', '2');
    const one = T.tensor([[5]]);
    const f = one.flip([0, 1]);
    expect(f.storage).not.toBe(one.storage);
  });

  it('gradient of flip is flip', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(1, 3, 4), fc.nat(), (shape, dd) => {
        gradCheck((x) => x.flip([dd % shape.length]).mul(x), [randRef(shape, 7)]);
      }),
      { ...FC, numRuns: 25 },
    );
  });
});

describe('pad', () => {
  function refPad(r: Ref, padding: number[], value: number): Ref {
    const before = r.shape.map(() => 0);
    const after = r.shape.map(() => 0);
    for (let i = 0; i < padding.length / 2; i++) {
      before[r.shape.length - 1 - i] = padding[2 * i]!;
      after[r.shape.length - 1 - i] = padding[2 * i + 1]!;
    }
    const shape = r.shape.map((s, d) => s + before[d]! + after[d]!);
    return refFrom(shape, (idx) => {
      const src = idx.map((v, d) => v - before[d]!);
      return src.every((v, d) => v >= 0 && v < r.shape[d]!) ? refGet(r, src) : value;
    });
  }

  it('pads (and crops with negative amounts) from the last dim, like F.pad', () => {
    fc.assert(
      fc.property(
        shapeArb(1, 3, 4), layoutArb, fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 6 }), fc.constantFrom(0, -1.5, 7),
        (shape, mode, raw, value) => {
          const pairs = Math.min(Math.floor(raw.length / 2), shape.length);
          const padding = raw.slice(0, 2 * pairs);
          const r = iotaRef(shape);
          const x = layoutTensor(r, mode);
          let ok = true;
          for (let i = 0; i < pairs; i++) {
            const n = shape[shape.length - 1 - i]!;
            if (Math.max(-padding[2 * i]!, 0) + Math.max(-padding[2 * i + 1]!, 0) > n) ok = false;
          }
          if (!ok) {
            expectError(() => T.pad(x, padding, { value }), 'pad');
            return;
          }
          const y = T.pad(x, padding, { value });
          expectRef(y, refPad(r, padding, value));
        },
      ),
      FC,
    );
    expectError(() => T.pad(T.zeros([2]), [1]), 'pad', 'even');
    expectError(() => T.pad(T.zeros([2]), [1, 1, 1, 1]), 'pad');
    expect(T.pad(T.tensor([1, 2], { dtype: 'int32' }), [1, 0], { value: 9 }).tolist()).toEqual([9, 1, 2]);
  });

  it('gradient of pad (positive and negative)', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(1, 3, 4), fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 2, maxLength: 4 }), (shape, raw) => {
        const pairs = Math.min(Math.floor(raw.length / 2), shape.length);
        const padding = raw.slice(0, 2 * pairs);
        for (let i = 0; i < pairs; i++) {
          const n = shape[shape.length - 1 - i]!;
          if (Math.max(-padding[2 * i]!, 0) + Math.max(-padding[2 * i + 1]!, 0) > n) return;
        }
        gradCheck((x) => T.pad(x, padding, { value: 3 }), [randRef(shape, 8)]);
      }),
      { ...FC, numRuns: 30 },
    );
  });
});

describe('triu / tril', () => {
  it('keeps col - row >= k (triu) or <= k (tril) of the last two dims', () => {
    fc.assert(
      fc.property(shapeArb(2, 4), layoutArb, fc.integer({ min: -5, max: 5 }), (shape, mode, k) => {
        const r = iotaRef(shape);
        const x = layoutTensor(r, mode);
        const rk = shape.length;
        expectRef(x.triu(k), refFrom(shape, (idx) => (idx[rk - 1]! - idx[rk - 2]! >= k ? refGet(r, idx) : 0)));
        expectRef(T.tril(x, k), refFrom(shape, (idx) => (idx[rk - 1]! - idx[rk - 2]! <= k ? refGet(r, idx) : 0)));
        expect(x.triu(k).dtype).toBe(x.dtype);
      }),
      FC,
    );
    expect(T.ones([2, 3], { dtype: 'int32' }).tril().tolist()).toEqual([[1, 0, 0], [1, 1, 0]]);
    expect(T.ones([2, 2], { dtype: 'bool' }).triu(1).tolist()).toEqual([[false, true], [false, false]]);
    expectError(() => T.zeros([3]).triu(), 'triu', '[3]');
    expectError(() => T.zeros([3]).tril(), 'tril', '[3]');
  });

  it('gradient is masked the same way', () => {
    fc.assert(
      fc.property(nonEmptyShapeArb(2, 3, 4), fc.integer({ min: -2, max: 2 }), (shape, k) => {
        gradCheck((x) => x.triu(k).add(x.tril(-k).mul(2)), [randRef(shape, 9)]);
      }),
      { ...FC, numRuns: 25 },
    );
  });
});
