// The fused attention kernel (Backend.attention on webgpu) against the attention on the CPU: one query per head
// (decoding) and several (a prompt, causal or not), grouped key/value heads, any cache length, head_dim 64 and odd
// sizes, strided inputs, masks shared by the heads; and the cases that must keep the composite (a gradient, a mask
// that differs between heads).
import { expect, it } from 'vitest';
import { Generator, noGrad, ones, randn, scaledDotProductAttention, tensor } from '@tensorzoo/tensor';
import { dispatchCount, flushWebGPU } from '../packages/tensor/dist/backend/webgpu/index.js';
import { setAttentionScratchBytes } from '../packages/tensor/dist/backend/webgpu/attention.js';
import { describeWebGPU, maxDiff } from './webgpu-suite.js';

describeWebGPU('scaledDotProductAttention: fused attention kernel on webgpu', () => {
  const g = new Generator(7);
  const cases: [number, number, number, number, number, number, boolean][] = [
    // batch, query heads, kv heads, queries, kv length, head_dim, causal
    [1, 4, 2, 1, 1, 64, false], [1, 4, 2, 1, 37, 64, false], [2, 8, 2, 1, 200, 64, false], [1, 3, 3, 1, 65, 17, false],
    [3, 6, 1, 1, 130, 5, false], [1, 2, 1, 1, 513, 96, false],
    [1, 4, 2, 37, 37, 64, true], [2, 6, 3, 5, 9, 8, true], [1, 2, 2, 12, 7, 8, true], [2, 4, 2, 6, 11, 17, false],
  ];
  for (const [B, hq, hk, L, S, E, causal] of cases) {
    it(`equals the cpu for q [${B},${hq},${L},${E}], k/v [${B},${hk},${S},${E}]${causal ? ', causal' : ''} in one dispatch`, async () => {
      const q = randn([B, hq, L, E], { generator: g });
      const k = randn([B, hk, S, E], { generator: g }).mul(2);
      const v = randn([B, hk, S, E], { generator: g });
      // the composite on the cpu (a gradient is recorded there), so the reference is not the kernel under test's twin
      const want = scaledDotProductAttention(q.clone().requiresGrad_(true), k, v, { enableGqa: true, isCausal: causal }).detach();
      const [qg, kg, vg] = [q.to('webgpu'), k.to('webgpu'), v.to('webgpu')];
      flushWebGPU();
      const d0 = dispatchCount();
      const got = noGrad(() => scaledDotProductAttention(qg, kg, vg, { enableGqa: true, isCausal: causal }));
      expect(dispatchCount() - d0).toBe(1);
      expect(got.shape).toEqual([B, hq, L, E]);
      expect(await maxDiff(got, want)).toBeLessThan(1e-5);
    });
  }

  it('reads strided views (a query transposed out of [b, s, heads, E], keys sliced from a longer buffer) and a custom scale', async () => {
    const q = randn([2, 1, 4, 16], { generator: g }).transpose(1, 2);
    const kAll = randn([2, 2, 50, 16], { generator: g });
    const k = kAll.narrow(2, 0, 31);
    const v = randn([2, 50, 2, 16], { generator: g }).transpose(1, 2).narrow(2, 0, 31);
    const want = scaledDotProductAttention(q, k, v, { enableGqa: true, scale: 0.3 });
    const got = noGrad(() => scaledDotProductAttention(q.to('webgpu'), k.to('webgpu'), v.to('webgpu'), { enableGqa: true, scale: 0.3 }));
    expect(await maxDiff(got, want)).toBeLessThan(1e-5);
    const [qg, kg, vg] = [q.to('webgpu'), kAll.to('webgpu').narrow(2, 0, 31), v.to('webgpu')];
    expect(await maxDiff(noGrad(() => scaledDotProductAttention(qg, kg, vg, { enableGqa: true, scale: 0.3 })), want)).toBeLessThan(1e-5);
  });

  it('takes several dispatches of query rows when the scores pass its scratch budget, with the same values', async () => {
    const q = randn([2, 4, 9, 8], { generator: g });
    const k = randn([2, 2, 9, 8], { generator: g });
    const v = randn([2, 2, 9, 8], { generator: g });
    const [qg, kg, vg] = [q.to('webgpu'), k.to('webgpu'), v.to('webgpu')];
    const whole = noGrad(() => scaledDotProductAttention(qg, kg, vg, { enableGqa: true, isCausal: true }));
    setAttentionScratchBytes(9 * 4 * 5); // 5 of the 72 rows per dispatch
    try {
      flushWebGPU();
      const d0 = dispatchCount();
      const got = noGrad(() => scaledDotProductAttention(qg, kg, vg, { enableGqa: true, isCausal: true }));
      expect(dispatchCount() - d0).toBe(Math.ceil(72 / 5));
      expect(await maxDiff(got, whole)).toBe(0);
    } finally {
      setAttentionScratchBytes(64 * 2 ** 20);
    }
  });

  it('adds a mask shared by the heads (bool padding, float [B, 1, L, S]) in the same dispatch', async () => {
    const q = randn([2, 4, 5, 8], { generator: g });
    const k = randn([2, 2, 9, 8], { generator: g });
    const v = randn([2, 2, 9, 8], { generator: g });
    const pad = tensor([[1, 1, 0, 1, 1, 1, 1, 0, 1], [0, 0, 1, 1, 1, 1, 1, 1, 1]]).eq(1).reshape(2, 1, 1, 9);
    for (const m of [pad, randn([2, 1, 5, 9], { generator: g })]) {
      const want = scaledDotProductAttention(q.clone().requiresGrad_(true), k, v, { enableGqa: true, attnMask: m }).detach();
      const [qg, kg, vg, mg] = [q.to('webgpu'), k.to('webgpu'), v.to('webgpu'), m.to('webgpu')];
      flushWebGPU();
      const d0 = dispatchCount();
      const got = noGrad(() => scaledDotProductAttention(qg, kg, vg, { enableGqa: true, attnMask: mg }));
      // the kernel, plus the bool mask's conversion to an additive one
      expect(dispatchCount() - d0).toBe(m.dtype === 'bool' ? 2 : 1);
      expect(await maxDiff(got, want)).toBeLessThan(1e-5);
    }
  });

  it('keeps the composite when a gradient is recorded or the mask differs between heads', async () => {
    const q = randn([1, 2, 1, 8], { generator: g });
    const k = randn([1, 2, 9, 8], { generator: g });
    const v = randn([1, 2, 9, 8], { generator: g });
    const qg = q.to('webgpu').requiresGrad_(true);
    flushWebGPU();
    const d0 = dispatchCount();
    const out = scaledDotProductAttention(qg, k.to('webgpu'), v.to('webgpu'));
    expect(dispatchCount() - d0).toBeGreaterThan(1);
    out.sum().backward();
    expect(qg.grad?.shape).toEqual([1, 2, 1, 8]);
    const mask = ones([2, 1, 9], { dtype: 'bool' }); // [heads, 1, S]: one row per head
    flushWebGPU();
    const d1 = dispatchCount();
    const masked = noGrad(() => scaledDotProductAttention(q.to('webgpu'), k.to('webgpu'), v.to('webgpu'), { attnMask: mask.to('webgpu') }));
    expect(dispatchCount() - d1).toBeGreaterThan(1);
    expect(await maxDiff(masked, scaledDotProductAttention(q, k, v))).toBeLessThan(1e-5);
  });
});
