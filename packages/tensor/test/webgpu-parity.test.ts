// The WebGPU parity suite: every op, forward and gradient, on the 'webgpu' device against the 'cpu' device, on random
// shapes (fast-check: size-0 and size-1 dims, broadcasting, non-contiguous views) at float32 tolerances; plus memory
// accounting, device errors and the GPU-specific semantics (async reads, index clamping, float64 refusal, limits).
//
// Without an adapter the suite is skipped with one line saying why, unless TENSORZOO_REQUIRE_WEBGPU is set (CI), in
// which case the missing adapter is a failure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import { BINARY as BINARY_TABLE, boolResult, UNARY as UNARY_TABLE, type OpKind } from '../dist/backend/op-table.js';

type Tensor = tz.Tensor;
type Dev = 'cpu' | 'webgpu';

let why = '';
try {
  await tz.initWebGPU();
} catch (e) {
  why = (e as Error).message;
}
const required = !!process.env.TENSORZOO_REQUIRE_WEBGPU;
if (why && !required) console.log(`webgpu parity suite skipped: ${why}`);
const suite = why ? describe.skip : describe;

if (why && required) {
  describe('webgpu', () => {
    it('finds an adapter (TENSORZOO_REQUIRE_WEBGPU is set)', () => {
      throw new Error(why);
    });
  });
}

const RUNS = { numRuns: 20, seed: 20240601 };

// ---------------- helpers ----------------

interface Tol { rtol: number; atol: number }
const FWD: Tol = { rtol: 2e-5, atol: 2e-6 };
const GRAD: Tol = { rtol: 2e-4, atol: 1e-4 };

function close(a: number, b: number, t: Tol): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= t.atol + t.rtol * Math.abs(b);
}

/** The webgpu tensor equals the cpu one: device, shape, dtype and values within tolerance. */
async function same(g: Tensor, c: Tensor, tol: Tol, what: string): Promise<void> {
  expect(g.device, what).toBe('webgpu');
  expect(g.shape, what).toEqual(c.shape);
  expect(g.dtype, what).toBe(c.dtype);
  const cv = c.dataSync();
  const gv = await g.data();
  for (let i = 0; i < cv.length; i++) {
    if (!close(gv[i]!, cv[i]!, tol)) throw new Error(`${what}: element ${i} of ${JSON.stringify(c.shape)}: webgpu ${gv[i]} vs cpu ${cv[i]}`);
  }
}

/** How an input tensor is laid out: dense, transposed (last two dims), strided slice, or broadcast by expand. */
type Layout = 'dense' | 'transposed' | 'sliced' | 'expanded';

interface Input {
  shape: number[];
  data: Float32Array;
  layout: Layout;
  dtype?: tz.DType;
}

