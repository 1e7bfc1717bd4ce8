// The autograd engine: accumulation, shared subexpressions, broadcasting reduction, noGrad/detach/requiresGrad_/
// retainGrad, backward(gradient), graph freeing and retainGraph, and tidy()/dispose() memory scopes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import { FC, expectError, gradCheck, seededValues, shapeArb } from './helpers-struct.js';

const f64 = (v: T.NestedArray, requiresGrad = false) => T.tensor(v, { dtype: 'float64', requiresGrad });

describe('backward basics', () => {
  it('grad accumulates across two backward calls on separate graphs', () => {
    const x = f64([1, 2, 3], true);
    x.mul(x).sum().backward();
    expect(x.grad!.tolist()).toEqual([2, 4, 6]);
    x.mul(3).sum().backward();
    expect(x.grad!.tolist()).toEqual([5, 7, 9]);
    expect(x.grad!.dtype).toBe('float64');
    expect(x.grad!.shape).toEqual([3]);
  });

  it('shared subexpressions (diamond graphs) sum their contributions', () => {
    const x = f64(3, true);
    const y = x.mul(x); // 9, dy/dx = 6
    const a = y.mul(2); // 18
    const b = y.mul(y); // 81, db/dy = 18
    const z = a.add(b).add(y); // dz/dy = 2 + 18 + 1 = 21
    z.backward();
    expect(x.grad!.item()).toBe(21 * 6);
    // the same tensor used as both operands of one op
    const w = f64([1, -2], true);
    w.mul(w).add(w).sum().backward();
    expect(w.grad!.tolist()).toEqual([3, -3]);
    // x used along two paths of different depth
    const p = f64([2], true);
    p.exp().log().mul(p).add(p.mul(p).sqrt()).sum().backward();
    expect(p.grad!.item()).toBeCloseTo(2 * 2 + 1, 12);
  });

  it('broadcasting: grads are summed back to each input shape', () => {
    fc.assert(
      fc.property(shapeArb(0, 3, 3), fc.array(fc.boolean(), { maxLength: 3 }), fc.nat(3), (shape, ones, drop) => {
        // b's shape: a suffix of a's shape with some dims set to 1
        const bShape = shape.slice(Math.min(drop, shape.length)).map((d, i) => (ones[i] ? 1 : d));
        const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
        gradCheck((a, b) => a.mul(b).add(b), [{ shape, data: seededValues(n(shape), 1) }, { shape: bShape, data: seededValues(n(bShape), 2) }]);
      }),
      { ...FC, numRuns: 40 },
    );
    const a = f64([[1, 2, 3], [4, 5, 6]], true);
    const b = f64([[10], [20]], true);
    const c = f64(100, true);
    a.add(b).add(c).sum().backward();
    expect(a.grad!.tolist()).toEqual([[1, 1, 1], [1, 1, 1]]);
    expect(b.grad!.tolist()).toEqual([[3], [3]]);
    expect(c.grad!.shape).toEqual([]);
    expect(c.grad!.item()).toBe(6);
  });

  it('backward(gradient) for non-scalar outputs; errors for missing or mismatched gradients', () => {
    const x = f64([1, 2, 3], true);
    const y = x.mul(x);
    y.backward(f64([1, 10, 100]));
    expect(x.grad!.tolist()).toEqual([2, 40, 600]);
    const z = f64([[1, 2]], true).mul(2);
    expectError(() => z.backward(), 'backward', 'scalar', '[1,2]');
    expectError(() => z.backward(f64([1, 2])), 'backward', '[2]', '[1,2]');
    // a one-element non-0-d output works without a gradient
    const o = f64([[4]], true);
    o.mul(o).backward();
    expect(o.grad!.tolist()).toEqual([[8]]);
    // backward on a leaf itself
    const l = f64([1, 2], true);
    const g = f64([5, 6]);
    l.backward(g);
    expect(l.grad!.tolist()).toEqual([5, 6]);
  });

  it('grads are fresh tensors: not aliased with each other, with the passed gradient, or with the graph', () => {
    const x = f64([1, 2], true);
    const y = f64([3, 4], true);
    const g = f64([1, 1]);
    x.add(y).backward(g);
    expect(x.grad!.storage).not.toBe(y.grad!.storage);
    expect(x.grad!.storage).not.toBe(g.storage);
    x.grad!.copy_(f64([9, 9]));
    expect(y.grad!.tolist()).toEqual([1, 1]);
    expect(g.tolist()).toEqual([1, 1]);
    expect(x.grad!.requiresGrad).toBe(false);
    expect(x.grad!.gradFn).toBe(null);
  });

  it('an owned gradient is adopted, a shared one copied: leaves and retained grads never alias', () => {
    const a = f64([1, 2], true);
    const b = f64([3, 4], true);
    const w = f64([5, 6], true);
    // mul's backward makes a fresh gradient; add hands that one tensor to a and b (and to r's retained grad).
    const r = a.add(b);
    r.retainGrad();
    r.mul(w).mul(2).sum().backward();
    const grads = [a.grad!, b.grad!, r.grad!, w.grad!];
    expect(new Set(grads.map((g) => g.storage)).size).toBe(4);
    a.grad!.copy_(f64([0, 0]));
    expect(b.grad!.tolist()).toEqual([10, 12]);
    expect(r.grad!.tolist()).toEqual([10, 12]);
    expect(w.grad!.tolist()).toEqual([8, 12]);
    // the adopted grad accumulates in place on the next backward, leaving the others alone
    const before = w.grad!.storage;
    w.mul(a).sum().backward();
    expect(w.grad!.storage).toBe(before);
    expect(w.grad!.tolist()).toEqual([9, 14]);
    expect(b.grad!.tolist()).toEqual([10, 12]);
  });

  it('a gradient passed through a view (reshape, transpose) is copied dense into .grad', () => {
    const x = f64([[1, 2, 3], [4, 5, 6]], true);
    x.transpose(0, 1).mul(f64([[1, 2], [3, 4], [5, 6]])).sum().backward();
    expect(x.grad!.isContiguous()).toBe(true);
    expect(x.grad!.tolist()).toEqual([[1, 3, 5], [2, 4, 6]]);
  });

  it('error: backward on something that does not require grad', () => {
    expectError(() => f64(1).backward(), 'backward', 'grad');
    const x = f64([1], true);
    expectError(() => T.noGrad(() => x.mul(2)).sum().backward(), 'backward');
  });

  it('error: a second backward through a freed graph; retainGraph keeps it', () => {
    const x = f64([1, 2], true);
    const loss = x.mul(x).sum();
    loss.backward();
    expectError(() => loss.backward(), 'backward', 'second time', 'retainGraph');
    const x2 = f64([1, 2], true);
    const l2 = x2.mul(x2).sum();
    l2.backward(undefined, { retainGraph: true });
    l2.backward(undefined, { retainGraph: true });
    l2.backward();
    expect(x2.grad!.tolist()).toEqual([6, 12]);
    expectError(() => l2.backward(), 'backward', 'second time');
    // a different root through the freed part of a graph
    const x3 = f64([1, 2], true);
    const h = x3.exp();
    h.sum().backward();
    expectError(() => h.mean().backward(), 'backward');
  });

  it('deep chains do not overflow the stack', () => {
    const x = f64(1, true);
    let y = x;
    for (let i = 0; i < 20000; i++) y = y.add(1);
    y.backward();
    expect(x.grad!.item()).toBe(1);
  });
});

