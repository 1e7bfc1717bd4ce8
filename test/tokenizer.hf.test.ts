// tokenizer.json path: a LlamaConverter-style tokenizer.json built from the BPE
// fixture model, checked id for id against HF's `tokenizers` (the Rust library
// through its Node binding) and against the SentencePiece path.
import { readFileSync } from 'node:fs';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AutoTokenizer, SentencePieceTokenizer, Tokenizer } from '../packages/tokenizer/src/index.js';
import { spmToTokenizerJson, type JsonVariant } from './tokenizer.helpers.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'sentencepiece');
const cases = JSON.parse(readFileSync(join(dir, 'nemotron_like_bpe.cases.json'), 'utf8')) as {
  encode: { name: string; text: string; ids: number[] }[];
  decode: { note: string; ids: number[]; error?: string }[];
};
const sp = SentencePieceTokenizer.fromBuffer(readFileSync(join(dir, 'nemotron_like_bpe.model')));

interface HfEncoding { getIds(): number[] }
interface HfTokenizer {
  encode(s: string, pair: null, o: { addSpecialTokens: boolean }): Promise<HfEncoding>;
  decode(ids: number[], skip: boolean): Promise<string>;
}
let hf: { Tokenizer: { fromString(s: string): HfTokenizer } } | null = null;
try {
  hf = createRequire(import.meta.url)('tokenizers');
} catch {
  hf = null; // the binding is optional: comparisons are skipped without it
}

// Texts containing an added token's content: HF cuts those out before the model
// (and <s>/</s> become control ids), where sentencepiece treats <s> as plain text
// and glues user-defined symbols to the dummy prefix. These differ by design.
const addedContents = ['<pad>', '<unk>', '<s>', '</s>', '<extra_id_1>', '<extra_id_10>', '[MASK]'];
const hasAdded = (t: string) => addedContents.some((a) => t.includes(a));

for (const variant of ['legacy', 'metaspace'] as JsonVariant[]) {
  describe(`tokenizer.json (${variant})`, () => {
    const json = JSON.stringify(spmToTokenizerJson(sp, variant));
    const ours = Tokenizer.fromString(json);
    const ref = hf?.Tokenizer.fromString(json);

    it.skipIf(ref === undefined)('equals HF tokenizers on every fixture string (ids with and without specials, decode)', async () => {
      for (const c of cases.encode) {
        for (const addSpecialTokens of [false, true]) {
          const want = (await ref!.encode(c.text, null, { addSpecialTokens })).getIds();
          expect(ours.encode(c.text, { addSpecialTokens }), `${c.name} ${addSpecialTokens}`).toEqual(want);
        }
        for (const skip of [false, true]) expect(ours.decode(c.ids, { skipSpecialTokens: skip })).toBe(await ref!.decode(c.ids, skip));
      }
      for (const c of cases.decode) {
        if (c.error !== undefined) continue;
        expect(ours.decode(c.ids), c.note).toBe(await ref!.decode(c.ids, false));
      }
    });

    it.skipIf(ref === undefined)('equals HF tokenizers on random Unicode strings', async () => {
      const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.constantFrom(' ', '  a', '\u2581x', 'a<s>b', 'x[MASK]y', 'lone \uD800 high', 'lone \uDFFF low', '\uDBFF'));
      await fc.assert(
        fc.asyncProperty(text, async (s) => {
          expect(ours.encode(s)).toEqual((await ref!.encode(s, null, { addSpecialTokens: true })).getIds());
        }),
        { numRuns: 300 },
      );
    });
  });
}

describe('tokenizer.json vs the SentencePiece path', () => {
  const ours = Tokenizer.fromString(JSON.stringify(spmToTokenizerJson(sp, 'legacy')));
  it('same ids on every fixture string without added-token text', () => {
    const differ: string[] = [];
    for (const c of cases.encode) {
      const got = ours.encode(c.text, { addSpecialTokens: false });
      if (JSON.stringify(got) !== JSON.stringify(c.ids)) differ.push(c.text);
      else expect(ours.encode(c.text)).toEqual([sp.bosId, ...c.ids]);
    }
    expect(differ.filter((t) => !hasAdded(t))).toEqual([]);
    expect(differ.length).toBeLessThanOrEqual(cases.encode.filter((c) => hasAdded(c.text)).length);
  });
  it('decodes fixture ids like sentencepiece unless byte pieces are invalid UTF-8', () => {
    for (const c of cases.encode) expect(ours.decode(c.ids)).toBe(sp.decode(c.ids));
  });
});

