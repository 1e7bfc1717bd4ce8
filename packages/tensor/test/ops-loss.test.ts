// Losses against float64 references written from torch's documented semantics:
// cross_entropy (class indices with ignore_index / label_smoothing / weight / reductions, probability targets,
// [N, C, d...] layout), mse_loss, binary_cross_entropy_with_logits (pos_weight, weight, extreme logits).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import { type Arr, expectClose, gradcheck, makeTensor, numelOf, randomArr, ravel, unravel } from './helpers.js';

type Reduction = 'mean' | 'sum' | 'none';

/** Moves the class dim (1, or 0 for 1-D logits) last and returns rows [M, C] plus the per-row target shape. */
function rowsOf(logits: Arr): { rows: number[][]; lead: number[] } {
  const sh = logits.shape;
  if (sh.length === 1) return { rows: [Array.from(logits.data)], lead: [] };
  const C = sh[1]!;
  const lead = [sh[0]!, ...sh.slice(2)];
  const rows: number[][] = [];
  for (let m = 0; m < numelOf(lead); m++) {
    const li = unravel(m, lead);
    rows.push([...Array(C).keys()].map((c) => logits.data[ravel([li[0]!, c, ...li.slice(1)], sh)]!));
  }
  return { rows, lead };
}

function logSoftmaxRow(r: number[]): number[] {
  const m = Math.max(...r);
  const s = r.reduce((a, v) => a + Math.exp(v - m), 0);
  return r.map((v) => v - m - Math.log(s));
}

interface CEOpts {
  weight?: number[];
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: Reduction;
}

/** torch.nn.functional.cross_entropy with class-index targets (torch's label-smoothing formula, weight-normalised mean). */
function refCrossEntropy(logits: Arr, target: number[], o: CEOpts): Arr {
  const { rows, lead } = rowsOf(logits);
  const C = rows[0]?.length ?? logits.shape[logits.shape.length === 1 ? 0 : 1]!;
  const w = o.weight ?? Array(C).fill(1);
  const ig = o.ignoreIndex ?? -100;
  const eps = o.labelSmoothing ?? 0;
  const nll: number[] = [];
  const smooth: number[] = [];
  let wsum = 0;
  rows.forEach((r, m) => {
    const t = target[m]!;
    if (t === ig) {
      nll.push(0);
      smooth.push(0);
      return;
    }
    const l = logSoftmaxRow(r);
    nll.push(-w[t]! * l[t]!);
    smooth.push(-l.reduce((a, v, c) => a + v * w[c]!, 0));
    wsum += w[t]!;
  });
  const red = o.reduction ?? 'mean';
  if (red === 'none') return { shape: lead, data: Float64Array.from(nll.map((v, i) => (1 - eps) * v + (eps / C) * smooth[i]!)) };
  const sn = nll.reduce((a, b) => a + b, 0);
  const ss = smooth.reduce((a, b) => a + b, 0);
  if (red === 'sum') return { shape: [], data: Float64Array.from([(1 - eps) * sn + (eps / C) * ss]) };
  return { shape: [], data: Float64Array.from([(1 - eps) * (sn / wsum) + (eps / C) * (ss / wsum)]) };
}

/** cross_entropy with class-probability targets: mean divides by the number of rows (numel / C). */
function refCrossEntropyProb(logits: Arr, target: Arr, o: CEOpts): Arr {
  const { rows, lead } = rowsOf(logits);
  const trows = rowsOf(target).rows;
  const C = logits.shape[logits.shape.length === 1 ? 0 : 1]!;
  const w = o.weight ?? Array(C).fill(1);
  const eps = o.labelSmoothing ?? 0;
  const per = rows.map((r, m) => {
    const l = logSoftmaxRow(r);
    return -l.reduce((a, v, c) => a + v * w[c]! * (trows[m]![c]! * (1 - eps) + eps / C), 0);
  });
  const red = o.reduction ?? 'mean';
  if (red === 'none') return { shape: lead, data: Float64Array.from(per) };
  const s = per.reduce((a, b) => a + b, 0);
  return { shape: [], data: Float64Array.from([red === 'sum' ? s : s / rows.length]) };
}

