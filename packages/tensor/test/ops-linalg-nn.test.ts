// matmul / linear / softmax / logSoftmax / layerNorm / scaledDotProductAttention against float64 references,
// gradients against central finite differences, and the error messages of bad shapes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import {
  type Arr, type Layout, arbLayout, expectClose, gradcheck, makeTensor, numelOf, randomArr, ravel, refBroadcastShape, refExpand, refReduce, unravel,
  alongDim,
} from './helpers.js';

type Tensor = tz.Tensor;

// ---------------- references ----------------

/** torch.matmul semantics on reference arrays. */
function refMatmul(a: Arr, b: Arr): Arr {
  const a2 = a.shape.length === 1 ? { shape: [1, a.shape[0]!], data: a.data } : a;
  const b2 = b.shape.length === 1 ? { shape: [b.shape[0]!, 1], data: b.data } : b;
  const [M, K] = a2.shape.slice(-2) as [number, number];
  const N = b2.shape[b2.shape.length - 1]!;
  const batch = refBroadcastShape(a2.shape.slice(0, -2), b2.shape.slice(0, -2))!;
  const A = refExpand(a2, [...batch, M, K]);
  const B = refExpand(b2, [...batch, K, N]);
  const nb = numelOf(batch);
  const out = new Float64Array(nb * M * N);
  for (let p = 0; p < nb; p++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A.data[p * M * K + i * K + k]! * B.data[p * K * N + k * N + j]!;
        out[p * M * N + i * N + j] = s;
      }
    }
  }
  let shape = [...batch, M, N];
  if (a.shape.length === 1 && b.shape.length === 1) shape = [];
  else if (a.shape.length === 1) shape = [...batch, N];
  else if (b.shape.length === 1) shape = [...batch, M];
  return { shape, data: out };
}

function refTranspose(a: Arr): Arr {
  const r = a.shape.length;
  const shape = [...a.shape];
  [shape[r - 1], shape[r - 2]] = [shape[r - 2]!, shape[r - 1]!];
  const data = new Float64Array(a.data.length);
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    [idx[r - 1], idx[r - 2]] = [idx[r - 2]!, idx[r - 1]!];
    data[i] = a.data[ravel(idx, a.shape)]!;
  }
  return { shape, data };
}


function refSoftmaxLine(l: number[]): number[] {
  const m = Math.max(...l);
  const e = l.map((v) => Math.exp(v - (m === -Infinity ? 0 : m)));
  const s = e.reduce((x, y) => x + y, 0);
  return e.map((v) => v / s);
}
function refLogSoftmaxLine(l: number[]): number[] {
  const m = Math.max(...l);
  const mm = m === -Infinity ? 0 : m;
  const s = l.reduce((x, v) => x + Math.exp(v - mm), 0);
  return l.map((v) => v - mm - Math.log(s));
}

// ---------------- matmul ----------------

/** Shape pairs covering torch.matmul's cases: 1-D, 2-D, batched with broadcasting (size-0 and size-1 dims included). */
const arbMatmulShapes: fc.Arbitrary<[number[], number[]]> = fc
  .record({
    m: fc.integer({ min: 0, max: 4 }),
    k: fc.integer({ min: 0, max: 4 }),
    n: fc.integer({ min: 0, max: 4 }),
    batch: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
    aKind: fc.constantFrom('1d', '2d', 'batched'),
    bKind: fc.constantFrom('1d', '2d', 'batched'),
    ones: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    dropA: fc.nat(2),
    dropB: fc.nat(2),
  })
  .map(({ m, k, n, batch, aKind, bKind, ones, dropA, dropB }) => {
    const ba = batch.map((d, i) => (ones[i] ? 1 : d)).slice(Math.min(dropA, batch.length));
    const bb = batch.map((d, i) => (ones[i + 2] ? 1 : d)).slice(Math.min(dropB, batch.length));
    const a = aKind === '1d' ? [k] : aKind === '2d' ? [m, k] : [...ba, m, k];
    const b = bKind === '1d' ? [k] : bKind === '2d' ? [k, n] : [...bb, k, n];
    return [a, b] as [number[], number[]];
  });

