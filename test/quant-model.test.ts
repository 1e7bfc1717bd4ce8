// Weight-only quantization of a whole model: fromPretrained(dir, { dtype: 'q8' | 'q4' }) on the shipped model
// (models/kjv-nemotron-mini: every decoder Linear has in_features 256 or 1024, whole blocks of 32) against its bf16
// weights, and on a golden fixture whose Linear widths (24, 40) are not whole blocks, where nothing may change.
// Held-out perplexity and the golden models' logits: quant-accuracy.test.ts.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { noGrad, tensor, type QuantDType } from '@tensorzoo/tensor';
import { NemotronForCausalLM } from '@tensorzoo/nemotron';
import { AutoTokenizer, type PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import { FIXTURES } from './nemotron.helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = join(ROOT, 'models', 'kjv-nemotron-mini');
const PROMPTS = ['And God said', 'In the beginning', 'The LORD is my shepherd', 'Jesus answered and said unto them', 'Blessed are the'];
/** Greedy tokens q8_0 must reproduce: the shortest agreement measured over PROMPTS was 18 of 64. */
const AGREE = 16;

let tok: PreTrainedTokenizer;
const models = new Map<'bf16' | QuantDType, NemotronForCausalLM>();
beforeAll(async () => {
  tok = await AutoTokenizer.fromPretrained(DIR);
  models.set('bf16', await NemotronForCausalLM.fromPretrained(DIR));
  models.set('q8_0', await NemotronForCausalLM.fromPretrained(DIR, { dtype: 'q8' }));
  models.set('q4_0', await NemotronForCausalLM.fromPretrained(DIR, { dtype: 'q4' }));
});

describe('fromPretrained({ dtype: q8 | q4 }) on the shipped model', () => {
  it('quantizes exactly the Linear weights of the decoder layers (lm_head is tied to the embeddings: kept)', () => {
    for (const q of ['q8_0', 'q4_0'] as const) {
      const m = models.get(q)! as NemotronForCausalLM & { loadingInfo: { notQuantized?: string[] } };
      expect(m.loadingInfo.notQuantized).toEqual(['lm_head.weight']);
      const dtypes = new Map([...m.stateDict()].map(([k, v]) => [k, v.dtype]));
      const linear = [...dtypes.keys()].filter((k) => /layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$/.test(k));
      expect(linear.length).toBe(4 * 6); // q, k, v, o, up, down (relu2 MLP: no gate)
      for (const [k, dt] of dtypes) expect([k, dt]).toEqual([k, linear.includes(k) ? q : 'bfloat16']);
    }
  });

  it(`greedy generation with q8_0 equals bf16's for the first ${AGREE} tokens of every prompt`, async () => {
    for (const p of PROMPTS) {
      const ids = tok.encode(p);
      const run = async (k: 'bf16' | 'q8_0') => ((await models.get(k)!.generate([ids], { maxNewTokens: AGREE, doSample: false })).tolist() as number[][])[0]!;
      expect(await run('q8_0')).toEqual(await run('bf16'));
    }
  });

  it('logits: q8_0 within 0.1 and q4_0 within 2 of bf16 at worst over every position and token (measured 0.043 and 1.08; the logits RMS is 4.8)', () => {
    const ids = tensor([tok.encode('And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them, When any man of you bring an offering unto the LORD, ye shall bring your offering of the cattle.')], { dtype: 'int32' });
    const logits = (k: 'bf16' | QuantDType) => noGrad(() => models.get(k)!.forward({ inputIds: ids }).logits).dataSync();
    const ref = logits('bf16');
    for (const [q, tol] of [['q8_0', 0.1], ['q4_0', 2]] as const) {
      const got = logits(q);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
      expect(worst, q).toBeLessThanOrEqual(tol);
      expect(worst, q).toBeGreaterThan(0); // the weights really changed
    }
  });
});

describe('fromPretrained({ dtype: q8 | q4 }) on a golden fixture', () => {
  it('leaves Linear layers (and lm_head) whose in_features is not a multiple of 32 as stored, lists them, and the logits are unchanged', async () => {
    const dir = join(FIXTURES, 'causal_lm');
    const plain = await NemotronForCausalLM.fromPretrained(dir);
    const q = await NemotronForCausalLM.fromPretrained(dir, { dtype: 'q8' });
    expect(q.loadingInfo.notQuantized?.length).toBe(6 * plain.config.num_hidden_layers + 1);
    expect(q.loadingInfo.notQuantized).toContain('lm_head.weight');
    const ids = tensor([[1, 5, 9, 2, 7]], { dtype: 'int32' });
    const a = noGrad(() => plain.forward({ inputIds: ids }).logits).dataSync();
    const b = noGrad(() => q.forward({ inputIds: ids }).logits).dataSync();
    expect([...b]).toEqual([...a]);
  });
});
