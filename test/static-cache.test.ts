// StaticCache: a KV cache of fixed length written in place. Decoding through it gives the logits of full
// recomputation (and of DynamicCache) on the cpu and on webgpu; its buffers are allocated once; it refuses to overflow.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memory, noGrad, randn, tidy, type Device } from '@tensorzoo/tensor';
import { DynamicCache, NemotronForCausalLM, StaticCache } from '@tensorzoo/nemotron';
import { FIXTURES } from './nemotron.helpers.js';
import { webgpuSkipped } from './webgpu-suite.js';

const GQA = join(FIXTURES, 'gqa');

async function maxDiff(a: import('@tensorzoo/tensor').Tensor, b: import('@tensorzoo/tensor').Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(Number(x[i]) - Number(y[i])));
  return m;
}

for (const device of ['cpu', 'webgpu'] as Device[]) {
  describe.skipIf(device === 'webgpu' && webgpuSkipped)(`StaticCache (${device})`, () => {
    it('decodes to the logits of full recomputation and of DynamicCache, allocating its buffers once', async () => {
      const model = (await NemotronForCausalLM.fromPretrained(GQA)).to(device);
      const ids = [5, 9, 13, 2, 7, 31, 4, 11];
      // in tidy: the forward's intermediates must not linger until a collection changes the count below
      const full = tidy(() => noGrad(() => model.forward({ inputIds: [ids] }).logits));
      const cache = new StaticCache(model.config.num_hidden_layers, 10);
      const dynamic = new DynamicCache(model.config.num_hidden_layers);
      const step = (c: DynamicCache, t: number[]) =>
        tidy(() => noGrad(() => [model.forward({ inputIds: [t], pastKeyValues: c, useCache: true }).logits, c.layers] as const))[0];
      step(cache, ids.slice(0, 3)).dispose();
      step(dynamic, ids.slice(0, 3)).dispose();
      const live = memory(device).numTensors;
      for (let t = 3; t < 8; t++) {
        const got = step(cache, [ids[t]!]);
        const want = full.narrow(1, t, 1);
        expect(await maxDiff(got, want)).toBeLessThan(1e-5);
        const dyn = step(dynamic, [ids[t]!]);
        expect(await maxDiff(got, dyn)).toBeLessThan(1e-6);
        got.dispose();
        dyn.dispose();
      }
      expect(cache.getSeqLength()).toBe(8);
      expect(cache.layers[0]!.key.shape).toEqual([1, model.config.num_key_value_heads, 8, model.config.head_dim]);
      // the static buffers do not grow; each dynamic layer's key and value are replaced by new tensors of the same count
      expect(memory(device).numTensors).toBe(live);
      const before = memory(device).numTensors;
      cache.dispose();
      expect(memory(device).numTensors).toBe(before - 2 * model.config.num_hidden_layers);
      expect(cache.getSeqLength()).toBe(0);
      dynamic.dispose();
    });
  });
}

describe('StaticCache', () => {
  it('writes each update after the cached positions and refuses more than maxCacheLen', async () => {
    const cache = new StaticCache(1, 4);
    const a = randn([1, 2, 3, 5]);
    const b = randn([1, 2, 1, 5]);
    cache.update(a, a.neg(), 0);
    const { key, value } = cache.update(b, b.neg(), 0);
    expect(key.shape).toEqual([1, 2, 4, 5]);
    expect(await maxDiff(key.narrow(2, 0, 3), a)).toBe(0);
    expect(await maxDiff(key.narrow(2, 3, 1), b)).toBe(0);
    expect(await maxDiff(value.narrow(2, 3, 1), b.neg())).toBe(0);
    expect(() => cache.update(b, b, 0)).toThrow(/4 cached \+ 1 new positions exceed maxCacheLen 4/);
    expect(() => new StaticCache(1, 0)).toThrow(/maxCacheLen/);
    cache.dispose();
  });

  it('keeps its cpu buffers where the kernels read them in place (the wasm heap) and returns them on dispose', () => {
    const heap = () => memory('cpu').kernelBytes;
    const start = heap();
    const cache = new StaticCache(1, 64);
    const k = randn([1, 2, 1, 32]);
    cache.update(k, k, 0);
    const bytes = 2 * 2 * 64 * 32 * 4; // key and value buffers [1, 2, 64, 32] float32
    expect(heap() - start).toBeGreaterThanOrEqual(bytes);
    cache.dispose();
    expect(heap() - start).toBeLessThan(bytes);
  });
});
