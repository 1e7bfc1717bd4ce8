// The library's decoding loop: the context limit (an error for a prompt that does not fit, a 'context' stop at
// the limit), stoppedBy on the last step, the chunked prefill (HF's prefill_chunk_size) and its progress callback,
// and non-finite logits as a typed error carrying the sequences that produced them.
import { describe, expect, it } from 'vitest';
import { Generator, noGrad, tensor } from '@tensorzoo/tensor';
import { NemotronConfig, NemotronForCausalLM, NonFiniteLogitsError, type GenerationStep } from '@tensorzoo/nemotron';
import { cases, io } from './nemotron.helpers.js';

function tiny(maxPositions: number): NemotronForCausalLM {
  const config = new NemotronConfig({
    vocab_size: 64, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8,
    max_position_embeddings: maxPositions, bos_token_id: 1, eos_token_id: 2,
  });
  return new NemotronForCausalLM(config, { generator: new Generator(5) }).eval();
}

async function steps(it: AsyncIterable<GenerationStep>): Promise<GenerationStep[]> {
  const out: GenerationStep[] = [];
  for await (const s of it) out.push(s);
  return out;
}

const prompt = (n: number) => Array.from({ length: n }, (_, i) => 3 + (i % 50));

describe('generation: the context limit', () => {
  it('a prompt that leaves no room for a new token is an error naming both numbers', async () => {
    const model = tiny(16);
    await expect(model.generate([prompt(17)], { maxNewTokens: 4 })).rejects.toThrow(/^generate: the prompt is 17 tokens, the model's context is 16 positions \(max_position_embeddings\)/);
    await expect(model.generate([prompt(16)], { maxNewTokens: 1 })).rejects.toThrow(/the prompt is 16 tokens, the model's context is 16 positions/);
  });

  it("generation stops at the limit and says so in the last step ('context')", async () => {
    const model = tiny(16);
    const s = await steps(model.stream([prompt(10)], { maxNewTokens: 100, eosTokenId: null }));
    expect(s).toHaveLength(6);
    expect(s.slice(0, -1).every((x) => x.stoppedBy === undefined)).toBe(true);
    expect(s.at(-1)!.stoppedBy).toBe('context');
    expect((await model.generate([prompt(10)], { maxNewTokens: 100, eosTokenId: null })).shape).toEqual([1, 16]);
  });

  it("'length' after maxNewTokens, 'eos' when every row has finished", async () => {
    const model = tiny(64);
    const s = await steps(model.stream([prompt(4)], { maxNewTokens: 3, eosTokenId: null }));
    expect(s.map((x) => x.stoppedBy)).toEqual([undefined, undefined, 'length']);
    const first = s[0]!.tokens[0]!;
    const e = await steps(model.stream([prompt(4)], { maxNewTokens: 10, eosTokenId: first }));
    expect(e).toHaveLength(1);
    expect(e[0]!.stoppedBy).toBe('eos');
  });
});

describe('generation: chunked prefill', () => {
  it("HF's greedy sequences with any prefillChunkSize; onPrefill reports each chunk", async () => {
    const c = cases().find((x) => x.name === 'causal_lm_generate')!;
    const t = await io(c);
    const model = await NemotronForCausalLM.fromPretrained(c.dir);
    const expected = t.get('expected.sequences')!.int().tolist();
    const S = t.get('input_ids')!.shape[1]!;
    for (const chunk of [1, 2, 3, S, S + 4]) {
      const calls: [number, number][] = [];
      const seq = await model.generate(t.get('input_ids')!, { maxNewTokens: 8, prefillChunkSize: chunk, onPrefill: (d, n) => calls.push([d, n]) });
      expect(seq.tolist(), `chunk ${chunk}`).toEqual(expected);
      const want = Array.from({ length: Math.ceil(S / chunk) }, (_, i): [number, number] => [Math.min((i + 1) * chunk, S), S]);
      expect(calls).toEqual(want);
    }
    await expect(model.generate([[1, 2]], { prefillChunkSize: 0 })).rejects.toThrow(/prefillChunkSize must be a positive integer, got 0/);
  });

  it('sampling with a seed gives the same tokens with or without a chunked prefill', async () => {
    const model = tiny(64);
    const opts = { maxNewTokens: 12, doSample: true, temperature: 0.9, topK: 20, seed: 11, eosTokenId: null };
    const a = (await model.generate([prompt(9)], opts)).tolist();
    expect((await model.generate([prompt(9)], { ...opts, prefillChunkSize: 4 })).tolist()).toEqual(a);
    expect((await model.generate([prompt(9)], { ...opts, seed: 12 })).tolist()).not.toEqual(a);
  });
});

describe('generation: non-finite logits', () => {
  it('throw NonFiniteLogitsError with the sequences that produced them', async () => {
    const model = tiny(64);
    noGrad(() => model.model.layers.at(1).mlp.up_proj.weight.copy_(tensor(NaN).expand(model.model.layers.at(1).mlp.up_proj.weight.shape)));
    const err = await model.generate([prompt(5)], { maxNewTokens: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteLogitsError);
    expect((err as NonFiniteLogitsError).sequences).toEqual([prompt(5)]);
    expect((err as Error).message).toMatch(/^generate: the logits of step 0 are not finite \(NaN or infinite\)$/);
  });
});

describe('generation: yielding', () => {
  it('the stream yields to the event loop after every token (timers and I/O run between steps)', async () => {
    const model = tiny(64);
    let ticks = 0;
    const tick = (): void => {
      ticks++;
      if (ticks < 1000) setImmediate(tick);
    };
    setImmediate(tick);
    const at: number[] = [];
    for await (const _ of model.stream([prompt(4)], { maxNewTokens: 5, eosTokenId: null })) at.push(ticks);
    ticks = 1000; // stops the ticker
    // a setImmediate callback ran between every two steps (the CPU forward is synchronous: only the yield allows it)
    expect(at.slice(1).every((t, i) => t > at[i]!), JSON.stringify(at)).toBe(true);
  });
});
