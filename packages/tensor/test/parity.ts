// The op parity suite, a function of the device: every op, forward and gradient, on the device under test against a
// float64 'cpu' reference, on random shapes (fast-check: size-0 and size-1 dims, broadcasting, non-contiguous views)
// at float32 tolerances. Each backend configuration runs it from its own small test file (parity-*.test.ts,
// webgpu-parity.test.ts).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import { BINARY as BINARY_TABLE, UNARY as UNARY_TABLE } from '../dist/backend/op-table.js';

type Tensor = tz.Tensor;
export type Dev = tz.Tensor['device'];

const RUNS = { numRuns: 20, seed: 20240601 };

/** Float32 tolerances of the device against the float64 reference. */

// ---------------- helpers ----------------

export interface Tol { rtol: number; atol: number }
export const FWD: Tol = { rtol: 2e-5, atol: 2e-6 };
const GRAD: Tol = { rtol: 2e-4, atol: 1e-4 };

export function close(a: number, b: number, t: Tol): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= t.atol + t.rtol * Math.abs(b);
}

/**
 * The device's tensor `g` equals the reference `c` (a cpu tensor): shape, dtype (a float64 reference stands for
 * float32) and values within tolerance.
 */
export async function same(g: Tensor, c: Tensor, tol: Tol, what: string): Promise<void> {
  expect(g.shape, what).toEqual(c.shape);
  expect(g.dtype, what).toBe(c.dtype === 'float64' ? 'float32' : c.dtype);
  const cv = c.dataSync();
  const gv = await g.data();
  for (let i = 0; i < cv.length; i++) {
    if (!close(gv[i]!, cv[i]!, tol)) throw new Error(`${what}: element ${i} of ${JSON.stringify(c.shape)}: ${g.device} ${gv[i]} vs reference ${cv[i]}`);
  }
}

/** How an input tensor is laid out: dense, transposed (last two dims), strided slice, or broadcast by expand. */
export type Layout = 'dense' | 'transposed' | 'sliced' | 'expanded';

export interface Input {
  shape: number[];
  data: Float32Array;
  layout: Layout;
  dtype?: tz.DType;
}

/**
 * A leaf tensor on `dev` (requiring grad when floating) and the view of it the op reads; `ref` builds the float64
 * reference's leaf (float32 inputs widened, exactly) on 'cpu'.
 */
function make(inp: Input, dev: Dev, grad: boolean, ref: boolean): { leaf: Tensor; view: Tensor } {
  const given = inp.dtype ?? 'float32';
  const dtype = ref && given === 'float32' ? 'float64' : given;
  const rg = grad && (given === 'float32');
  const s = inp.shape;
  const r = s.length;
  if (inp.layout === 'transposed' && r >= 2) {
    const bs = [...s.slice(0, -2), s[r - 1]!, s[r - 2]!];
    const leaf = tz.tensor(inp.data.subarray(0, numel(bs)), { shape: bs, dtype, device: dev, requiresGrad: rg });
    return { leaf, view: leaf.transpose(-1, -2) };
  }
  if (inp.layout === 'sliced' && r >= 1) {
    const bs = [...s.slice(0, -1), s[r - 1]! * 2 + 1];
    const leaf = tz.tensor(inp.data.subarray(0, numel(bs)), { shape: bs, dtype, device: dev, requiresGrad: rg });
    return { leaf, view: leaf.slice(-1, 1, null, 2) };
  }
  if (inp.layout === 'expanded' && r >= 1 && s[0]! > 0) {
    const bs = [1, ...s.slice(1)];
    const leaf = tz.tensor(inp.data.subarray(0, numel(bs)), { shape: bs, dtype, device: dev, requiresGrad: rg });
    return { leaf, view: leaf.expand(s) };
  }
  const leaf = tz.tensor(inp.data.subarray(0, numel(s)), { shape: s, dtype, device: dev, requiresGrad: rg });
  return { leaf, view: leaf };
}

