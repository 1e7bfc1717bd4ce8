// Which attention a Nemotron forward runs, as transformers' sdpa path decides: a prompt with no padding and nothing
// cached before it goes to the fused kernel with isCausal (one call per layer, no mask tensor); padding, a filled
// cache and outputAttentions keep the eager additive mask. Both give the same logits.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cpuBackend, Generator, noGrad, randint, type Tensor } from '@tensorzoo/tensor';
import { DynamicCache, NemotronConfig, NemotronForCausalLM } from '@tensorzoo/nemotron';

const config = new NemotronConfig({ vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64 });
const model = new NemotronForCausalLM(config, { generator: new Generator(4) }).eval();
const ids = randint(0, 64, [2, 9], { generator: new Generator(5) });

function maxDiff(a: Tensor, b: Tensor): number {
  const [x, y] = [a.dataSync(), b.dataSync()];
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

describe('Nemotron prompt attention', () => {
  afterEach(() => vi.restoreAllMocks());

  it('a prompt runs the fused kernel, causal, once per layer, with the eager logits', () => {
    const spy = vi.spyOn(cpuBackend as Required<typeof cpuBackend>, 'attention');
    const fused = noGrad(() => model.forward({ inputIds: ids }).logits);
    expect(spy).toHaveBeenCalledTimes(config.num_hidden_layers);
    for (const call of spy.mock.calls) {
      expect(call[0].shape).toEqual([2, 4, 9, 8]);
      expect(call[4]).toBe(true); // causal
    }
    spy.mockClear();
    const eager = noGrad(() => model.forward({ inputIds: ids, outputAttentions: true }).logits);
    expect(spy).not.toHaveBeenCalled();
    expect(maxDiff(fused, eager)).toBeLessThan(1e-5);
  });

  it('padding and a filled cache keep the additive mask; the logits agree with the unpadded prompt', () => {
    const spy = vi.spyOn(cpuBackend as Required<typeof cpuBackend>, 'attention');
    const whole = noGrad(() => model.forward({ inputIds: ids }).logits);
    spy.mockClear();
    const mask = [[1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1]];
    const masked = noGrad(() => model.forward({ inputIds: ids, attentionMask: mask }).logits);
    expect(spy).not.toHaveBeenCalled();
    expect(maxDiff(masked, whole)).toBeLessThan(1e-5);
    // the first 5 tokens, then the last 4 against that cache: the second call sees past keys, so no isCausal
    const cache = new DynamicCache(config.num_hidden_layers);
    noGrad(() => model.forward({ inputIds: ids.narrow(1, 0, 5), pastKeyValues: cache, useCache: true }));
    spy.mockClear();
    const rest = noGrad(() => model.forward({ inputIds: ids.narrow(1, 5, 4), pastKeyValues: cache, useCache: true }).logits);
    expect(spy).not.toHaveBeenCalled();
    expect(maxDiff(rest, whole.narrow(1, 5, 4).contiguous())).toBeLessThan(1e-5);
  });
});