const arbCE = fc.record({
  N: fc.integer({ min: 1, max: 4 }),
  C: fc.integer({ min: 1, max: 4 }),
  extra: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  oneD: fc.boolean(),
  seed: fc.integer(),
  useWeight: fc.boolean(),
  ignoreIndex: fc.constantFrom(undefined, -100, 1, -1),
  ignoreSome: fc.boolean(),
  labelSmoothing: fc.constantFrom(0, 0.1, 0.5),
  reduction: fc.constantFrom<Reduction>('mean', 'sum', 'none'),
});
type CECase = typeof arbCE extends fc.Arbitrary<infer T> ? T : never;

function ceInputs(c: CECase) {
  const shape = c.oneD ? [c.C] : [c.N, c.C, ...c.extra];
  const logits = randomArr(shape, c.seed, { min: -4, max: 4 });
  const tshape = c.oneD ? [] : [c.N, ...c.extra];
  const r = randomArr(tshape, c.seed + 1, { min: 0, max: 1 }).data;
  const ig: number = c.ignoreIndex ?? -100;
  const target = Array.from(r, (v, i) => (c.ignoreSome && i % 3 === 1 ? ig : Math.min(Math.floor(v * c.C), c.C - 1)));
  // keep at least one valid target so 'mean' is defined
  if (target.every((t) => t === ig)) target[0] = ig === 0 ? Math.min(1, c.C - 1) : 0;
  if (target[0] === ig) target[0] = ig === 0 ? 1 : 0;
  const weight = c.useWeight ? Array.from(randomArr([c.C], c.seed + 2, { min: 0.2, max: 2 }).data) : undefined;
  return { shape, tshape, logits, target, weight };
}