function numel(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/**
 * Runs `f` on `dev` and, as the reference, on 'cpu' in float64 from the same host inputs; compares every output,
 * then (when `grad`) backpropagates sum(out * w) with the same random w and compares the gradients of every float leaf.
 */
export async function parity(dev: Dev, what: string, inputs: Input[], f: (xs: Tensor[]) => Tensor | Tensor[], opts: { grad?: boolean; fwd?: Tol; gradTol?: Tol } = {}): Promise<void> {
  const grad = opts.grad ?? true;
  const run = (d: Dev, ref: boolean) => {
    const made = inputs.map((inp) => make(inp, d, grad, ref));
    const out = f(made.map((m) => m.view));
    return { made, outs: Array.isArray(out) ? out : [out] };
  };
  const c = run('cpu', true);
  const g = run(dev, false);
  for (const o of g.outs) expect(o.device, what).toBe(dev);
  for (let k = 0; k < c.outs.length; k++) await same(g.outs[k]!, c.outs[k]!, opts.fwd ?? FWD, `${what} (output ${k})`);
  if (!grad) return;
  const outC = c.outs[0]!;
  const outG = g.outs[0]!;
  if (!outC.requiresGrad) return;
  const w = new Float32Array(outC.numel()).map((_, i) => Math.sin(i * 1.7 + 0.3));
  const loss = (o: Tensor, dev: Dev) => tz.sum(o.mul(tz.tensor(w, { shape: o.shape, device: dev })));
  loss(outC, 'cpu').backward();
  loss(outG, dev).backward();
  for (let k = 0; k < inputs.length; k++) {
    const gc = c.made[k]!.leaf.grad;
    const gg = g.made[k]!.leaf.grad;
    if (!gc) continue;
    expect(gg, `${what}: grad of input ${k} missing on ${dev}`).toBeTruthy();
    await same(gg!, gc, opts.gradTol ?? GRAD, `${what} (grad of input ${k})`);
  }
}

// ---------------- arbitraries ----------------

const dimArb = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.constant(1) }, { weight: 8, arbitrary: fc.integer({ min: 2, max: 5 }) });
const shapeArb = (min = 0, max = 3) => fc.array(dimArb, { minLength: min, maxLength: max });
const nonEmptyShape = (min = 1, max = 3) => fc.array(fc.integer({ min: 1, max: 5 }), { minLength: min, maxLength: max });
const layoutArb = fc.constantFrom<Layout>('dense', 'transposed', 'sliced', 'expanded');
const seedArb = fc.integer({ min: 1, max: 1e9 });

/** Deterministic float32 data: normal-ish values scaled by `scale`, optionally mapped. */
export function values(n: number, seed: number, map: (v: number) => number = (v) => v): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const u = s / 2 ** 32;
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const v = s / 2 ** 32;
    out[i] = map(Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v) * 1.5);
  }
  return out;
}

const BIG = 64 * 64; // enough host values for any base tensor the arbitraries build
export const inp = (shape: number[], layout: Layout, seed: number, map?: (v: number) => number, dtype?: tz.DType): Input => ({ shape, layout, data: values(BIG + 3 * numel(shape), seed, map), dtype });

export const positive = (v: number) => Math.abs(v) + 0.25;
export const awayFromZero = (v: number) => (v < 0 ? v - 0.5 : v + 0.5);
const coarse = (v: number) => Math.round(v * 2) / 2;

/** Broadcast partner of a shape: some dims set to 1, possibly fewer leading dims. */
const partnerArb = (shape: number[]) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), fc.integer({ min: 0, max: shape.length })).map(([ones, drop]) =>
    shape.map((d, i) => (ones[i] ? 1 : d)).slice(drop),
  );


/** How a parity run sets up its device: its name in test titles, and what to switch on before and off after. */
export interface ParityTarget {
  name: string;
  device: Dev;
  before?: () => void;
  after?: () => void;
}

