// StaticCache with 16-bit keys and values ({ dtype: 'bfloat16' | 'float16' }): the buffers hold the dtype, the fused
// CPU decode attention reads them in place, and decoding stays within a stated tolerance of the float32 cache.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noGrad, tidy, type Tensor } from '@tensorzoo/tensor';
import { NemotronForCausalLM, StaticCache } from '@tensorzoo/nemotron';
import { FIXTURES } from './nemotron.helpers.js';

const GQA = join(FIXTURES, 'gqa');

function maxAbs(a: Tensor, b: Tensor): { diff: number; scale: number } {
  const [x, y] = [a.dataSync() as Float32Array, b.dataSync() as Float32Array];
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return { diff, scale };
}

describe('StaticCache dtype option (cpu)', () => {
  for (const dtype of ['bfloat16', 'float16'] as const) {
    it(`${dtype}: buffers of that dtype; decode logits within ${dtype === 'bfloat16' ? '2%' : '0.5%'} of the logits' range of the float32 cache`, async () => {
      const model = await NemotronForCausalLM.fromPretrained(GQA);
      const ids = [5, 9, 13, 2, 7, 31, 4, 11];
      const layers = model.config.num_hidden_layers;
      const half = new StaticCache(layers, 10, { dtype });
      const full = new StaticCache(layers, 10);
      const step = (c: StaticCache, t: number[]) =>
        tidy(() => noGrad(() => [model.forward({ inputIds: [t], pastKeyValues: c, useCache: true }).logits, c.layers] as const))[0];
      step(half, ids.slice(0, 3)).dispose();
      step(full, ids.slice(0, 3)).dispose();
      expect(half.layers[0]!.key.dtype).toBe(dtype);
      expect(half.layers[0]!.value.dtype).toBe(dtype);
      expect(full.layers[0]!.key.dtype).toBe('float32');
      for (let t = 3; t < 8; t++) {
        const got = step(half, [ids[t]!]);
        const want = step(full, [ids[t]!]);
        const { diff, scale } = maxAbs(got, want);
        expect(diff).toBeGreaterThan(0); // the keys and values were rounded
        expect(diff).toBeLessThan((dtype === 'bfloat16' ? 0.02 : 0.005) * scale);
        got.dispose();
        want.dispose();
      }
      half.dispose();
      full.dispose();
    });
  }

  it('generate({ cacheDtype }) decodes through a 16-bit static cache; a non-float dtype is refused', async () => {
    const model = await NemotronForCausalLM.fromPretrained(GQA);
    const out = (await model.generate([[5, 9, 13]], { maxNewTokens: 4, eosTokenId: null, cacheDtype: 'bfloat16' })).tolist() as number[][];
    expect(out[0]!.length).toBe(7);
    expect(out[0]!.slice(0, 3)).toEqual([5, 9, 13]);
    expect(() => new StaticCache(2, 4, { dtype: 'int32' })).toThrow(/floating dtype/);
  });
});