/** A leaf tensor on `dev` (requiring grad when floating) and the view of it the op reads. */
function make(inp: Input, dev: Dev, grad: boolean): { leaf: Tensor; view: Tensor } {
  const dtype = inp.dtype ?? 'float32';
  const rg = grad && (dtype === 'float32');
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
 * Runs `f` on both devices from the same host inputs; compares every output, then (when `grad`) backpropagates
 * sum(out * w) with the same random w and compares the gradients of every float leaf.
 */
async function parity(what: string, inputs: Input[], f: (xs: Tensor[]) => Tensor | Tensor[], opts: { grad?: boolean; fwd?: Tol; gradTol?: Tol } = {}): Promise<void> {
  const grad = opts.grad ?? true;
  const run = (dev: Dev) => {
    const made = inputs.map((inp) => make(inp, dev, grad));
    const out = f(made.map((m) => m.view));
    return { made, outs: Array.isArray(out) ? out : [out] };
  };
  const c = run('cpu');
  const g = run('webgpu');
  for (let k = 0; k < c.outs.length; k++) await same(g.outs[k]!, c.outs[k]!, opts.fwd ?? FWD, `${what} (output ${k})`);
  if (!grad) return;
  const outC = c.outs[0]!;
  const outG = g.outs[0]!;
  if (!outC.requiresGrad) return;
  const w = new Float32Array(outC.numel()).map((_, i) => Math.sin(i * 1.7 + 0.3));
  const loss = (o: Tensor, dev: Dev) => tz.sum(o.mul(tz.tensor(w, { shape: o.shape, device: dev })));
  loss(outC, 'cpu').backward();
  loss(outG, 'webgpu').backward();
  for (let k = 0; k < inputs.length; k++) {
    const gc = c.made[k]!.leaf.grad;
    const gg = g.made[k]!.leaf.grad;
    if (!gc) continue;
    expect(gg, `${what}: grad of input ${k} missing on webgpu`).toBeTruthy();
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
function values(n: number, seed: number, map: (v: number) => number = (v) => v): Float32Array {
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
const inp = (shape: number[], layout: Layout, seed: number, map?: (v: number) => number, dtype?: tz.DType): Input => ({ shape, layout, data: values(BIG + 3 * numel(shape), seed, map), dtype });

const positive = (v: number) => Math.abs(v) + 0.25;
const awayFromZero = (v: number) => (v < 0 ? v - 0.5 : v + 0.5);
const coarse = (v: number) => Math.round(v * 2) / 2;

/** Broadcast partner of a shape: some dims set to 1, possibly fewer leading dims. */
const partnerArb = (shape: number[]) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), fc.integer({ min: 0, max: shape.length })).map(([ones, drop]) =>
    shape.map((d, i) => (ones[i] ? 1 : d)).slice(drop),
  );

// ---------------- the suite ----------------

suite('webgpu parity: elementwise', () => {
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
        for (const [name, f, map] of UNARY) await parity(name, [inp(shape, layout, seed, map)], ([x]) => f(x!));
      }),
      { ...RUNS, numRuns: 12 },
    );
  });

  // Every op of the table, straight through the backend interface, against the table's float64 reference.
  const DOMAIN: Record<string, [((v: number) => number)?, ((v: number) => number)?]> = {
    log: [positive], log1p: [positive], sqrt: [positive], rsqrt: [positive], reciprocal: [awayFromZero],
    pow: [positive], div: [undefined, awayFromZero], remainder: [undefined, awayFromZero],
  };
  it('every op table row: the WGSL expression agrees with the reference (float32 and int32)', async () => {
    const gpu = tz.getBackend('webgpu');
    const check = async (op: string, dt: tz.DType, ins: Float32Array[], kind: OpKind, ref: (...x: number[]) => number, run: (vs: tz.View[], out: tz.DType) => tz.Storage) => {
      const n = ins[0]!.length;
      const vals = ins.map((v) => (dt === 'int32' ? Int32Array.from(v, (x) => Math.round(x * 3)) : v));
      const views = vals.map((v) => ({ storage: gpu.upload(dt, v), shape: [n], strides: [1], offset: 0 }));
      const outDt: tz.DType = boolResult(kind) ? 'bool' : dt;
      const out = run(views, outDt);
      const got = await gpu.read(out);
      for (const v of views) v.storage.dispose();
      out.dispose();
      const want = outDt === 'bool' ? new Uint8Array(n) : dt === 'int32' ? new Int32Array(n) : new Float32Array(n);
      for (let i = 0; i < n; i++) want[i] = ref(...vals.map((v) => v[i]!));
      for (let i = 0; i < n; i++) {
        if (!close(got[i]!, want[i]!, FWD)) throw new Error(`${op} (${dt}) at ${vals.map((v) => v[i]).join(', ')}: webgpu ${got[i]}, reference ${want[i]}`);
      }
    };
    for (const [op, row] of Object.entries(UNARY_TABLE)) {
      const x = values(512, 3 + op.length, DOMAIN[op]?.[0]);
      x.set([0, -0, 1, -1, 0.5, -2.5, 4, -6]);
      if (op === 'isnan' || op === 'isinf' || op === 'isfinite') x.set([NaN, Infinity, -Infinity], 8);
      for (const dt of row.wgsl.i32 ? ['float32', 'int32'] as const : ['float32'] as const) {
        await check(op, dt, [x], row.kind, row.ref, ([v], out) => gpu.unary(op as tz.UnaryOp, v!, out));
      }
    }
    for (const [op, row] of Object.entries(BINARY_TABLE)) {
      const a = values(512, 5 + op.length, DOMAIN[op]?.[0]);
      const b = values(512, 6 + op.length, DOMAIN[op]?.[1]);
      b.set(a.subarray(0, 64)); // ties
      for (const dt of row.wgsl.i32 ? ['float32', 'int32'] as const : ['float32'] as const) {
        // int32 inputs are round(3v): exponents 0..3 (no overflow), divisors away from 0
        const bi = dt === 'int32' && op === 'pow' ? b.map((v) => (Math.round(Math.abs(v)) % 4) / 3) : dt === 'int32' && op === 'remainder' ? b.map(awayFromZero) : b;
        await check(op, dt, [a, bi], row.kind, row.ref, ([u, v], out) => gpu.binary(op as tz.BinaryOp, u!, v!, out));
      }
    }
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
  it('binary ops with broadcasting, forward and gradient', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb().chain((s) => fc.tuple(fc.constant(s), partnerArb(s), fc.boolean())), layoutArb, seedArb, async ([sa, sb, swap], layout, seed) => {
        const [s1, s2] = swap ? [sb, sa] : [sa, sb];
        for (const [name, f, ma, mb] of BINARY) await parity(name, [inp(s1, layout, seed, ma), inp(s2, 'dense', seed + 1, mb)], ([a, b]) => f(a!, b!));
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
        for (const [name, f] of ops) await parity(name, [a, b, e], f, { grad: false });
      }),
      RUNS,
    );
  });

  it('casts between float32, int32, bool, float16 and bfloat16', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(), layoutArb, seedArb, async (shape, layout, seed) => {
        const x = inp(shape, layout, seed, (v) => v * 1000);
        for (const to of ['int32', 'bool', 'float16', 'bfloat16'] as const) {
          await parity(`cast to ${to}`, [x], ([t]) => t!.to(to), { grad: false });
          await parity(`cast to ${to} and back`, [x], ([t]) => t!.to(to).float(), { grad: to !== 'int32' && to !== 'bool' });
        }
        for (const from of ['float16', 'bfloat16'] as const) {
          await parity(`${from} storage decoded in kernels`, [inp(shape, layout, seed, undefined, from)], ([t]) => [t!.exp(), t!.contiguous(), t!.to(from === 'float16' ? 'bfloat16' : 'float16')], { grad: false });
        }
      }),
      RUNS,
    );
  });
});

