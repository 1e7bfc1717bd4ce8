// The decode path's fast parts against their plain counterparts: the rotary table against forward() of the same
// positions, decoding against explicit position ids and the same product on one thread, and memory() flat over steps.
import { afterAll, describe, expect, it } from 'vitest';
import { arange, Generator, getNumThreads, memory, noGrad, setNumThreads, tidy, type Tensor } from '@tensorzoo/tensor';
import { NemotronConfig, NemotronForCausalLM, NemotronRotaryEmbedding, StaticCache } from '@tensorzoo/nemotron';

const threadsBefore = getNumThreads();
afterAll(() => setNumThreads(threadsBefore));

// the small benchmark config (bench/nemotron.bench.ts): products big enough to be split over threads
const config = new NemotronConfig({ vocab_size: 8000, hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4 });

const values = (t: Tensor) => Array.from(t.dataSync());

describe('NemotronRotaryEmbedding.range', () => {
  it('gives forward() of the same positions exactly, across table growth, for each batch row', () => {
    const rope = new NemotronRotaryEmbedding(new NemotronConfig({ ...config, max_position_embeddings: 8 }));
    for (const [start, len] of [[0, 3], [5, 1], [7, 4], [30, 1], [12, 20], [200, 2]] as const) {
      const got = rope.range(start, len, 2, 'cpu');
      const want = rope.forward(arange(start, start + len).unsqueeze(0).expand(2, len));
      expect(got.cos.shape).toEqual(want.cos.shape);
      expect(values(got.cos)).toEqual(values(want.cos));
      expect(values(got.sin)).toEqual(values(want.sin));
    }
  });
});

describe('greedy decode of the small config (StaticCache)', () => {
  const model = new NemotronForCausalLM(config, { generator: new Generator(0) }).eval();
  const prompt = [[5, 900, 13, 7000, 42, 1, 77, 3000]];

  /** Greedy tokens and each step's logits; positions given explicitly (forward()'s path) or left to the rotary table. */
  function decode(steps: number, explicitPositions: boolean): { tokens: number[]; logits: number[][] } {
    const cache = new StaticCache(config.num_hidden_layers, prompt[0]!.length + steps);
    const tokens: number[] = [];
    const logits: number[][] = [];
    let ids = prompt;
    let past = 0;
    for (let i = 0; i < steps; i++) {
      const s = ids[0]!.length;
      const positionIds = explicitPositions ? [Array.from({ length: s }, (_, j) => past + j)] : undefined;
      const l = tidy(() => noGrad(() => model.forward({ inputIds: ids, positionIds, pastKeyValues: cache, useCache: true, logitsToKeep: 1 }).logits));
      logits.push(values(l));
      const next = l.argmax(-1).item();
      l.dispose();
      tokens.push(next);
      past += s;
      ids = [[next]];
    }
    cache.dispose();
    return { tokens, logits };
  }

  it('gives the tokens and logits of explicit position ids, and the same bits on one thread as on two', () => {
    setNumThreads(2);
    const fast = decode(12, false);
    const plain = decode(12, true);
    expect(fast.tokens).toEqual(plain.tokens);
    expect(fast.logits).toEqual(plain.logits);
    setNumThreads(1);
    const one = decode(12, false);
    setNumThreads(2);
    expect(one.logits).toEqual(fast.logits);
  });

  it('keeps memory() flat over decode steps', () => {
    setNumThreads(2);
    const cache = new StaticCache(config.num_hidden_layers, 64);
    const step = (ids: number[][]) => tidy(() => noGrad(() => model.forward({ inputIds: ids, pastKeyValues: cache, useCache: true, logitsToKeep: 1 }).logits.argmax(-1)));
    let tok = step(prompt);
    const seen: object[] = [];
    for (let i = 0; i < 40; i++) {
      const next = step([[tok.item()]]);
      tok.dispose();
      tok = next;
      if (i >= 2) seen.push(memory('cpu'));
    }
    tok.dispose();
    cache.dispose();
    for (const m of seen) expect(m).toEqual(seen[0]);
  });
});