/** Registers the parity suite for one device configuration. */
export function paritySuite(target: ParityTarget, run: (title: string, body: () => void) => void = describe): void {
  const { name, device: dev } = target;
  run(`${name} parity`, () => {
    if (target.before) beforeAll(target.before);
    if (target.after) afterAll(target.after);

  describe('elementwise', () => {
    const UNARY: [string, (x: Tensor) => Tensor, ((v: number) => number)?][] = [
      ['neg', (x) => x.neg()], ['abs', (x) => x.abs()], ['sign', (x) => x.sign()], ['exp', (x) => x.exp()],
      ['log', (x) => x.log(), positive], ['log1p', (x) => x.log1p(), positive], ['expm1', (x) => tz.expm1(x)],
      ['sqrt', (x) => x.sqrt(), positive], ['rsqrt', (x) => x.rsqrt(), positive], ['square', (x) => x.square()],
      ['reciprocal', (x) => x.reciprocal(), awayFromZero], ['sin', (x) => x.sin()], ['cos', (x) => x.cos()],
      ['tanh', (x) => x.tanh()], ['sigmoid', (x) => x.sigmoid()], ['relu', (x) => x.relu()], ['relu2', (x) => tz.relu2(x)],
      ['gelu', (x) => tz.gelu(x)], ['gelu tanh', (x) => tz.gelu(x, { approximate: 'tanh' })], ['silu', (x) => tz.silu(x)],
      ['erf', (x) => x.erf()], ['floor', (x) => x.floor()], ['ceil', (x) => x.ceil()], ['round', (x) => x.round()],
      ['softplus', (x) => tz.softplus(x)], ['clamp', (x) => x.clamp(-0.5, 0.7)],
      ['isnan', (x) => x.div(x).isnan()], ['isfinite', (x) => x.reciprocal().isfinite()], ['isinf', (x) => x.reciprocal().isinf()],
      ['logicalNot', (x) => x.round().logicalNot()],
    ];
    it('unary ops, forward and gradient, on strided views', async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(), layoutArb, seedArb, async (shape, layout, seed) => {
          for (const [name, f, map] of UNARY) await parity(dev, name, [inp(shape, layout, seed, map)], ([x]) => f(x!));
        }),
        { ...RUNS, numRuns: 12 },
      );
    });

    const BINARY: [string, (a: Tensor, b: Tensor) => Tensor, ((v: number) => number)?, ((v: number) => number)?][] = [
      ['add', (a, b) => a.add(b)], ['sub', (a, b) => a.sub(b, { alpha: 2 })], ['mul', (a, b) => a.mul(b)],
      ['div', (a, b) => a.div(b), undefined, awayFromZero], ['pow', (a, b) => a.pow(b), positive], ['maximum', (a, b) => a.maximum(b), coarse, coarse],
      ['minimum', (a, b) => a.minimum(b), coarse, coarse], ['atan2', (a, b) => tz.atan2(a, b)], ['remainder', (a, b) => tz.remainder(a, b), undefined, awayFromZero],
      ['eq', (a, b) => a.eq(b), coarse, coarse], ['ne', (a, b) => a.ne(b), coarse, coarse], ['lt', (a, b) => a.lt(b), coarse, coarse],
      ['le', (a, b) => a.le(b), coarse, coarse], ['gt', (a, b) => a.gt(b), coarse, coarse], ['ge', (a, b) => a.ge(b), coarse, coarse],
      ['logicalAnd', (a, b) => a.logicalAnd(b), coarse, coarse], ['logicalOr', (a, b) => a.logicalOr(b), coarse, coarse], ['logicalXor', (a, b) => a.logicalXor(b), coarse, coarse],
      ['where', (a, b) => tz.where(a.gt(0), a, b)], ['clamp by tensors', (a, b) => tz.clamp(a, b, b.add(1))],
    ];
    it('covers every elementwise op of the op table', () => {
      const snake = (n: string) => n.replace(/ /g, '_').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      const names = new Set([...UNARY, ...BINARY].map(([n]) => snake(n)));
      for (const op of [...Object.keys(UNARY_TABLE), ...Object.keys(BINARY_TABLE)]) expect(names, op).toContain(op);
    });

    it('binary ops with broadcasting, forward and gradient', async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb().chain((s) => fc.tuple(fc.constant(s), partnerArb(s), fc.boolean())), layoutArb, seedArb, async ([sa, sb, swap], layout, seed) => {
          const [s1, s2] = swap ? [sb, sa] : [sa, sb];
          for (const [name, f, ma, mb] of BINARY) await parity(dev, name, [inp(s1, layout, seed, ma), inp(s2, 'dense', seed + 1, mb)], ([a, b]) => f(a!, b!));
        }),
        { ...RUNS, numRuns: 12 },
      );
    });

    it('integer and bool arithmetic, comparisons and scalars', async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(), layoutArb, seedArb, async (shape, layout, seed) => {
          const ints = (v: number) => Math.round(v * 3);
          const small = (v: number) => Math.round(Math.abs(v)) % 4;
          const a = inp(shape, layout, seed, ints, 'int32');
          const b = inp(shape, 'dense', seed + 1, (v) => awayFromZero(ints(v)) | 0 || 1, 'int32');
          const e = inp(shape, 'dense', seed + 2, small, 'int32');
          const ops: [string, (x: Tensor[]) => Tensor][] = [
            ['int add', ([x, y]) => x!.add(y!).mul(3).sub(1)], ['int maximum', ([x, y]) => x!.maximum(y!)], ['int remainder', ([x, y]) => tz.remainder(x!, y!)],
            ['int pow', ([x, , z]) => x!.pow(z!)], ['int div', ([x, y]) => x!.div(y!)], ['int neg abs sign', ([x]) => x!.neg().abs().add(x!.sign())],
            ['int compare', ([x, y]) => x!.lt(y!).logicalOr(x!.eq(y!))], ['bool ops', ([x, y]) => x!.gt(0).logicalXor(y!.gt(0)).maximum(x!.eq(0))],
            ['int to float', ([x]) => x!.float().mul(0.5)], ['int sum', ([x]) => x!.sum(-1)], ['bool sum', ([x]) => x!.gt(0).sum()],
            ['int cumsum', ([x]) => (x!.ndim ? x!.cumsum(-1) : x!)], ['int where', ([x, y]) => tz.where(x!.gt(y!), x!, 7)],
          ];
          for (const [name, f] of ops) await parity(dev, name, [a, b, e], f, { grad: false });
        }),
        RUNS,
      );
    });

    it('casts between float32, int32, bool, float16 and bfloat16', async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(), layoutArb, seedArb, async (shape, layout, seed) => {
          const x = inp(shape, layout, seed, (v) => v * 1000);
          for (const to of ['int32', 'bool', 'float16', 'bfloat16'] as const) {
            await parity(dev, `cast to ${to}`, [x], ([t]) => t!.to(to), { grad: false });
            await parity(dev, `cast to ${to} and back`, [x], ([t]) => t!.to(to).float(), { grad: to !== 'int32' && to !== 'bool' });
          }
          for (const from of ['float16', 'bfloat16'] as const) {
            await parity(dev, `${from} storage decoded in kernels`, [inp(shape, layout, seed, undefined, from)], ([t]) => [t!.exp(), t!.contiguous(), t!.to(from === 'float16' ? 'bfloat16' : 'float16')], { grad: false });
          }
        }),
        RUNS,
      );
    });
  });

  describe('reductions, scans, sorting', () => {
    it('sum, mean, prod, amax, amin, var, std, logsumexp over random dims (tree and per-thread kernels)', async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(1, 3), layoutArb, seedArb, fc.integer({ min: 0, max: 7 }), fc.boolean(), async (shape, layout, seed, mask, keep) => {
          const dims = shape.map((_, i) => i).filter((i) => (mask >> i) & 1);
          const nonEmpty = dims.every((d) => shape[d]! > 0) && (dims.length > 0 || numel(shape) > 0);
          const x = inp(shape, layout, seed);
          await parity(dev, 'sum', [x], ([t]) => t!.sum(dims, keep));
          await parity(dev, 'mean', [x], ([t]) => t!.mean(dims, keep), { grad: nonEmpty });
          await parity(dev, 'prod', [x], ([t]) => t!.prod(dims.length === 1 ? dims[0]! : null, keep));
          await parity(dev, 'var', [x], ([t]) => t!.var(dims, { keepdim: keep }), { grad: nonEmpty });
          await parity(dev, 'std', [x], ([t]) => t!.add(0).std(dims, { keepdim: keep }), { grad: false });
          await parity(dev, 'any/all', [inp(shape, layout, seed, coarse)], ([t]) => [t!.any(dims, keep), t!.all(dims, keep)], { grad: false });
          if (nonEmpty && numel(shape) > 0) {
            await parity(dev, 'amax', [x], ([t]) => t!.amax(dims, keep));
            await parity(dev, 'amin', [x], ([t]) => t!.amin(dims, keep));
            if (dims.length) await parity(dev, 'logsumexp', [x], ([t]) => t!.logsumexp(dims, keep));
          }
        }),
        RUNS,
      );
    });

    it('long rows (workgroup tree reductions), with NaN propagation', async () => {
      for (const len of [33, 300, 5000]) {
        await parity(dev, `sum ${len}`, [inp([3, len], 'dense', len)], ([t]) => [t!.sum(-1), t!.amax(-1), t!.argmin(-1), t!.softmax(-1), t!.cumsum(-1)], { fwd: { rtol: 1e-4, atol: 1e-4 } });
      }
      const nanRow = new Float32Array([1, NaN, 3, 2, NaN]);
      const c = tz.tensor(nanRow, { dtype: 'float64' });
      const g = tz.tensor(nanRow, { device: dev });
      await same(g.amax(), c.amax(), FWD, 'amax with NaN');
      await same(g.argmax(), c.argmax(), FWD, 'argmax with NaN');
      await same(g.sort(-1).indices, c.sort(-1).indices, FWD, 'sort with NaN');
      await same(g.sort(-1, true).indices, c.sort(-1, true).indices, FWD, 'descending sort with NaN');
    });

    it('max/min with indices, argmax/argmin, cumsum, sort, topk', async () => {
      await fc.assert(
        fc.asyncProperty(nonEmptyShape(), layoutArb, seedArb, fc.integer({ min: -3, max: 2 }), fc.boolean(), async (shape, layout, seed, d0, keep) => {
          const dim = ((d0 % shape.length) + shape.length) % shape.length;
          const x = inp(shape, layout, seed, coarse); // coarse values: ties exercise first-index and stability rules
          await parity(dev, 'max(dim)', [x], ([t]) => { const r = t!.max(dim, keep); return [r.values, r.indices]; });
          await parity(dev, 'min(dim)', [x], ([t]) => { const r = t!.min(dim, keep); return [r.values, r.indices]; });
          await parity(dev, 'argmax/argmin', [x], ([t]) => [t!.argmax(dim, keep), t!.argmin(), t!.argmax()], { grad: false });
          await parity(dev, 'cumsum', [inp(shape, layout, seed)], ([t]) => t!.cumsum(dim));
          await parity(dev, 'sort', [x], ([t]) => { const r = t!.sort(dim); return [r.values, r.indices]; });
          await parity(dev, 'sort descending', [x], ([t]) => { const r = t!.sort(dim, true); return [r.values, r.indices]; });
          const k = Math.min(2, shape[dim]!);
          await parity(dev, 'topk', [x], ([t]) => { const r = t!.topk(k, dim); return [r.values, r.indices]; });
        }),
        RUNS,
      );
    });
  });

  describe('matmul, nn, indexing, joins', () => {
    it('matmul: batched, broadcast, 1-D, transposed and sliced operands', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3 })),
          layoutArb, layoutArb, seedArb,
          async ([m, k, n, b], la, lb, seed) => {
            const batch = b === 0 ? [] : b === 1 ? [2] : b === 2 ? [3, 1] : [1];
            await parity(dev, 'matmul', [inp([...batch, m, k], la, seed), inp([k, n], lb, seed + 1)], ([x, y]) => x!.matmul(y!));
            await parity(dev, 'bmm', [inp([...batch, m, k], la, seed), inp([...batch, k, n], lb, seed + 1)], ([x, y]) => x!.matmul(y!));
            await parity(dev, 'matvec', [inp([m, k], la, seed), inp([k], 'dense', seed + 1)], ([x, y]) => x!.matmul(y!));
            await parity(dev, 'dot', [inp([k], 'dense', seed), inp([k], 'sliced', seed + 1)], ([x, y]) => x!.matmul(y!));
            await parity(dev, 'linear', [inp([m, k], la, seed), inp([n, k], lb, seed + 1), inp([n], 'dense', seed + 2)], ([x, w, bb]) => tz.linear(x!, w!, bb!));
          },
        ),
        RUNS,
      );
    });

    it('matmul across tile edges (65 x 70 x 67, batched, transposed)', async () => {
      const tol = { fwd: { rtol: 1e-4, atol: 1e-4 }, gradTol: { rtol: 1e-3, atol: 1e-3 } };
      await parity(dev, 'tiled matmul', [inp([2, 65, 70], 'dense', 1), inp([2, 70, 67], 'transposed', 2)], ([x, y]) => x!.matmul(y!), tol);
      await parity(dev, 'tiled matmul int', [inp([33, 17], 'dense', 3, (v) => Math.round(v * 3), 'int32'), inp([17, 40], 'dense', 4, (v) => Math.round(v * 3), 'int32')], ([x, y]) => x!.matmul(y!), { grad: false });
    });

    it('softmax, logSoftmax, layerNorm, attention (fused kernels)', async () => {
      await fc.assert(
        fc.asyncProperty(nonEmptyShape(1, 3), layoutArb, seedArb, fc.integer({ min: 0, max: 2 }), async (shape, layout, seed, d0) => {
          const dim = d0 % shape.length;
          const x = inp(shape, layout, seed);
          await parity(dev, 'softmax', [x], ([t]) => t!.softmax(dim));
          await parity(dev, 'logSoftmax', [x], ([t]) => t!.logSoftmax(dim));
          const nd = 1 + (d0 % shape.length);
          const ns = shape.slice(shape.length - nd);
          await parity(dev, 'layerNorm', [x, inp(ns, 'dense', seed + 1), inp(ns, 'dense', seed + 2)], ([t, w, b]) => tz.layerNorm(t!, ns, w, b));
          await parity(dev, 'layerNorm no affine', [x], ([t]) => tz.layerNorm(t!, ns));
          const L = shape[0]!;
          const E = shape[shape.length - 1]!;
          await parity(dev, 'attention', [inp([2, L, E], layout, seed), inp([2, L + 1, E], 'dense', seed + 3), inp([2, L + 1, E], 'dense', seed + 4)], ([q, k, v]) => tz.scaledDotProductAttention(q!, k!, v!));
          await parity(dev, 'causal attention', [inp([2, L, E], 'dense', seed), inp([2, L, E], 'dense', seed + 3), inp([2, L, E], 'dense', seed + 4)], ([q, k, v]) => tz.scaledDotProductAttention(q!, k!, v!, { isCausal: true }));
        }),
        RUNS,
      );
    });

    it('gather, scatterAdd, indexSelect, embedding, maskedFill, losses', async () => {
      await fc.assert(
        fc.asyncProperty(nonEmptyShape(1, 3), layoutArb, seedArb, async (shape, layout, seed) => {
          const dim = seed % shape.length;
          const size = shape[dim]!;
          const idxShape = shape.map((s, i) => (i === dim ? 3 : s));
          const index = inp(idxShape, 'dense', seed + 1, (v) => Math.abs(Math.round(v * 10)) % size, 'int32');
          const x = inp(shape, layout, seed);
          await parity(dev, 'gather', [x, index], ([t, i]) => t!.gather(dim, i!));
          await parity(dev, 'scatterAdd', [x, index, inp(idxShape, 'dense', seed + 2)], ([t, i, s]) => t!.scatterAdd(dim, i!, s!));
          const ids = inp([4], 'dense', seed + 3, (v) => Math.abs(Math.round(v * 10)) % size, 'int32');
          await parity(dev, 'indexSelect', [x, ids], ([t, i]) => t!.indexSelect(dim, i!));
          await parity(dev, 'embedding', [inp([size, 3], layout, seed), inp([2, 2], 'dense', seed + 4, (v) => Math.abs(Math.round(v * 10)) % size, 'int32')], ([w, i]) => tz.embedding(i!, w!));
          await parity(dev, 'maskedFill', [x, inp(shape, 'dense', seed + 5)], ([t, m]) => t!.maskedFill(m!.gt(0), -2));
          const C = shape[shape.length - 1]!;
          const rows = numel(shape.slice(0, -1));
          const logits = inp([rows, C], layout, seed);
          const target = inp([rows], 'dense', seed + 6, (v) => (Math.abs(Math.round(v * 10)) % (C + 1)) - (C > 1 ? 0 : 0), 'int32');
          await parity(dev, 'crossEntropy', [logits, target], ([l, t]) => tz.crossEntropy(l!, t!.minimum(C - 1), { labelSmoothing: 0.1 }));
          await parity(dev, 'crossEntropy (fused log-softmax + NLL)', [logits, target], ([l, t]) => [tz.crossEntropy(l!, t!.minimum(C - 1), { ignoreIndex: 0, reduction: 'sum' }), tz.crossEntropy(l!, t!.minimum(C - 1))]);
          await parity(dev, 'mseLoss', [x, inp(shape, 'dense', seed + 7)], ([a, b]) => tz.mseLoss(a!, b!));
          await parity(dev, 'bceWithLogits', [x, inp(shape, 'dense', seed + 8, (v) => (v > 0 ? 1 : 0))], ([a, b]) => tz.binaryCrossEntropyWithLogits(a!, b!));
        }),
        RUNS,
      );
    });

    it('adamStep_ (Adam and AdamW, in place)', async () => {
      await fc.assert(
        fc.asyncProperty(nonEmptyShape(1, 3), layoutArb, seedArb, fc.boolean(), fc.boolean(), async (shape, layout, seed, decoupled, maximize) => {
          const ins = [0, 1, 2, 3].map((k) => inp(shape, k === 0 ? layout : 'dense', seed + k));
          await parity(dev, 'adamStep_', ins, ([p, g, m, v]) => {
            const [P, M, V] = [p!.detach().clone(), m!.detach().clone(), v!.detach().square()];
            tz.adamStep_(P, g!.detach(), M, V, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled, maximize, step: 3 });
            return [P, M, V];
          }, { grad: false, fwd: { rtol: 1e-4, atol: 1e-5 } });
        }),
        RUNS,
      );
    });

    it('cat, stack, split, flip, pad, triu, tril, views, copy_', async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb(2, 3), layoutArb, seedArb, async (shape, layout, seed) => {
          const x = inp(shape, layout, seed);
          const y = inp(shape, 'dense', seed + 1);
          await parity(dev, 'cat', [x, y], ([a, b]) => tz.cat([a!, b!.mul(2)], 1));
          await parity(dev, 'stack', [x, y], ([a, b]) => tz.stack([a!, b!], -1));
          await parity(dev, 'split', [x], ([a]) => a!.split(1, 0).map((p) => p.mul(2)).reduce((s, p) => s.add(p.sum()), tz.zeros([], { device: a!.device })));
          await parity(dev, 'flip', [x], ([a]) => a!.flip([0, -1]));
          await parity(dev, 'pad', [x], ([a]) => tz.pad(a!, [1, 2, 0, 1], { value: 0.5 }));
          await parity(dev, 'triu/tril', [x], ([a]) => tz.triu(a!, 1).add(tz.tril(a!, -1)));
          await parity(dev, 'views', [x], ([a]) => a!.permute([1, 0, ...shape.slice(2).map((_, i) => i + 2)]).reshape(-1).contiguous().clone());
          await parity(dev, 'copy_', [x, y], ([a, b]) => { const o = tz.zeros(shape, { device: a!.device }); o.copy_(b!.detach()); o.narrow(0, 0, Math.min(1, shape[0]!)).copy_(a!.detach().narrow(0, 0, Math.min(1, shape[0]!))); return o; }, { grad: false });
          await parity(dev, 'bf16 cat', [inp(shape, layout, seed, undefined, 'bfloat16')], ([a]) => tz.cat([a!, a!], 0), { grad: false });
        }),
        RUNS,
      );
    });

    it('creation ops on the device', async () => {
      {
        await same(tz.arange(0, 7, 0.5, { device: dev }), tz.arange(0, 7, 0.5), FWD, 'arange float');
        await same(tz.arange(-3, 40, 3, { device: dev }), tz.arange(-3, 40, 3), FWD, 'arange int');
        await same(tz.full([2, 3], 2.5, { device: dev, dtype: 'bfloat16' }), tz.full([2, 3], 2.5, { dtype: 'bfloat16' }), FWD, 'full bf16');
        await same(tz.eye(3, 4, { device: dev }), tz.eye(3, 4), FWD, 'eye');
        await same(tz.linspace(0, 1, 5, { device: dev }), tz.linspace(0, 1, 5), FWD, 'linspace');
        await same(tz.zeros([3, 0, 2], { device: dev, dtype: 'bool' }), tz.zeros([3, 0, 2], { dtype: 'bool' }), FWD, 'empty');
        await same(tz.dropout(tz.ones([50], { device: dev }), 0.3, true, { generator: new tz.Generator(5) }), tz.dropout(tz.ones([50]), 0.3, true, { generator: new tz.Generator(5) }), FWD, 'dropout');
      }
    });
  });
  });
}
