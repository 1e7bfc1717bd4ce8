// The fused decode-attention kernel (Backend.decodeAttention on webgpu) against the composite attention on the CPU:
// one query per head, grouped key/value heads, any cache length, head_dim 64 and odd sizes, strided inputs; and the
// cases that must keep the composite (a gradient, a mask, several queries).
import { expect, it } from 'vitest';
import { Generator, noGrad, ones, randn, scaledDotProductAttention } from '@tensorzoo/tensor';
import { dispatchCount, flushWebGPU } from '../packages/tensor/dist/backend/webgpu/index.js';
import { describeWebGPU, maxDiff } from './webgpu-suite.js';

describeWebGPU('scaledDotProductAttention: fused decode kernel on webgpu', () => {
  const g = new Generator(7);
  const cases: [number, number, number, number, number][] = [
    // batch, query heads, kv heads, kv length, head_dim
    [1, 4, 2, 1, 64], [1, 4, 2, 37, 64], [2, 8, 2, 200, 64], [1, 3, 3, 65, 17], [3, 6, 1, 130, 5], [1, 2, 1, 513, 96],
  ];
  for (const [B, hq, hk, S, E] of cases) {
    it(`equals the composite for q [${B},${hq},1,${E}], k/v [${B},${hk},${S},${E}] in one dispatch`, async () => {
      const q = randn([B, hq, 1, E], { generator: g });
      const k = randn([B, hk, S, E], { generator: g }).mul(2);
      const v = randn([B, hk, S, E], { generator: g });
      const want = scaledDotProductAttention(q, k, v, { enableGqa: true });
      const [qg, kg, vg] = [q.to('webgpu'), k.to('webgpu'), v.to('webgpu')];
      flushWebGPU();
      const d0 = dispatchCount();
      const got = noGrad(() => scaledDotProductAttention(qg, kg, vg, { enableGqa: true }));
      expect(dispatchCount() - d0).toBe(1);
      expect(got.shape).toEqual([B, hq, 1, E]);
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

  it('keeps the composite when a gradient is recorded, a mask is given or there are several queries', async () => {
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
    const mask = ones([1, 9], { dtype: 'bool' });
    const masked = noGrad(() => scaledDotProductAttention(q.to('webgpu'), k.to('webgpu'), v.to('webgpu'), { attnMask: mask.to('webgpu') }));
    expect(await maxDiff(masked, scaledDotProductAttention(q, k, v))).toBeLessThan(1e-5);
    const q3 = randn([1, 2, 3, 8], { generator: g });
    const causal = noGrad(() => scaledDotProductAttention(q3.to('webgpu'), k.to('webgpu'), v.to('webgpu'), { isCausal: true }));
    expect(await maxDiff(causal, scaledDotProductAttention(q3, k, v, { isCausal: true }))).toBeLessThan(1e-5);
  });
});