describe('crossEntropy', () => {
  it('class targets: matches torch semantics (ignoreIndex, labelSmoothing, weight, reductions, [N,C,d...] and [C])', () => {
    fc.assert(
      fc.property(arbCE, (c) => {
        const { tshape, logits, target, weight } = ceInputs(c);
        if (target.some((t) => t === 1) && c.ignoreIndex === 1 && c.C === 1) return;
        const valid = target.filter((t) => t !== (c.ignoreIndex ?? -100));
        if (valid.some((t) => t < 0 || t >= c.C)) return;
        const opts = { ignoreIndex: c.ignoreIndex, labelSmoothing: c.labelSmoothing, reduction: c.reduction, weight: weight ? tz.tensor(weight, { dtype: 'float64' }) : null };
        const want = refCrossEntropy(logits, target, { ...c, weight });
        const tt = tz.tensor(target, { dtype: 'int32', shape: tshape });
        expectClose(tz.crossEntropy(makeTensor(logits, 'transposed'), tt, opts), want, { rtol: 1e-12, atol: 1e-12 });
        const x32 = makeTensor(logits, 'contiguous', 'float32');
        const y32 = tz.crossEntropy(x32, tt, { ...opts, weight: weight ? tz.tensor(weight) : null });
        expect(y32.dtype).toBe('float32');
        expectClose(y32, want, { rtol: 1e-5, atol: 1e-5 });
        if (numelOf(logits.shape) <= 24) {
          gradcheck((x) => tz.crossEntropy(x, tt, { ...opts, weight: weight ? tz.tensor(weight, { dtype: x.dtype }) : null }), [logits]);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('probability targets: matches torch semantics (labelSmoothing, weight, reductions, [N,C,d...]) and gradients', () => {
    fc.assert(
      fc.property(arbCE, (c) => {
        const { shape, logits, weight } = ceInputs(c);
        // rows of the target are probability vectors along the class dim
        const raw = randomArr(shape, c.seed + 5, { min: 0, max: 1 });
        const { rows, lead } = rowsOf(raw);
        const C = c.C;
        const target: Arr = { shape, data: new Float64Array(raw.data.length) };
        rows.forEach((r, m) => {
          const s = r.reduce((a, b) => a + b, 0);
          const li = unravel(m, lead);
          r.forEach((v, cc) => (target.data[shape.length === 1 ? cc : ravel([li[0]!, cc, ...li.slice(1)], shape)] = v / s));
        });
        const opts = { labelSmoothing: c.labelSmoothing, reduction: c.reduction, weight: weight ? tz.tensor(weight, { dtype: 'float64' }) : null };
        const want = refCrossEntropyProb(logits, target, { ...c, weight });
        expectClose(tz.crossEntropy(makeTensor(logits, 'contiguous'), makeTensor(target, 'sliced'), opts), want, { rtol: 1e-12, atol: 1e-12 });
        void C;
        if (numelOf(shape) <= 24) {
          gradcheck((x, t) => tz.crossEntropy(x, t, { ...opts, weight: weight ? tz.tensor(weight, { dtype: x.dtype }) : null }), [logits, target]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('all targets ignored gives NaN for mean (0/0, as torch) and 0 for sum', () => {
    const x = tz.tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    const t = tz.tensor([-100, -100], { dtype: 'int32' });
    expect(Number.isNaN(tz.crossEntropy(x, t).item())).toBe(true);
    expect(tz.crossEntropy(x, t, { reduction: 'sum' }).item()).toBe(0);
  });

  it('extreme logits stay finite; known exact value for uniform logits', () => {
    const x = tz.tensor([[1e4, -1e4, 0], [-1e4, 1e4, 0]], { dtype: 'float32', requiresGrad: true });
    const loss = tz.crossEntropy(x, tz.tensor([1, 1], { dtype: 'int32' }), { reduction: 'none' });
    expectClose(loss, { shape: [2], data: Float64Array.from([2e4, 0]) }, { rtol: 1e-6, atol: 1e-6 });
    loss.sum().backward();
    x.grad!.dataSync().forEach((v) => expect(Number.isFinite(v)).toBe(true));
    const u = tz.crossEntropy(tz.zeros([3, 5], { dtype: 'float64' }), tz.tensor([0, 4, 2], { dtype: 'int32' }));
    expect(u.item()).toBeCloseTo(Math.log(5), 14);
  });

  it('errors: out-of-range targets, bad target shape, bad weight shape name the op', () => {
    const x = tz.zeros([2, 3]);
    expect(() => tz.crossEntropy(x, tz.tensor([0, 3], { dtype: 'int32' }))).toThrow(/crossEntropy.*3.*out of bounds/);
    expect(() => tz.crossEntropy(x, tz.tensor([0, -1], { dtype: 'int32' }))).toThrow(/crossEntropy.*-1/);
    expect(() => tz.crossEntropy(x, tz.tensor([0, 1, 2], { dtype: 'int32' }))).toThrow(/crossEntropy.*\[3\].*\[2,3\]/);
    expect(() => tz.crossEntropy(x, tz.zeros([2, 3]), { weight: tz.ones([2]) })).toThrow(/crossEntropy.*weight.*\[2\]/);
  });
});

describe('mseLoss', () => {
  it('matches the reference for every reduction, and its gradients', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.integer(), fc.constantFrom<Reduction>('mean', 'sum', 'none'), (shape, seed, reduction) => {
        const a = randomArr(shape, seed);
        const b = randomArr(shape, seed + 1);
        const sq = a.data.map((v, i) => (v - b.data[i]!) ** 2);
        const s = sq.reduce((p, q) => p + q, 0);
        const want: Arr = reduction === 'none' ? { shape, data: sq } : { shape: [], data: Float64Array.from([reduction === 'sum' ? s : s / sq.length]) };
        expectClose(tz.mseLoss(makeTensor(a, 'transposed'), makeTensor(b, 'sliced'), { reduction }), want, { rtol: 1e-12, atol: 1e-12 });
        if (numelOf(shape) <= 16 && numelOf(shape) > 0) gradcheck((x, y) => tz.mseLoss(x, y, { reduction }), [a, b]);
      }),
      { numRuns: 60 },
    );
    expect(() => tz.mseLoss(tz.zeros([2]), tz.zeros([3]))).toThrow(/mseLoss.*\[2\].*\[3\]/);
  });
});

describe('binaryCrossEntropyWithLogits', () => {
  const logSig = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
  /** -w [pw t log sigma(x) + (1 - t) log(1 - sigma(x))], with log(1 - sigma(x)) = log sigma(-x). */
  const ref = (x: number, t: number, w: number, pw: number) => -w * (pw * t * logSig(x) + (1 - t) * logSig(-x));

  it('matches the definition with weight, posWeight (broadcast over the class dim) and reductions; gradients', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom<Reduction>('mean', 'sum', 'none'),
        fc.constantFrom(5, 50, 800),
        (N, C, seed, useW, usePw, reduction, range) => {
          const shape = [N, C];
          const x = randomArr(shape, seed, { min: -range, max: range });
          const t = randomArr(shape, seed + 1, { min: 0, max: 1 });
          const w = randomArr([C], seed + 2, { min: 0.2, max: 2 });
          const pw = randomArr([C], seed + 3, { min: 0.2, max: 3 });
          const per = x.data.map((v, i) => ref(v, t.data[i]!, useW ? w.data[i % C]! : 1, usePw ? pw.data[i % C]! : 1));
          const s = per.reduce((p, q) => p + q, 0);
          const want: Arr = reduction === 'none' ? { shape, data: per } : { shape: [], data: Float64Array.from([reduction === 'sum' ? s : s / per.length]) };
          const mk = (d: tz.DType) => ({ reduction, weight: useW ? makeTensor(w, 'contiguous', d) : null, posWeight: usePw ? makeTensor(pw, 'contiguous', d) : null });
          expectClose(tz.binaryCrossEntropyWithLogits(makeTensor(x, 'transposed'), makeTensor(t, 'contiguous'), mk('float64')), want, { rtol: 1e-12, atol: 1e-12 });
          const y32 = tz.binaryCrossEntropyWithLogits(makeTensor(x, 'contiguous', 'float32'), makeTensor(t, 'contiguous', 'float32'), mk('float32'));
          if (N > 0) y32.dataSync().forEach((v) => expect(Number.isFinite(v)).toBe(true));
          expectClose(y32, want, { rtol: 1e-5, atol: 1e-4 });
          if (range === 5 && N * C > 0) {
            gradcheck((p, q) => tz.binaryCrossEntropyWithLogits(p, q, mk(p.dtype)), [x, t]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('extreme logits: no overflow in the loss or the gradient (sigmoid(x) - t)', () => {
    const x = tz.tensor([1000, -1000, 1000, -1000, 88.8, -104], { dtype: 'float32', requiresGrad: true });
    const t = tz.tensor([0, 1, 1, 0, 0, 1], { dtype: 'float32' });
    const l = tz.binaryCrossEntropyWithLogits(x, t, { reduction: 'none' });
    expectClose(l, { shape: [6], data: Float64Array.from([1000, 1000, 0, 0, Math.fround(88.8), 104]) }, { rtol: 1e-6, atol: 1e-6 });
    l.sum().backward();
    expectClose(x.grad!, { shape: [6], data: Float64Array.from([1, -1, 0, 0, 1, -1]) }, { rtol: 1e-6, atol: 1e-6 });
    expect(() => tz.binaryCrossEntropyWithLogits(tz.zeros([2]), tz.zeros([3]))).toThrow(/binaryCrossEntropyWithLogits.*\[3\].*\[2\]/);
  });
});