describe('matmul / linear', () => {
  it('matmul matches the reference for 1-D, 2-D and broadcast batched operands on any layout', () => {
    fc.assert(
      fc.property(arbMatmulShapes, fc.integer(), arbLayout, arbLayout, ([sa, sb], seed, la, lb) => {
        const a = randomArr(sa, seed);
        const b = randomArr(sb, seed + 1);
        const want = refMatmul(a, b);
        const y = tz.matmul(makeTensor(a, la as Layout), makeTensor(b, lb as Layout));
        expect(y.dtype).toBe('float64');
        expectClose(y, want, { rtol: 1e-12, atol: 1e-12 }, `matmul ${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`);
        const y32 = tz.matmul(makeTensor(a, la as Layout, 'float32'), makeTensor(b, lb as Layout, 'float32'));
        expect(y32.dtype).toBe('float32');
        expectClose(y32, refMatmul({ shape: sa, data: a.data.map(Math.fround) }, { shape: sb, data: b.data.map(Math.fround) }), { rtol: 1e-5, atol: 1e-5 }, 'matmul float32');
      }),
      { numRuns: 150 },
    );
  });

  it('matmul gradients match central differences (incl. broadcast batch dims reduced back)', () => {
    fc.assert(
      fc.property(arbMatmulShapes.filter(([a, b]) => numelOf(a) <= 24 && numelOf(b) <= 24), fc.integer(), ([sa, sb], seed) => {
        gradcheck(tz.matmul, [randomArr(sa, seed), randomArr(sb, seed + 1)]);
      }),
      { numRuns: 40 },
    );
  });

  it('int32 matmul stays int32 and is exact', () => {
    const a = tz.tensor([[1, 2], [3, 4]], { dtype: 'int32' });
    const y = tz.matmul(a, a);
    expect(y.dtype).toBe('int32');
    expect(y.tolist()).toEqual([[7, 10], [15, 22]]);
  });

  it('errors name the op and both shapes', () => {
    expect(() => tz.matmul(tz.zeros([2, 3]), tz.zeros([4, 5]))).toThrow('matmul: inner dimensions differ: [2,3] @ [4,5]');
    expect(() => tz.matmul(tz.zeros([3]), tz.zeros([4]))).toThrow(/matmul.*\[3\].*\[4\]/);
    expect(() => tz.matmul(tz.zeros([2, 3]), tz.zeros([2]))).toThrow(/matmul.*\[2,3\].*\[2\]/);
    expect(() => tz.matmul(tz.zeros([2, 2, 3]), tz.zeros([3, 3, 1]))).toThrow(/matmul.*\[2,2,3\].*\[3,3,1\]/);
    expect(() => tz.matmul(tz.zeros([]), tz.zeros([3]))).toThrow(/matmul/);
    expect(() => tz.linear(tz.zeros([2, 3]), tz.zeros([4, 5]))).toThrow(/linear.*\[2,3\].*\[4,5\]/);
    expect(() => tz.linear(tz.zeros([2, 3]), tz.zeros([4, 3]), tz.zeros([3]))).toThrow(/linear.*bias.*\[3\]/);
  });

  it('linear(x, W, b) = x @ W^T + b with W [out, in]; gradients for x, W, b', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        fc.boolean(),
        (lead, fin, fout, seed, withBias) => {
          const x = randomArr([...lead, fin], seed);
          const w = randomArr([fout, fin], seed + 1);
          const b = randomArr([fout], seed + 2);
          const want = refMatmul(x, refTranspose(w));
          if (withBias) want.data = want.data.map((v, i) => v + b.data[i % fout]!);
          expectClose(tz.linear(makeTensor(x, 'contiguous'), makeTensor(w, 'transposed'), withBias ? makeTensor(b, 'contiguous') : null), want, { rtol: 1e-12, atol: 1e-12 });
          if (numelOf(x.shape) <= 16) {
            if (withBias) gradcheck((p, q, r) => tz.linear(p, q, r), [x, w, b]);
            else gradcheck((p, q) => tz.linear(p, q), [x, w]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

// ---------------- softmax ----------------

const arbRowsCase = fc
  .array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 })
  .chain((shape) => fc.record({ shape: fc.constant(shape), dim: fc.integer({ min: -shape.length, max: shape.length - 1 }), seed: fc.integer(), layout: arbLayout }));

describe('softmax / logSoftmax', () => {
  it('match the reference along any dim; softmax rows sum to 1 and are in [0, 1]', () => {
    fc.assert(
      fc.property(arbRowsCase, fc.constantFrom(3, 50, 1e4), ({ shape, dim, seed, layout }, scale) => {
        const a = randomArr(shape, seed, { min: -scale, max: scale });
        const x = makeTensor(a, layout as Layout);
        const s = tz.softmax(x, dim);
        expectClose(s, alongDim(a, dim, refSoftmaxLine), { rtol: 1e-12, atol: 1e-15 }, 'softmax');
        expectClose(tz.logSoftmax(x, dim), alongDim(a, dim, refLogSoftmaxLine), { rtol: 1e-12, atol: 1e-10 }, 'logSoftmax');
        const sums = refReduce({ shape, data: Float64Array.from(s.dataSync()) }, [dim < 0 ? dim + shape.length : dim], false, (v) => v.reduce((p, q) => p + q, 0));
        sums.data.forEach((v) => expect(Math.abs(v - 1)).toBeLessThan(1e-12));
        s.dataSync().forEach((v) => expect(v >= 0 && v <= 1).toBe(true));
        const s32 = tz.softmax(makeTensor(a, layout as Layout, 'float32'), dim);
        expect(s32.dtype).toBe('float32');
        expectClose(s32, alongDim({ shape, data: a.data.map(Math.fround) }, dim, refSoftmaxLine), { rtol: 1e-5, atol: 1e-7 }, 'softmax float32');
        const ls32 = tz.logSoftmax(makeTensor(a, layout as Layout, 'float32'), dim);
        ls32.dataSync().forEach((v) => expect(Number.isFinite(v)).toBe(true));
      }),
      { numRuns: 60 },
    );
  });

  it('large logits are stable; -inf entries get probability 0; integer input gives float32', () => {
    const x = tz.tensor([[1000, 1001, -Infinity], [-1e30, 0, 1e30]], { dtype: 'float32' });
    expectClose(tz.softmax(x, 1), { shape: [2, 3], data: Float64Array.from([...refSoftmaxLine([0, 1, -Infinity]), 0, 0, 1]) }, { rtol: 1e-6, atol: 1e-7 });
    const ls = tz.logSoftmax(x, 1);
    expectClose(ls, { shape: [2, 3], data: Float64Array.from([...refLogSoftmaxLine([0, 1, -Infinity]), -2e30, -1e30, 0]) }, { rtol: 1e-6, atol: 1e-6 });
    const i = tz.softmax(tz.tensor([1, 2, 3], { dtype: 'int32' }), 0);
    expect(i.dtype).toBe('float32');
    expectClose(i, { shape: [3], data: Float64Array.from(refSoftmaxLine([1, 2, 3])) }, { rtol: 1e-6, atol: 1e-7 });
  });

  it('gradients match central differences', () => {
    fc.assert(
      fc.property(arbRowsCase, ({ shape, dim, seed }) => {
        const a = randomArr(shape, seed);
        gradcheck((x) => tz.softmax(x, dim), [a]);
        gradcheck((x) => tz.logSoftmax(x, dim), [a]);
      }),
      { numRuns: 30 },
    );
  });
});

// ---------------- layerNorm ----------------

function refLayerNorm(x: Arr, nd: number, w: Arr | null, b: Arr | null, eps: number): Arr {
  const len = numelOf(x.shape.slice(x.shape.length - nd));
  const out = new Float64Array(x.data.length);
  for (let r = 0; r * len < x.data.length; r++) {
    const row = Array.from(x.data.subarray(r * len, (r + 1) * len));
    const mu = row.reduce((p, q) => p + q, 0) / len;
    const v = row.reduce((p, q) => p + (q - mu) ** 2, 0) / len;
    row.forEach((q, i) => (out[r * len + i] = ((q - mu) / Math.sqrt(v + eps)) * (w ? w.data[i]! : 1) + (b ? b.data[i]! : 0)));
  }
  return { shape: [...x.shape], data: out };
}

describe('layerNorm', () => {
  const arbLN = fc.record({
    lead: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
    norm: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 2 }),
    seed: fc.integer(),
    useW: fc.boolean(),
    useB: fc.boolean(),
    eps: fc.constantFrom(1e-5, 1e-2),
    layout: arbLayout,
  });

  it('forward matches the reference with/without weight and bias, over 1 or 2 normalized dims', () => {
    fc.assert(
      fc.property(arbLN, ({ lead, norm, seed, useW, useB, eps, layout }) => {
        const x = randomArr([...lead, ...norm], seed, { min: -3, max: 3 });
        const w = useW ? randomArr(norm, seed + 1) : null;
        const b = useB ? randomArr(norm, seed + 2) : null;
        const y = tz.layerNorm(makeTensor(x, layout as Layout), norm, w && makeTensor(w, 'contiguous'), b && makeTensor(b, 'contiguous'), eps);
        expectClose(y, refLayerNorm(x, norm.length, w, b, eps), { rtol: 1e-11, atol: 1e-12 });
        const y32 = tz.layerNorm(makeTensor(x, layout as Layout, 'float32'), norm, w && makeTensor(w, 'contiguous', 'float32'), b && makeTensor(b, 'contiguous', 'float32'), eps);
        expect(y32.dtype).toBe('float32');
        expectClose(y32, refLayerNorm({ shape: x.shape, data: x.data.map(Math.fround) }, norm.length, w && { shape: w.shape, data: w.data.map(Math.fround) }, b && { shape: b.shape, data: b.data.map(Math.fround) }, eps), { rtol: 1e-5, atol: 1e-5 });
      }),
      { numRuns: 60 },
    );
  });

  it('gradients for x, weight and bias match central differences (incl. inputs with no leading dims)', () => {
    fc.assert(
      fc.property(arbLN.filter((c) => numelOf([...c.lead, ...c.norm]) <= 16), ({ lead, norm, seed, useW, useB, eps }) => {
        const x = randomArr([...lead, ...norm], seed);
        const w = randomArr(norm, seed + 1);
        const b = randomArr(norm, seed + 2);
        // Over 2-3 elements the normalized values nearly cancel, so float32 loses ~3 digits of the gradient:
        // the float32-vs-float64 comparison gets a looser bound there (the float64 check stays tight).
        const o = numelOf(norm) < 4 ? { float32: { rtol: 2e-3, atol: 1e-4 } } : {};
        if (useW && useB) gradcheck((p, q, r) => tz.layerNorm(p, norm, q, r, eps), [x, w, b], o);
        else if (useW) gradcheck((p, q) => tz.layerNorm(p, norm, q, null, eps), [x, w], o);
        else if (useB) gradcheck((p, r) => tz.layerNorm(p, norm, null, r, eps), [x, b], o);
        else gradcheck((p) => tz.layerNorm(p, norm, null, null, eps), [x], o);
      }),
      { numRuns: 40 },
    );
  });

  it('empty float32 views with a storage offset (fast kernels must not range-check past an empty buffer)', () => {
    const e = tz.slice(tz.zeros([0, 3]), 1, 1, 2); // shape [0, 1], offset 1 into an empty storage
    expect(tz.layerNorm(e, [1]).shape).toEqual([0, 1]);
    expect(tz.softmax(e, 1).shape).toEqual([0, 1]);
    expect(tz.logSoftmax(e, -1).shape).toEqual([0, 1]);
    expect(tz.amax(e, 1).shape).toEqual([0]);
    expect(tz.amin(e, 1).shape).toEqual([0]);
    expect(tz.exp(e).shape).toEqual([0, 1]);
    expect(tz.add(e, e).shape).toEqual([0, 1]);
    expect(tz.matmul(e, tz.zeros([1, 2])).shape).toEqual([0, 2]);
  });

  it('rejects mismatched normalizedShape / weight shapes naming the op', () => {
    expect(() => tz.layerNorm(tz.zeros([2, 3]), [4])).toThrow(/layerNorm.*\[4\].*\[2,3\]/);
    expect(() => tz.layerNorm(tz.zeros([2, 3]), [3], tz.zeros([2]))).toThrow(/layerNorm.*weight.*\[2\]/);
  });
});

// ---------------- attention ----------------

interface AttnRef {
  q: Arr;
  k: Arr;
  v: Arr;
  mask?: Arr | null;
  maskBool?: boolean;
  causal?: boolean;
  scale?: number;
  gqa?: boolean;
}

/** softmax(q k^T * scale + mask) v, per the torch docs' reference implementation (GQA by repeat_interleave). */
function refAttention({ q, k, v, mask, maskBool, causal, scale, gqa }: AttnRef): Arr {
  const E = q.shape[q.shape.length - 1]!;
  const L = q.shape[q.shape.length - 2]!;
  const S = k.shape[k.shape.length - 2]!;
  const Ev = v.shape[v.shape.length - 1]!;
  const rep = (t: Arr): Arr => {
    if (!gqa) return t;
    const hq = q.shape[q.shape.length - 3]!;
    const hk = t.shape[t.shape.length - 3]!;
    const n = hq / hk;
    const shape = [...t.shape];
    shape[shape.length - 3] = hq;
    const data = new Float64Array(numelOf(shape));
    for (let i = 0; i < data.length; i++) {
      const idx = unravel(i, shape);
      idx[idx.length - 3] = Math.floor(idx[idx.length - 3]! / n);
      data[i] = t.data[ravel(idx, t.shape)]!;
    }
    return { shape, data };
  };
  const kk = rep(k);
  const vv = rep(v);
  const sc = scale ?? 1 / Math.sqrt(E);
  let scores = refMatmul(q, refTranspose(kk));
  scores = { shape: scores.shape, data: scores.data.map((x) => x * sc) };
  const bias = new Float64Array(L * S);
  if (causal) for (let i = 0; i < L; i++) for (let j = 0; j < S; j++) if (j > i) bias[i * S + j] = -Infinity;
  let withMask = scores;
  if (mask) {
    const m = refExpand(mask, scores.shape);
    withMask = { shape: scores.shape, data: scores.data.map((x, i) => (maskBool ? (m.data[i] ? x : -Infinity) : x + m.data[i]!)) };
  }
  withMask = { shape: withMask.shape, data: withMask.data.map((x, i) => x + bias[i % (L * S)]!) };
  const p = alongDim(withMask, -1, refSoftmaxLine);
  void Ev;
  return refMatmul(p, vv);
}

describe('scaledDotProductAttention', () => {
  const arbAttn = fc.record({
    batch: fc.array(fc.integer({ min: 1, max: 2 }), { maxLength: 1 }),
    hk: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 2 }),
    L: fc.integer({ min: 1, max: 4 }),
    S: fc.integer({ min: 1, max: 4 }),
    E: fc.integer({ min: 1, max: 3 }),
    Ev: fc.integer({ min: 1, max: 3 }),
    maskKind: fc.constantFrom('none', 'causal', 'bool', 'float'),
    scale: fc.option(fc.double({ min: 0.1, max: 2, noNaN: true })),
    seed: fc.integer(),
  });

  interface AttnCase {
    batch: number[]; hk: number; groups: number; L: number; S: number; E: number; Ev: number; maskKind: string; scale: number | null; seed: number;
  }
  function build(c: AttnCase) {
    const gqa = c.groups > 1;
    const hq = c.hk * c.groups;
    const q = randomArr([...c.batch, hq, c.L, c.E], c.seed);
    const k = randomArr([...c.batch, c.hk, c.S, c.E], c.seed + 1);
    const v = randomArr([...c.batch, c.hk, c.S, c.Ev], c.seed + 2);
    let mask: Arr | null = null;
    if (c.maskKind === 'bool') {
      // broadcast [L, S] mask; keep the diagonal-ish entry j = 0 so no row is fully masked
      mask = randomArr([c.L, c.S], c.seed + 3, { min: -1, max: 1 });
      mask.data = mask.data.map((x, i) => (i % c.S === 0 || x > 0 ? 1 : 0));
    } else if (c.maskKind === 'float') {
      mask = randomArr([hq, 1, c.S], c.seed + 3, { min: -2, max: 2 });
    }
    return { gqa, q, k, v, mask, maskBool: c.maskKind === 'bool', causal: c.maskKind === 'causal', scale: c.scale ?? undefined };
  }

  const opts = (r: ReturnType<typeof build>, dtype: tz.DType = 'float64') => ({
    attnMask: r.mask ? (r.maskBool ? tz.gt(makeTensor(r.mask, 'contiguous'), 0.5) : makeTensor(r.mask, 'contiguous', dtype)) : null,
    isCausal: r.causal,
    scale: r.scale,
    enableGqa: r.gqa,
  });

  it('forward matches the reference (causal, bool and float masks, custom scale, GQA)', () => {
    fc.assert(
      fc.property(arbAttn, (c) => {
        const r = build(c);
        const want = refAttention(r);
        const y = tz.scaledDotProductAttention(makeTensor(r.q, 'contiguous'), makeTensor(r.k, 'transposed'), makeTensor(r.v, 'sliced'), opts(r));
        expectClose(y, want, { rtol: 1e-11, atol: 1e-12 });
        const y32 = tz.scaledDotProductAttention(makeTensor(r.q, 'contiguous', 'float32'), makeTensor(r.k, 'contiguous', 'float32'), makeTensor(r.v, 'contiguous', 'float32'), opts(r, 'float32'));
        expect(y32.dtype).toBe('float32');
        expectClose(y32, want, { rtol: 1e-4, atol: 1e-5 });
      }),
      { numRuns: 60 },
    );
  });

  it('gradients for q, k, v match central differences', () => {
    fc.assert(
      fc.property(arbAttn.filter((c) => c.hk * c.groups * Math.max(c.L, c.S) * 3 <= 24), (c) => {
        const r = build(c);
        const o = opts(r);
        const m = o.attnMask;
        gradcheck((q, k, v) => tz.scaledDotProductAttention(q, k, v, { ...o, attnMask: m && m.dtype !== 'bool' ? m.to(q.dtype) : m }), [r.q, r.k, r.v]);
      }),
      { numRuns: 25 },
    );
  });

  it('causal mask is top-left aligned when L != S (query i sees keys 0..i)', () => {
    const q = tz.ones([1, 2, 1]);
    const k = tz.ones([1, 3, 1]);
    const v = tz.tensor([[[1], [10], [100]]]);
    const y = tz.scaledDotProductAttention(q, k, v, { isCausal: true });
    expectClose(y, { shape: [1, 2, 1], data: Float64Array.from([1, 5.5]) }, { rtol: 1e-6, atol: 1e-6 });
  });

  it('bad shapes are errors naming the op', () => {
    expect(() => tz.scaledDotProductAttention(tz.zeros([2, 3]), tz.zeros([2, 4]), tz.zeros([2, 4]))).toThrow(/scaledDotProductAttention.*\[2,3\].*\[2,4\]/);
    expect(() => tz.scaledDotProductAttention(tz.zeros([3, 2, 4]), tz.zeros([2, 2, 4]), tz.zeros([2, 2, 4]), { enableGqa: true })).toThrow(/scaledDotProductAttention.*3.*2/);
  });
});

void ((t: Tensor) => t);
