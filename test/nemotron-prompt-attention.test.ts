// Which attention a Nemotron forward runs, as transformers' sdpa path decides: a prompt with no padding and nothing
// cached before it goes to the fused kernel with isCausal (one call per layer, no mask tensor); padding and a filled
// cache give the kernel the additive mask; outputAttentions runs the eager attention. All give the same logits.
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

  it('padding and a filled cache give the fused kernel the additive mask; the logits agree with the unpadded prompt', () => {
    const spy = vi.spyOn(cpuBackend as Required<typeof cpuBackend>, 'attention');
    const whole = noGrad(() => model.forward({ inputIds: ids }).logits);
    spy.mockClear();
    const mask = [[1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1]];
    const masked = noGrad(() => model.forward({ inputIds: ids, attentionMask: mask }).logits);
    expect(spy).toHaveBeenCalledTimes(config.num_hidden_layers);
    for (const call of spy.mock.calls) {
      expect(call[4]).toBe(false);
      expect(call[5]?.shape).toEqual([2, 1, 9, 9]);
    }
    expect(maxDiff(masked, whole)).toBeLessThan(1e-5);
    // the first 5 tokens, then the last 4 against that cache: the second call sees past keys, so a mask, not isCausal
    const cache = new DynamicCache(config.num_hidden_layers);
    noGrad(() => model.forward({ inputIds: ids.narrow(1, 0, 5), pastKeyValues: cache, useCache: true }));
    spy.mockClear();
    const rest = noGrad(() => model.forward({ inputIds: ids.narrow(1, 5, 4), pastKeyValues: cache, useCache: true }).logits);
    expect(spy).toHaveBeenCalledTimes(config.num_hidden_layers);
    expect(spy.mock.calls[0]![5]?.shape).toEqual([2, 1, 4, 9]);
    expect(maxDiff(rest, whole.narrow(1, 5, 4).contiguous())).toBeLessThan(1e-5);
  });

  it('left padding: a padded row gives the logits of the same prompt alone', () => {
    const padded = [[0, 0, 0, 7, 21, 33, 4], [9, 8, 7, 6, 5, 4, 3]];
    const mask = [[0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]];
    const positions = [[0, 0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6]];
    const both = noGrad(() => model.forward({ inputIds: padded, attentionMask: mask, positionIds: positions }).logits);
    const alone = noGrad(() => model.forward({ inputIds: [[7, 21, 33, 4]] }).logits);
    const eager = noGrad(() => model.forward({ inputIds: padded, attentionMask: mask, positionIds: positions, outputAttentions: true }).logits);
    expect(maxDiff(both.narrow(0, 0, 1).narrow(1, 3, 4).contiguous(), alone)).toBeLessThan(1e-5);
    expect(maxDiff(both, eager)).toBeLessThan(1e-5);
  });
});