describe('AutoTokenizer and batch encoding', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tz-tok-'));
  const modelDir = join(tmp, 'model');
  const jsonDir = join(tmp, 'json');
  for (const d of [modelDir, jsonDir]) {
    mkdirSync(d);
  }
  copyFileSync(join(dir, 'nemotron_like_bpe.model'), join(modelDir, 'tokenizer.model'));
  writeFileSync(join(jsonDir, 'tokenizer.json'), JSON.stringify(spmToTokenizerJson(sp, 'legacy')));
  copyFileSync(join(dir, 'nemotron_like_bpe.model'), join(jsonDir, 'tokenizer.model'));
  const config = {
    add_bos_token: true,
    add_eos_token: true,
    bos_token: '<s>',
    eos_token: { content: '</s>', special: true },
    unk_token: '<unk>',
    pad_token: '<pad>',
    padding_side: 'right',
    model_max_length: 4096,
    added_tokens_decoder: { '4': { content: '<extra_id_1>', special: false } },
  };
  writeFileSync(join(modelDir, 'tokenizer_config.json'), JSON.stringify(config));
  writeFileSync(join(jsonDir, 'tokenizer_config.json'), JSON.stringify(config));

  it('picks tokenizer.model or tokenizer.json and honours add_bos/add_eos', async () => {
    const a = await AutoTokenizer.fromPretrained(modelDir);
    const b = await AutoTokenizer.fromPretrained(jsonDir);
    const c = await AutoTokenizer.fromPretrained(jsonDir, { useFast: false });
    for (const t of [a, b, c]) {
      expect(t.bosTokenId).toBe(2);
      expect(t.eosTokenId).toBe(3);
      expect(t.padTokenId).toBe(0);
      expect(t.encode('Hello world')).toEqual([2, 486, 529, 4927, 2477, 3]);
      expect(t.encode('Hello world', { addSpecialTokens: false })).toEqual([486, 529, 4927, 2477]);
    }
    expect(b.backend.vocabSize).toBe(8000);
  });

  it('defaults to BOS only without add_* keys', async () => {
    writeFileSync(join(modelDir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<pad>' }));
    const t = await AutoTokenizer.fromPretrained(modelDir);
    expect(t.encode('Hello world')).toEqual([2, 486, 529, 4927, 2477]);
    writeFileSync(join(modelDir, 'tokenizer_config.json'), JSON.stringify(config));
  });

  it('pads, truncates and masks batches; decode skips special tokens', async () => {
    const t = await AutoTokenizer.fromPretrained(modelDir);
    const texts = ['Hello world', 'a'];
    const longest = t(texts, { padding: true });
    expect(longest.inputIds).toEqual([
      [2, 486, 529, 4927, 2477, 3],
      [2, 271, 3, 0, 0, 0],
    ]);
    expect(longest.attentionMask).toEqual([
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0, 0],
    ]);
    const left = t(texts, { padding: 'max_length', maxLength: 8, paddingSide: 'left' });
    expect(left.inputIds[1]).toEqual([0, 0, 0, 0, 0, 2, 271, 3]);
    expect(left.attentionMask[1]).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    const cut = t(texts, { truncation: true, maxLength: 4 });
    expect(cut.inputIds).toEqual([[2, 486, 529, 3], [2, 271, 3]]);
    const cutLeft = t(texts, { truncation: true, maxLength: 4, truncationSide: 'left' });
    expect(cutLeft.inputIds[0]).toEqual([2, 4927, 2477, 3]);
    expect(t('Hello world').inputIds).toEqual([[2, 486, 529, 4927, 2477, 3]]);
    expect(t.decode(longest.inputIds[1]!)).toBe('a');
    expect(t.decode(longest.inputIds[1]!, { skipSpecialTokens: true })).toBe('a');
    expect(t.batchDecode(longest.inputIds, { skipSpecialTokens: true })).toEqual(['Hello world', 'a']);
    expect(t(texts, { returnAttentionMask: false }).attentionMask).toEqual([]);
  });

  it('tokenizer.json decode with skipSpecialTokens drops <s> and </s>', async () => {
    const t = await AutoTokenizer.fromPretrained(jsonDir);
    const ids = t.encode('Hello world');
    expect(t.decode(ids)).toBe('<s> Hello world</s>');
    expect(t.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
  });

  it('Tokenizer.fromFile reads tokenizer.json', async () => {
    const t = await Tokenizer.fromFile(join(jsonDir, 'tokenizer.json'));
    expect(t.encode('Hello world', { addSpecialTokens: false })).toEqual([486, 529, 4927, 2477]);
    expect(t.tokenToId('<s>')).toBe(2);
    expect(t.idToToken(4)).toBe('<extra_id_1>');
  });

  it('rejects a folder without a tokenizer', async () => {
    await expect(AutoTokenizer.fromPretrained(tmp)).rejects.toThrow(/no tokenizer.json or tokenizer.model/);
  });
});