suite('webgpu parity: reductions, scans, sorting', () => {
  it('sum, mean, prod, amax, amin, var, std, logsumexp over random dims (tree and per-thread kernels)', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 3), layoutArb, seedArb, fc.integer({ min: 0, max: 7 }), fc.boolean(), async (shape, layout, seed, mask, keep) => {
        const dims = shape.map((_, i) => i).filter((i) => (mask >> i) & 1);
        const nonEmpty = dims.every((d) => shape[d]! > 0) && (dims.length > 0 || numel(shape) > 0);
        const x = inp(shape, layout, seed);
        await parity('sum', [x], ([t]) => t!.sum(dims, keep));
        await parity('mean', [x], ([t]) => t!.mean(dims, keep), { grad: nonEmpty });
        await parity('prod', [x], ([t]) => t!.prod(dims.length === 1 ? dims[0]! : null, keep));
        await parity('var', [x], ([t]) => t!.var(dims, { keepdim: keep }), { grad: nonEmpty });
        await parity('std', [x], ([t]) => t!.add(0).std(dims, { keepdim: keep }), { grad: false });
        await parity('any/all', [inp(shape, layout, seed, coarse)], ([t]) => [t!.any(dims, keep), t!.all(dims, keep)], { grad: false });
        if (nonEmpty && numel(shape) > 0) {
          await parity('amax', [x], ([t]) => t!.amax(dims, keep));
          await parity('amin', [x], ([t]) => t!.amin(dims, keep));
          if (dims.length) await parity('logsumexp', [x], ([t]) => t!.logsumexp(dims, keep));
        }
      }),
      RUNS,
    );
  });

  it('long rows (workgroup tree reductions), with NaN propagation', async () => {
    for (const len of [33, 300, 5000]) {
      await parity(`sum ${len}`, [inp([3, len], 'dense', len)], ([t]) => [t!.sum(-1), t!.amax(-1), t!.argmin(-1), t!.softmax(-1), t!.cumsum(-1)], { fwd: { rtol: 1e-4, atol: 1e-4 } });
    }
    const nanRow = new Float32Array([1, NaN, 3, 2, NaN]);
    for (const dev of ['cpu', 'webgpu'] as const) void dev;
    const c = tz.tensor(nanRow);
    const g = tz.tensor(nanRow, { device: 'webgpu' });
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
        await parity('max(dim)', [x], ([t]) => { const r = t!.max(dim, keep); return [r.values, r.indices]; });
        await parity('min(dim)', [x], ([t]) => { const r = t!.min(dim, keep); return [r.values, r.indices]; });
        await parity('argmax/argmin', [x], ([t]) => [t!.argmax(dim, keep), t!.argmin(), t!.argmax()], { grad: false });
        await parity('cumsum', [inp(shape, layout, seed)], ([t]) => t!.cumsum(dim));
        await parity('sort', [x], ([t]) => { const r = t!.sort(dim); return [r.values, r.indices]; });
        await parity('sort descending', [x], ([t]) => { const r = t!.sort(dim, true); return [r.values, r.indices]; });
        const k = Math.min(2, shape[dim]!);
        await parity('topk', [x], ([t]) => { const r = t!.topk(k, dim); return [r.values, r.indices]; });
      }),
      RUNS,
    );
  });
});

