// Behaviour beyond the golden cases: KV cache = recomputation, left-padded batches = rows alone, sampling,
// config parsing, and clear errors for broken checkpoints and inputs.
import { mkdtempSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSafetensors, noGrad, saveSafetensors, zeros } from '@tensorzoo/tensor';
import { AutoModel, DynamicCache, NemotronConfig, NemotronForCausalLM, NemotronForSequenceClassification, NemotronModel } from '@tensorzoo/nemotron';
import { FIXTURES } from './nemotron.helpers.js';

const GQA = join(FIXTURES, 'gqa');

/** A copy of a fixture folder to modify. */
function copyCase(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tz-${name}-`));
  for (const f of ['config.json', 'model.safetensors', 'generation_config.json']) {
    try {
      copyFileSync(join(FIXTURES, name, f), join(dir, f));
    } catch {
      /* optional file */
    }
  }
  return dir;
}

describe('generation', () => {
  it('KV-cache decoding gives the logits of full recomputation', async () => {
    const model = await NemotronForCausalLM.fromPretrained(GQA);
    const ids = [[5, 9, 13, 2, 7, 31, 4, 11]];
    const full = noGrad(() => model.forward({ inputIds: ids }).logits);
    const cache = new DynamicCache(model.config.num_hidden_layers);
    noGrad(() => {
      model.forward({ inputIds: [ids[0]!.slice(0, 3)], pastKeyValues: cache, useCache: true });
      for (let t = 3; t < 8; t++) {
        const step = model.forward({ inputIds: [[ids[0]![t]!]], pastKeyValues: cache, useCache: true }).logits;
        const want = full.narrow(1, t, 1);
        const diff = step.sub(want).abs().amax().item();
        expect(diff).toBeLessThan(1e-5);
      }
    });
    expect(cache.getSeqLength()).toBe(8);
  });

  it('a left-padded batch generates per row what each row generates alone', async () => {
    const model = await NemotronForCausalLM.fromPretrained(GQA);
    const a = [7, 8, 9, 10, 11];
    const b = [20, 21];
    const alone = [await model.generate([a], { maxNewTokens: 6 }), await model.generate([b], { maxNewTokens: 6 })].map((t) => (t.tolist() as number[][])[0]!);
    const batch = (await model.generate([a, [0, 0, 0, ...b]], { maxNewTokens: 6, attentionMask: [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]] })).tolist() as number[][];
    // a row that finished (EOS) is filled with pad_token_id while the others go on, as HF
    const fill = (r: number[], n: number) => [...r, ...new Array<number>(n - r.length).fill(0)];
    expect(batch[0]).toEqual(fill(alone[0]!, 11));
    expect(batch[1]!.slice(3)).toEqual(fill(alone[1]!, 8));
    expect(alone[0]!.length).toBeLessThan(11); // row 0 stops at EOS, so the fill is exercised
    // the mask is inferred from pad tokens when not given (pad 0 != eos 3), as HF does
    const inferred = (await model.generate([a, [0, 0, 0, ...b]], { maxNewTokens: 6 })).tolist() as number[][];
    expect(inferred).toEqual(batch);
  });

  it('sampling is reproducible from a seed, top-k 1 is greedy, and stream() yields every step', async () => {
    const model = await NemotronForCausalLM.fromPretrained(GQA);
    const p = [[3 + 1, 5, 6]];
    const s1 = await model.generate(p, { maxNewTokens: 10, doSample: true, temperature: 1.5, seed: 7 });
    const s2 = await model.generate(p, { maxNewTokens: 10, doSample: true, temperature: 1.5, seed: 7 });
    const s3 = await model.generate(p, { maxNewTokens: 10, doSample: true, temperature: 1.5, seed: 8 });
    expect(s1.tolist()).toEqual(s2.tolist());
    expect(s1.tolist()).not.toEqual(s3.tolist());
    const greedy = await model.generate(p, { maxNewTokens: 10, eosTokenId: null });
    const topk1 = await model.generate(p, { maxNewTokens: 10, doSample: true, topK: 1, seed: 3, eosTokenId: null });
    expect(topk1.tolist()).toEqual(greedy.tolist());
    const steps: number[] = [];
    for await (const s of model.stream(p, { maxNewTokens: 4, eosTokenId: null })) steps.push(s.tokens[0]!);
    expect(steps).toEqual((greedy.tolist() as number[][])[0]!.slice(3, 7));
  });
});

describe('config', () => {
  it('parses HF fields with defaults and the older aliases', () => {
    const c = NemotronConfig.fromDict({ hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, rope_percent: 0.25, kv_channels: 32, dtype: 'bfloat16', foo: 1 });
    expect(c.head_dim).toBe(32);
    expect(c.partial_rotary_factor).toBe(0.25);
    expect(c.rotary_dim).toBe(8);
    expect(c.torch_dtype).toBe('bfloat16');
    expect(c.vocab_size).toBe(256000);
    expect(c.num_labels).toBe(2);
    expect(c.extra.foo).toBe(1);
    expect(NemotronConfig.fromDict({ hidden_size: 64, num_attention_heads: 4, id2label: { 0: 'a', 1: 'b', 2: 'c' } }).num_labels).toBe(3);
    expect(NemotronConfig.fromDict(c.toDict()).toDict()).toEqual(c.toDict());
  });
  it('rejects inconsistent values with a clear message', () => {
    expect(() => NemotronConfig.fromDict({ num_attention_heads: 48, num_key_value_heads: 5 })).toThrow(/divisible by num_key_value_heads \(5\)/);
    expect(() => NemotronConfig.fromDict({ hidden_size: 0 })).toThrow(/hidden_size must be a positive integer/);
    expect(() => NemotronConfig.fromDict({ model_type: 'llama' })).toThrow(/expected 'nemotron'/);
    expect(() => NemotronConfig.fromDict({ vocab_size: 10, pad_token_id: 12 })).toThrow(/pad_token_id 12/);
  });
});

describe('loading and input errors', () => {
  it('names every missing, unexpected and misshaped tensor', async () => {
    const dir = copyCase('gqa');
    const w = await loadSafetensors(join(dir, 'model.safetensors'));
    w.delete('model.layers.1.mlp.up_proj.weight');
    w.set('model.layers.0.extra.weight', zeros([2]));
    w.set('model.norm.bias', zeros([5]));
    await saveSafetensors(join(dir, 'model.safetensors'), w);
    const err = await NemotronForCausalLM.fromPretrained(dir).catch((e: Error) => e.message);
    expect(err).toMatch(/missing tensors: model\.layers\.1\.mlp\.up_proj\.weight/);
    expect(err).toMatch(/wrong shapes: model\.norm\.bias: checkpoint \[5\], model \[24\]/);
    expect(err).toMatch(/unexpected tensors: model\.layers\.0\.extra\.weight/);
  });

  it('reports a bad config.json by file', async () => {
    const dir = copyCase('gqa');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    cfg.num_key_value_heads = 4;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    await expect(NemotronForCausalLM.fromPretrained(dir)).rejects.toThrow(/config\.json: .*divisible by num_key_value_heads \(4\)/);
    await expect(NemotronForCausalLM.fromPretrained(join(dir, 'nope'))).rejects.toThrow(/no such file/);
  });

  it('rejects token ids outside the vocabulary', async () => {
    const model = await NemotronModel.fromPretrained(GQA);
    expect(() => model.forward({ inputIds: [[1, 2, 40]] })).toThrow(/token id 40 at \[0, 2\] is out of range for vocab_size 40/);
    expect(() => model.forward({ inputIds: [[1, -1]] })).toThrow(/token id -1/);
  });

  it('loads a causal-LM checkpoint as a classifier with a fresh head, and as a bare model', async () => {
    const cls = await NemotronForSequenceClassification.fromPretrained(GQA);
    expect(cls.loadingInfo.newlyInitialized).toEqual(['score.weight']);
    expect(cls.loadingInfo.ignored).toEqual(['lm_head.weight']);
    const bare = await AutoModel.fromPretrained(join(FIXTURES, 'base_model'));
    expect(bare).toBeInstanceOf(NemotronModel);
    const fromHead = await NemotronModel.fromPretrained(GQA);
    const lm = await NemotronForCausalLM.fromPretrained(GQA);
    const h1 = noGrad(() => fromHead.forward({ inputIds: [[1, 2, 3]] }).lastHiddenState);
    const h2 = noGrad(() => lm.model.forward({ inputIds: [[1, 2, 3]] }).lastHiddenState);
    expect(Array.from(h1.dataSync())).toEqual(Array.from(h2.dataSync()));
  });

  it('keeps bfloat16 weights in bfloat16, or upcasts on request', async () => {
    const dir = join(FIXTURES, 'bf16_checkpoint');
    const kept = await NemotronForCausalLM.fromPretrained(dir);
    expect(kept.lm_head.weight.dtype).toBe('bfloat16');
    const up = await NemotronForCausalLM.fromPretrained(dir, { dtype: 'float32' });
    expect(up.lm_head.weight.dtype).toBe('float32');
    const a = noGrad(() => kept.forward({ inputIds: [[4, 5, 6]] }).logits);
    const b = noGrad(() => up.forward({ inputIds: [[4, 5, 6]] }).logits);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  });
});