describe('graph control', () => {
  it('noGrad records nothing and restores the previous mode (also after a throw)', () => {
    const x = f64([1, 2], true);
    const y = T.noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBe(null);
    expect(T.isGradEnabled()).toBe(true);
    expect(() => T.noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(T.isGradEnabled()).toBe(true);
    T.noGrad(() => {
      expect(T.isGradEnabled()).toBe(false);
      const z = T.setGradEnabled(true, () => x.mul(2));
      expect(z.requiresGrad).toBe(true);
      expect(T.isGradEnabled()).toBe(false);
    });
    expect(x.mul(2).requiresGrad).toBe(true);
    expect(x.mul(2).gradFn!.name).toBeTypeOf('string');
  });

  it('detach shares data but cuts the graph', () => {
    const x = f64([1, 2], true);
    const d = x.detach();
    expect(d.storage).toBe(x.storage);
    expect(d.requiresGrad).toBe(false);
    expect(d.isLeaf).toBe(true);
    x.mul(d).sum().backward();
    expect(x.grad!.tolist()).toEqual([1, 2]); // d is a constant
    const e = x.mul(3).detach();
    expect(e.gradFn).toBe(null);
    expect(e.requiresGrad).toBe(false);
  });

  it('requiresGrad_ / requiresGrad: floats only; non-leaves cannot be turned off', () => {
    const x = f64([1]);
    expect(x.requiresGrad_()).toBe(x);
    expect(x.requiresGrad).toBe(true);
    x.requiresGrad_(false);
    expect(x.requiresGrad).toBe(false);
    expectError(() => T.tensor([1], { dtype: 'int32' }).requiresGrad_(), 'requiresGrad', 'int32');
    expectError(() => T.tensor([true]).requiresGrad_(), 'requiresGrad', 'bool');
    expectError(() => T.tensor([1], { dtype: 'int32', requiresGrad: true }), 'requiresGrad');
    expectError(() => T.zeros([1], { dtype: 'int32', requiresGrad: true }), 'requiresGrad');
    for (const dt of ['float32', 'float64', 'float16', 'bfloat16'] as const) expect(T.ones([1], { dtype: dt }).requiresGrad_().requiresGrad).toBe(true);
    const y = f64([1], true).mul(2);
    expect(y.isLeaf).toBe(false);
    expectError(() => y.requiresGrad_(false), 'requiresGrad_', 'detach');
  });

  it('ops with integer or bool outputs on grad-requiring inputs are not recorded and do not throw', () => {
    const x = f64([[1, 5], [3, 2]], true);
    for (const t of [x.gt(0), x.argmax(1), x.int(), x.isnan(), x.max(1).indices, x.sort(1).indices, x.eq(x)]) {
      expect(t.requiresGrad).toBe(false);
    }
  });

  it('retainGrad keeps .grad on non-leaves; plain non-leaves get none', () => {
    const x = f64([1, 2], true);
    const y = x.mul(3).retainGrad();
    const z = x.mul(4);
    y.mul(y).add(z).sum().backward();
    expect(y.retainsGrad).toBe(true);
    expect(y.grad!.tolist()).toEqual([6, 12]);
    expect(z.grad).toBe(null);
    expect(x.grad!.tolist()).toEqual([6 * 3 + 4, 12 * 3 + 4]);
    expectError(() => f64([1]).retainGrad(), 'retainGrad');
  });

  it('a leaf used by two graphs collects both; grads of non-required inputs stay null', () => {
    const a = f64([1, 2], true);
    const b = f64([3, 4]);
    a.mul(b).sum().backward();
    expect(b.grad).toBe(null);
    expect(a.grad!.tolist()).toEqual([3, 4]);
  });
});

describe('tidy / dispose', () => {
  it('disposes intermediates but not the result (arrays and objects of tensors too)', () => {
    let inner: T.Tensor[] = [];
    const out = T.tidy(() => {
      const a = T.ones([3]);
      const b = a.mul(2);
      const c = b.add(1);
      inner = [a, b];
      return { c, list: [c.mul(2)] };
    });
    expect(inner.every((t) => t.isDisposed)).toBe(true);
    expect(out.c.isDisposed).toBe(false);
    expect(out.c.tolist()).toEqual([3, 3, 3]);
    expect(out.list[0]!.tolist()).toEqual([6, 6, 6]);
    expectError(() => inner[0]!.tolist(), 'disposed');
    expectError(() => inner[1]!.dataSync(), 'disposed');
    expectError(() => inner[1]!.add(1), 'disposed');
  });

  it('never disposes tensors created outside the scope, even through views taken inside', () => {
    const x = T.tensor([[1, 2], [3, 4]]);
    const y = T.tensor([5, 6]);
    const s = T.tidy(() => {
      const v = x.reshape([4]);
      const w = x.t().contiguous();
      const d = y.detach();
      const e = y.unsqueeze(0).expand([2, 2]);
      return v.sum().add(w.sum()).add(d.sum()).add(e.sum());
    });
    expect(s.item()).toBe(10 + 10 + 11 + 22);
    expect(x.isDisposed).toBe(false);
    expect(y.isDisposed).toBe(false);
    expect(x.tolist()).toEqual([[1, 2], [3, 4]]);
    expect(y.tolist()).toEqual([5, 6]);
  });

  it('a returned view keeps its base alive; views of intermediates that are not returned are freed', () => {
    let base: T.Tensor | undefined;
    const v = T.tidy(() => {
      base = T.arange(0, 6, 1).reshape([2, 3]).mul(1);
      return base.t();
    });
    expect(base!.isDisposed).toBe(false);
    expect(v.tolist()).toEqual([[0, 3], [1, 4], [2, 5]]);
  });

  it('grads written by backward inside tidy survive it (leaves created outside and inside)', () => {
    const w = f64([1, 2, 3], true);
    let innerLeaf: T.Tensor | undefined;
    T.tidy(() => {
      const x = f64([4, 5, 6]);
      innerLeaf = T.keep(f64([1, 1, 1], true));
      const loss = w.mul(x).add(innerLeaf).sum();
      loss.backward();
    });
    expect(w.isDisposed).toBe(false);
    expect(w.grad!.isDisposed).toBe(false);
    expect(w.grad!.tolist()).toEqual([4, 5, 6]);
    expect(innerLeaf!.isDisposed).toBe(false);
    expect(innerLeaf!.grad!.tolist()).toEqual([1, 1, 1]);
    // accumulation inside a second tidy keeps the new grad, whatever intermediates it used
    T.tidy(() => {
      w.mul(2).sum().backward();
    });
    expect(w.grad!.tolist()).toEqual([6, 7, 8]);
    // a grad that is the root gradient itself (backward on the leaf)
    const leaf = f64([1, 2], true);
    T.tidy(() => leaf.backward(f64([7, 8])));
    expect(leaf.grad!.tolist()).toEqual([7, 8]);
    // a scalar loss whose grad flows through views only
    const p = f64([[1, 2], [3, 4]], true);
    T.tidy(() => p.t().reshape([4]).sum().backward());
    expect(p.grad!.tolist()).toEqual([[1, 1], [1, 1]]);
  });

  it('nested scopes hand results to the outer scope; keep() survives all; returning a non-tensor is fine', () => {
    let mid: T.Tensor | undefined;
    let kept: T.Tensor | undefined;
    const outer = T.tidy(() => {
      mid = T.tidy(() => T.ones([2]).mul(3));
      kept = T.keep(T.ones([1]).mul(5));
      expect(mid.isDisposed).toBe(false);
      return 42;
    });
    expect(outer).toBe(42);
    expect(mid!.isDisposed).toBe(true);
    expect(kept!.isDisposed).toBe(false);
    expect(kept!.item()).toBe(5);
  });

  it('async scopes: the scope stays open across awaits and frees everything not in the resolved value', async () => {
    let before: T.Tensor | undefined;
    let after: T.Tensor | undefined;
    const out = await T.tidy(async () => {
      before = T.ones([2]).mul(2);
      await new Promise((r) => setTimeout(r, 1));
      after = before.add(1);
      const inner = T.tidy(() => after!.mul(10)); // a sync scope nested in the async one
      await Promise.resolve();
      return { y: inner.add(1) };
    });
    expect(before!.isDisposed).toBe(true);
    expect(after!.isDisposed).toBe(true);
    expect(out.y.tolist()).toEqual([31, 31]);
    // a rejected async scope frees what it allocated and rethrows
    let leaked: T.Tensor | undefined;
    await expect(T.tidy(async () => {
      leaked = T.ones([3]);
      await Promise.resolve();
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(leaked!.isDisposed).toBe(true);
    // two async scopes settling out of order: the later one counts as nested in the earlier (documented), the
    // earlier frees its own tensors only when it settles, and no scope is left open afterwards
    let a: T.Tensor | undefined;
    const slow = T.tidy(async () => { a = T.ones([1]).mul(3); await new Promise((r) => setTimeout(r, 5)); return 0; });
    const fast = T.tidy(async () => { await Promise.resolve(); return T.ones([1]).mul(4); });
    expect((await fast).item()).toBe(4);
    expect(a!.isDisposed).toBe(false);
    await slow;
    expect(a!.isDisposed).toBe(true);
    const outside = T.ones([1]);
    T.tidy(() => 0);
    expect(outside.isDisposed).toBe(false);
  });

  it('a throwing function still closes its scope and frees what it allocated', () => {
    let inner: T.Tensor | undefined;
    expect(() => T.tidy(() => { inner = T.ones([1]); throw new Error('inner'); })).toThrow('inner');
    expect(inner!.isDisposed).toBe(true);
    const after = T.ones([2]);
    T.tidy(() => 0);
    expect(after.isDisposed).toBe(false);
  });

  it('dispose frees the storage shared by all views; reading afterwards throws', async () => {
    const x = T.ones([2, 2]);
    const v = x.reshape([4]);
    x.dispose();
    expect(v.isDisposed).toBe(true);
    expectError(() => v.dataSync(), 'disposed');
    await expect(x.data()).rejects.toThrow('disposed');
    expectError(() => x.reshape([4]).select(0, 0).item(), 'disposed');
    expectError(() => T.add(x, 1), 'disposed');
    expectError(() => x.sum(), 'disposed');
    expectError(() => x.t().contiguous(), 'disposed');
  });
});