suite('webgpu parity: matmul, nn, indexing, joins', () => {
  it('matmul: batched, broadcast, 1-D, transposed and sliced operands', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3 })),
        layoutArb, layoutArb, seedArb,
        async ([m, k, n, b], la, lb, seed) => {
          const batch = b === 0 ? [] : b === 1 ? [2] : b === 2 ? [3, 1] : [1];
          await parity('matmul', [inp([...batch, m, k], la, seed), inp([k, n], lb, seed + 1)], ([x, y]) => x!.matmul(y!));
          await parity('bmm', [inp([...batch, m, k], la, seed), inp([...batch, k, n], lb, seed + 1)], ([x, y]) => x!.matmul(y!));
          await parity('matvec', [inp([m, k], la, seed), inp([k], 'dense', seed + 1)], ([x, y]) => x!.matmul(y!));
          await parity('dot', [inp([k], 'dense', seed), inp([k], 'sliced', seed + 1)], ([x, y]) => x!.matmul(y!));
          await parity('linear', [inp([m, k], la, seed), inp([n, k], lb, seed + 1), inp([n], 'dense', seed + 2)], ([x, w, bb]) => tz.linear(x!, w!, bb!));
        },
      ),
      RUNS,
    );
  });

  it('matmul across tile edges (65 x 70 x 67, batched, transposed)', async () => {
    const tol = { fwd: { rtol: 1e-4, atol: 1e-4 }, gradTol: { rtol: 1e-3, atol: 1e-3 } };
    await parity('tiled matmul', [inp([2, 65, 70], 'dense', 1), inp([2, 70, 67], 'transposed', 2)], ([x, y]) => x!.matmul(y!), tol);
    await parity('tiled matmul int', [inp([33, 17], 'dense', 3, (v) => Math.round(v * 3), 'int32'), inp([17, 40], 'dense', 4, (v) => Math.round(v * 3), 'int32')], ([x, y]) => x!.matmul(y!), { grad: false });
  });

  it('softmax, logSoftmax, layerNorm, attention (fused kernels)', async () => {
    await fc.assert(
      fc.asyncProperty(nonEmptyShape(1, 3), layoutArb, seedArb, fc.integer({ min: 0, max: 2 }), async (shape, layout, seed, d0) => {
        const dim = d0 % shape.length;
        const x = inp(shape, layout, seed);
        await parity('softmax', [x], ([t]) => t!.softmax(dim));
        await parity('logSoftmax', [x], ([t]) => t!.logSoftmax(dim));
        const nd = 1 + (d0 % shape.length);
        const ns = shape.slice(shape.length - nd);
        await parity('layerNorm', [x, inp(ns, 'dense', seed + 1), inp(ns, 'dense', seed + 2)], ([t, w, b]) => tz.layerNorm(t!, ns, w, b));
        await parity('layerNorm no affine', [x], ([t]) => tz.layerNorm(t!, ns));
        const L = shape[0]!;
        const E = shape[shape.length - 1]!;
        await parity('attention', [inp([2, L, E], layout, seed), inp([2, L + 1, E], 'dense', seed + 3), inp([2, L + 1, E], 'dense', seed + 4)], ([q, k, v]) => tz.scaledDotProductAttention(q!, k!, v!));
        await parity('causal attention', [inp([2, L, E], 'dense', seed), inp([2, L, E], 'dense', seed + 3), inp([2, L, E], 'dense', seed + 4)], ([q, k, v]) => tz.scaledDotProductAttention(q!, k!, v!, { isCausal: true }));
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
        await parity('gather', [x, index], ([t, i]) => t!.gather(dim, i!));
        await parity('scatterAdd', [x, index, inp(idxShape, 'dense', seed + 2)], ([t, i, s]) => t!.scatterAdd(dim, i!, s!));
        const ids = inp([4], 'dense', seed + 3, (v) => Math.abs(Math.round(v * 10)) % size, 'int32');
        await parity('indexSelect', [x, ids], ([t, i]) => t!.indexSelect(dim, i!));
        await parity('embedding', [inp([size, 3], layout, seed), inp([2, 2], 'dense', seed + 4, (v) => Math.abs(Math.round(v * 10)) % size, 'int32')], ([w, i]) => tz.embedding(i!, w!));
        await parity('maskedFill', [x, inp(shape, 'dense', seed + 5)], ([t, m]) => t!.maskedFill(m!.gt(0), -2));
        const C = shape[shape.length - 1]!;
        const rows = numel(shape.slice(0, -1));
        const logits = inp([rows, C], layout, seed);
        const target = inp([rows], 'dense', seed + 6, (v) => (Math.abs(Math.round(v * 10)) % (C + 1)) - (C > 1 ? 0 : 0), 'int32');
        await parity('crossEntropy', [logits, target], ([l, t]) => tz.crossEntropy(l!, t!.minimum(C - 1), { labelSmoothing: 0.1 }));
        await parity('mseLoss', [x, inp(shape, 'dense', seed + 7)], ([a, b]) => tz.mseLoss(a!, b!));
        await parity('bceWithLogits', [x, inp(shape, 'dense', seed + 8, (v) => (v > 0 ? 1 : 0))], ([a, b]) => tz.binaryCrossEntropyWithLogits(a!, b!));
      }),
      RUNS,
    );
  });

  it('cat, stack, split, flip, pad, triu, tril, views, copy_', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(2, 3), layoutArb, seedArb, async (shape, layout, seed) => {
        const x = inp(shape, layout, seed);
        const y = inp(shape, 'dense', seed + 1);
        await parity('cat', [x, y], ([a, b]) => tz.cat([a!, b!.mul(2)], 1));
        await parity('stack', [x, y], ([a, b]) => tz.stack([a!, b!], -1));
        await parity('split', [x], ([a]) => a!.split(1, 0).map((p) => p.mul(2)).reduce((s, p) => s.add(p.sum()), tz.zeros([], { device: a!.device })));
        await parity('flip', [x], ([a]) => a!.flip([0, -1]));
        await parity('pad', [x], ([a]) => tz.pad(a!, [1, 2, 0, 1], { value: 0.5 }));
        await parity('triu/tril', [x], ([a]) => tz.triu(a!, 1).add(tz.tril(a!, -1)));
        await parity('views', [x], ([a]) => a!.permute([1, 0, ...shape.slice(2).map((_, i) => i + 2)]).reshape(-1).contiguous().clone());
        await parity('copy_', [x, y], ([a, b]) => { const o = tz.zeros(shape, { device: a!.device }); o.copy_(b!.detach()); o.narrow(0, 0, Math.min(1, shape[0]!)).copy_(a!.detach().narrow(0, 0, Math.min(1, shape[0]!))); return o; }, { grad: false });
        await parity('bf16 cat', [inp(shape, layout, seed, undefined, 'bfloat16')], ([a]) => tz.cat([a!, a!], 0), { grad: false });
      }),
      RUNS,
    );
  });

  it('creation ops on the device', async () => {
    for (const dev of ['webgpu'] as const) {
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

suite('webgpu: device semantics and memory', () => {
  it('a training step inside tidy leaves the live tensor count unchanged', async () => {
    const g = new tz.Generator(3);
    const w = tz.randn([8, 4], { generator: g, device: 'webgpu', requiresGrad: true });
    const b = tz.zeros([4], { device: 'webgpu', requiresGrad: true });
    const x = tz.randn([16, 8], { generator: g, device: 'webgpu' });
    const y = tz.randint(0, 4, [16], { generator: g, device: 'webgpu' });
    const step = () =>
      tz.tidy(() => {
        for (const p of [w, b]) {
          p.grad?.dispose();
          p.grad = null;
        }
        const logits = tz.layerNorm(tz.linear(x, w.t(), b).relu(), [4]);
        const loss = tz.crossEntropy(logits.softmax(-1).log(), y);
        loss.backward();
        tz.noGrad(() => {
          w.copy_(w.sub(w.grad!.mul(0.1)));
          b.copy_(b.sub(b.grad!.mul(0.1)));
        });
        return loss.detach();
      });
    (await step().data()).length;
    const before = tz.memory();
    const l1 = step();
    const after = tz.memory();
    l1.dispose();
    expect(after.numTensors).toBe(before.numTensors + 1); // the returned loss
    expect(tz.memory().numTensors).toBe(before.numTensors);
    expect(tz.memory().numBytes).toBe(before.numBytes);
    expect(before.pooledBuffers).toBeGreaterThan(0); // freed buffers are pooled for reuse
    expect(tz.memory('cpu').tracked).toBe(false);
  });

  it('dispose returns buffers to the pool, and pipelines compile once per signature', async () => {
    const m0 = tz.memory();
    const t = tz.ones([1000], { device: 'webgpu' });
    const u = t.exp();
    expect(tz.memory().numTensors).toBe(m0.numTensors + 2);
    expect(tz.memory().numBytes).toBe(m0.numBytes + 8000);
    const pipes = tz.memory().pipelines;
    const v = tz.ones([7, 3], { device: 'webgpu' }).exp(); // another shape, same signature
    expect(tz.memory().pipelines).toBe(pipes);
    t.dispose();
    u.dispose();
    v.dispose();
    expect(tz.memory().numTensors).toBe(m0.numTensors + 1); // the ones([7, 3]) temporary was not disposed
  });

  it('mixing devices in one op is an error naming both', () => {
    const a = tz.ones([2], { device: 'webgpu' });
    const c = tz.ones([2]);
    expect(() => a.add(c)).toThrow(/'webgpu'.*'cpu'|'cpu'.*'webgpu'/);
    expect(() => tz.matmul(c.reshape([1, 2]), a.reshape([2, 1]))).toThrow(/'cpu' and 'webgpu'/);
  });

  it('reads are asynchronous: dataSync, item and to("cpu") name the async alternative; cpu() moves back', async () => {
    const a = tz.tensor([[1.5, -2], [3, 4]], { device: 'webgpu', requiresGrad: true });
    expect(() => a.dataSync()).toThrow("dataSync: tensors on 'webgpu' can only be read asynchronously; use await t.data()");
    expect(() => a.sum().item()).toThrow(/asynchronously/);
    expect(() => a.to('cpu')).toThrow(/await t\.cpu\(\)/);
    const c = await a.t().cpu();
    expect(c.device).toBe('cpu');
    expect(c.tolist()).toEqual([[1.5, 3], [-2, 4]]);
    tz.sum(c.mul(tz.tensor([[1, 2], [3, 4]]))).backward();
    expect(await a.grad!.data()).toEqual(new Float32Array([1, 3, 2, 4]));
    const moved = tz.tensor([1, 2, 3], { dtype: 'bfloat16' }).to('webgpu');
    expect(moved.device).toBe('webgpu');
    expect(await (await moved.cpu()).data()).toEqual(new Float32Array([1, 2, 3]));
  });

  it('float64 is refused with an error naming the op', () => {
    expect(() => tz.ones([2], { device: 'webgpu' }).double()).toThrow(/cast.*float64 is not supported on 'webgpu'/);
    expect(() => tz.tensor([1, 2], { dtype: 'float64', device: 'webgpu' })).toThrow(/float64 is not supported on 'webgpu'/);
  });

  it('out-of-range indices are clamped (gather) or dropped (scatterAdd), never read out of bounds', async () => {
    const x = tz.tensor([10, 20, 30], { device: 'webgpu' });
    const i = tz.tensor([-5, 1, 7], { dtype: 'int32', device: 'webgpu' });
    expect(Array.from(await x.gather(0, i).data())).toEqual([10, 20, 30]);
    expect(Array.from(await tz.zeros([3], { device: 'webgpu' }).scatterAdd(0, i, tz.ones([3], { device: 'webgpu' })).data())).toEqual([0, 1, 0]);
  });

  it('buffers beyond the adapter limits are refused with a clear error', async () => {
    const info = await tz.initWebGPU();
    const n = Math.floor(Math.min(info.limits.maxStorageBufferBindingSize, info.limits.maxBufferSize) / 4) + 1;
    expect(() => tz.zeros([n], { device: 'webgpu' })).toThrow(/zeros: a webgpu buffer of \d+ bytes exceeds the adapter's limit.*maxStorageBufferBindingSize/);
  });
});

// ---------------- the vec4 matmul path ----------------

suite('webgpu parity: vec4 matmul', () => {
  const tol = { fwd: { rtol: 1e-4, atol: 1e-4 }, gradTol: { rtol: 1e-3, atol: 1e-3 } };

  it('aligned float32 operands (K, N multiples of 4): edge tiles, K tails, batch, broadcast, gradients', async () => {
    // M and N not multiples of any tile, K not a multiple of BK; the gradients run a @ g^T and a^T @ g through both paths.
    await parity('vec4 bmm', [inp([3, 130, 68], 'dense', 11), inp([3, 68, 132], 'dense', 12)], ([x, y]) => x!.matmul(y!), tol);
    await parity('vec4 broadcast', [inp([2, 37, 20], 'dense', 13), inp([20, 12], 'dense', 14)], ([x, y]) => x!.matmul(y!), tol);
    await parity('vec4 expanded batch', [inp([2, 5, 8], 'dense', 15), inp([2, 8, 4], 'expanded', 16)], ([x, y]) => x!.matmul(y!), tol);
    await parity('vec4 tiny', [inp([1, 4], 'dense', 17), inp([4, 4], 'dense', 18)], ([x, y]) => x!.matmul(y!), tol);
    await parity('vec4 exact tiles', [inp([128, 64], 'dense', 19), inp([64, 256], 'dense', 20)], ([x, y]) => x!.matmul(y!), tol);
  });

  it('misaligned or strided operands fall back to the general kernel', async () => {
    // Column slice of A (offset 1, row stride 2K+1), odd N, transposed B, K not a multiple of 4.
    await parity('sliced A', [inp([9, 8], 'sliced', 21), inp([8, 12], 'dense', 22)], ([x, y]) => x!.matmul(y!), tol);
    await parity('odd N', [inp([9, 8], 'dense', 23), inp([8, 13], 'dense', 24)], ([x, y]) => x!.matmul(y!), tol);
    await parity('transposed B', [inp([66, 12], 'dense', 25), inp([12, 68], 'transposed', 26)], ([x, y]) => x!.matmul(y!), tol);
    await parity('odd K', [inp([9, 7], 'dense', 27), inp([7, 12], 'dense', 28)], ([x, y]) => x!.matmul(y!), tol);
    // Offsets: a row slice keeps 16-byte alignment (offset 2*K), a column slice by 1 loses it.
    const run = async (f: (a: Tensor, b: Tensor) => Tensor) => {
      const ah = values(70 * 16, 29);
      const bh = values(16 * 20, 30);
      const c = f(tz.tensor(ah, { shape: [70, 16] }), tz.tensor(bh, { shape: [16, 20] }));
      const g = f(tz.tensor(ah, { shape: [70, 16], device: 'webgpu' }), tz.tensor(bh, { shape: [16, 20], device: 'webgpu' }));
      await same(g, c, tol.fwd, 'offset views');
    };
    await run((a, b) => a.slice(0, 2, 67).matmul(b));
    await run((a, b) => a.slice(1, 1, 13).matmul(b.slice(0, 1, 13)));
    await run((a, b) => a.slice(1, 4, 16).matmul(b.slice(0, 4, 16).slice(1, 4, 20)));
  });

  it('every vec4 tile shape matches the scalar kernel and the cpu', async () => {
    const { webgpuMatmul } = await import('../dist/backend/webgpu/index.js');
    const configs = [
      // the software and hardware defaults; the A tile load not dividing among 256 threads; odd per-thread rows, BK 12
      { WX: 8, WY: 8, TM: 16, TN4: 4, BK: 8 }, { WX: 16, WY: 16, TM: 4, TN4: 1, BK: 16 }, { WX: 16, WY: 16, TM: 4, TN4: 1, BK: 8 },
      { WX: 4, WY: 8, TM: 3, TN4: 2, BK: 12 },
    ];
    for (const [B, M, K, N] of [[2, 67, 36, 44], [1, 130, 8, 260], [3, 1, 4, 4]] as const) {
      const ah = values(B * M * K, M + K);
      const bh = values(B * K * N, K + N);
      const want = tz.matmul(tz.tensor(ah, { shape: [B, M, K] }), tz.tensor(bh, { shape: [B, K, N] }));
      const a = tz.tensor(ah, { shape: [B, M, K], device: 'webgpu' });
      const b = tz.tensor(bh, { shape: [B, K, N], device: 'webgpu' });
      for (const v of [...configs, false as const]) {
        const out = new tz.Tensor(webgpuMatmul(a, b, 'float32', { vec4: v }), [B, M, N]);
        await same(out, want, tol.fwd, `vec4 ${JSON.stringify(v)} at ${B}x${M}x${K}x${N}`);
      }
    }
  });
});
