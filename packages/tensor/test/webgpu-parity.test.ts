// WebGPU: the shared op parity suite (./parity.ts) on the 'webgpu' device; plus memory accounting, device errors,
// the GPU-specific semantics (async reads, index clamping, float64 refusal, limits) and the vec4 matmul path.
//
// Without an adapter the suite is skipped with one line saying why, unless TENSORZOO_REQUIRE_WEBGPU is set (CI), in
// which case the missing adapter is a failure.
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import { awayFromZero, close, FWD, inp, parity, paritySuite, positive, same, values } from './parity.js';
import { BINARY as BINARY_TABLE, boolResult, UNARY as UNARY_TABLE, type OpKind } from '../dist/backend/op-table.js';

type Tensor = tz.Tensor;

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

paritySuite({ name: 'webgpu', device: 'webgpu' }, suite);

suite('webgpu: device semantics and memory', () => {
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
    const before = tz.memory('webgpu');
    const l1 = step();
    const after = tz.memory('webgpu');
    l1.dispose();
    expect(after.numTensors).toBe(before.numTensors + 1); // the returned loss
    expect(tz.memory('webgpu').numTensors).toBe(before.numTensors);
    expect(tz.memory('webgpu').numBytes).toBe(before.numBytes);
    expect(before.pooledBuffers).toBeGreaterThan(0); // freed buffers are pooled for reuse
  });

  it('dispose returns buffers to the pool, and pipelines compile once per signature', async () => {
    const m0 = tz.memory('webgpu');
    const t = tz.ones([1000], { device: 'webgpu' });
    const u = t.exp();
    expect(tz.memory('webgpu').numTensors).toBe(m0.numTensors + 2);
    expect(tz.memory('webgpu').numBytes).toBe(m0.numBytes + 8000);
    const pipes = tz.memory('webgpu').pipelines;
    const v = tz.ones([7, 3], { device: 'webgpu' }).exp(); // another shape, same signature
    expect(tz.memory('webgpu').pipelines).toBe(pipes);
    t.dispose();
    u.dispose();
    v.dispose();
    expect(tz.memory('webgpu').numTensors).toBe(m0.numTensors + 1); // the ones([7, 3]) temporary was not disposed
    expect(tz.memory('webgpu').pooledBuffers).toBeGreaterThanOrEqual(3);
    tz.emptyCache('webgpu'); // as torch.cuda.empty_cache(): the free buffers go, live tensors stay
    expect(tz.memory('webgpu')).toMatchObject({ pooledBuffers: 0, pooledBytes: 0, numTensors: m0.numTensors + 1 });
    expect([...(await tz.ones([4], { device: 'webgpu' }).mul(2).data())]).toEqual([2, 2, 2, 2]);
  });

  it('ops record into one command buffer, submitted when the host reads (and freed buffers wait for it)', async () => {
    const { submitCount } = await import('../dist/backend/webgpu/index.js');
    await Promise.resolve(); // let a batch left by an earlier test submit
    const s0 = submitCount();
    let x = tz.ones([256], { device: 'webgpu' });
    for (let i = 0; i < 50; i++) {
      const y = x.mul(1.01).add(0.5);
      x.dispose(); // freed while the recorded kernels still read it: its buffer must not be rewritten before the submit
      x = y;
    }
    expect(submitCount()).toBe(s0);
    const v = await x.data();
    // the read submits the recorded work (a second submit may read the device-side index-check flags)
    expect(submitCount() - s0).toBeGreaterThanOrEqual(1);
    expect(submitCount() - s0).toBeLessThanOrEqual(2);
    let want = 1;
    for (let i = 0; i < 50; i++) want = Math.fround(Math.fround(want * Math.fround(1.01)) + 0.5);
    expect(v[0]).toBeCloseTo(want, 2);
    expect(Array.from(v).every((e) => e === v[0])).toBe(true);
    x.dispose();
  });

  it('a GPU tensor dropped without dispose() returns its buffer to the pool once collected', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'vitest runs with --expose-gc').toBeTypeOf('function');
    const settle = async () => {
      gc!();
      for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
    };
    await settle();
    const m0 = tz.memory('webgpu');
    (() => {
      for (let i = 0; i < 4; i++) tz.ones([2048], { device: 'webgpu' }).mul(2); // never disposed
    })();
    expect(tz.memory('webgpu').numTensors).toBeGreaterThanOrEqual(m0.numTensors + 8);
    await settle();
    const m1 = tz.memory('webgpu');
    expect(m1.numTensors).toBe(m0.numTensors);
    expect(m1.numBytes).toBe(m0.numBytes);
    expect(m1.pooledBuffers).toBeGreaterThan(m0.pooledBuffers);
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

  it('out-of-range indices fail the next read (gather, a device-side check) or are dropped (scatterAdd), never read out of bounds', async () => {
    const x = tz.tensor([10, 20, 30], { device: 'webgpu' });
    const i = tz.tensor([-5, 1, 7], { dtype: 'int32', device: 'webgpu' });
    const y = x.gather(0, i);
    await expect(y.data()).rejects.toThrow(/^gather: index -5 is out of range for a dimension of size 3 \(2 out-of-range indices .*device-side check/);
    expect(Array.from(await y.data())).toEqual([10, 20, 30]); // the flag is cleared once reported; values were clamped
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
    await parity('webgpu', 'vec4 bmm', [inp([3, 130, 68], 'dense', 11), inp([3, 68, 132], 'dense', 12)], ([x, y]) => x!.matmul(y!), tol);
    await parity('webgpu', 'vec4 broadcast', [inp([2, 37, 20], 'dense', 13), inp([20, 12], 'dense', 14)], ([x, y]) => x!.matmul(y!), tol);
    await parity('webgpu', 'vec4 expanded batch', [inp([2, 5, 8], 'dense', 15), inp([2, 8, 4], 'expanded', 16)], ([x, y]) => x!.matmul(y!), tol);
    await parity('webgpu', 'vec4 tiny', [inp([1, 4], 'dense', 17), inp([4, 4], 'dense', 18)], ([x, y]) => x!.matmul(y!), tol);
    await parity('webgpu', 'vec4 exact tiles', [inp([128, 64], 'dense', 19), inp([64, 256], 'dense', 20)], ([x, y]) => x!.matmul(y!), tol);
  });

  it('misaligned or strided operands fall back to the general kernel', async () => {
    // Column slice of A (offset 1, row stride 2K+1), odd N, transposed B, K not a multiple of 4.
    await parity('webgpu', 'sliced A', [inp([9, 8], 'sliced', 21), inp([8, 12], 'dense', 22)], ([x, y]) => x!.matmul(y!), tol);
    await parity('webgpu', 'odd N', [inp([9, 8], 'dense', 23), inp([8, 13], 'dense', 24)], ([x, y]) => x!.matmul(y!), tol);
    await parity('webgpu', 'transposed B', [inp([66, 12], 'dense', 25), inp([12, 68], 'transposed', 26)], ([x, y]) => x!.matmul(y!), tol);
    await parity('webgpu', 'odd K', [inp([9, 7], 'dense', 27), inp([7, 12], 'dense', 28)], ([x, y]) => x!.matmul(y!), tol);
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
