// tokenizer.json components one at a time (normalizers, pre-tokenizers, added
// token flags, decoders, pair templates), each checked against HF `tokenizers`
// on the fixture strings.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SentencePieceTokenizer, Tokenizer, TokenizerJsonError } from '../packages/tokenizer/src/index.js';
import { spmToTokenizerJson } from './tokenizer.helpers.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'sentencepiece');
const cases = JSON.parse(readFileSync(join(dir, 'nemotron_like_bpe.cases.json'), 'utf8')) as { encode: { text: string; ids: number[] }[] };
const sp = SentencePieceTokenizer.fromBuffer(readFileSync(join(dir, 'nemotron_like_bpe.model')));
const base = spmToTokenizerJson(sp, 'legacy');

interface HfTokenizer {
  encode(s: string, pair: string | null, o: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }>;
  decode(ids: number[], skip: boolean): Promise<string>;
}
let hf: { Tokenizer: { fromString(s: string): HfTokenizer } } | null = null;
try {
  hf = createRequire(import.meta.url)('tokenizers');
} catch {
  hf = null;
}

const extra = [
  '', ' ', 'a  b', 'Hello <mask> world', 'x<mask>y', 'WORD and WORDs and aWORD', ' lead\ttab\nnew', '12345 6.7', 'ÉCOLE ﬁne',
  'under_score-dash', '\u2581\u2581x', '<s>text</s>', 'MiXeD CaSe', '  spaced  out  ',
];
const texts = [...cases.encode.map((c) => c.text), ...extra];

const variants: Record<string, (j: Record<string, unknown>) => void> = {
  'Metaspace always, split': (j) => {
    j['normalizer'] = null;
    j['pre_tokenizer'] = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
    j['decoder'] = { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }, { type: 'Fuse' }] };
  },
  'Metaspace never, legacy add_prefix_space=false': (j) => {
    j['normalizer'] = null;
    j['pre_tokenizer'] = { type: 'Metaspace', replacement: '\u2581', add_prefix_space: false, prepend_scheme: 'never', split: false };
    j['decoder'] = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: false };
  },
  'Sequence pre-tokenizer: Digits + Metaspace first + Split': (j) => {
    j['normalizer'] = null;
    j['pre_tokenizer'] = {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'Split', pattern: { String: '-' }, behavior: 'Isolated', invert: false },
        { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true },
      ],
    };
  },
  'Split regex MergedWithPrevious / Contiguous / Removed': (j) => {
    j['normalizer'] = null;
    j['pre_tokenizer'] = {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '[0-9]' }, behavior: 'MergedWithPrevious', invert: false },
        { type: 'Split', pattern: { Regex: '_' }, behavior: 'Contiguous', invert: false },
        { type: 'Split', pattern: { String: 'o' }, behavior: 'Removed', invert: false },
      ],
    };
  },
  'NFKC + Lowercase + Strip + Prepend/Replace normalizer': (j) => {
    j['normalizer'] = {
      type: 'Sequence',
      normalizers: [
        { type: 'NFKC' },
        { type: 'Lowercase' },
        { type: 'Strip', strip_left: true, strip_right: true },
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    };
  },
  'added tokens: lstrip / rstrip / single_word / normalized': (j) => {
    const added = j['added_tokens'] as Record<string, unknown>[];
    added.push(
      { id: 8000, content: '<mask>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: true },
      { id: 8001, content: 'WORD', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false },
      { id: 8002, content: 'and', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    );
  },
  'Replace decoder with a regex, Strip decoder': (j) => {
    j['decoder'] = {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { Regex: '\u2581+' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        // HF panics on tokens shorter than start + stop, so keep to the Llama setting.
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    };
  },
};

describe.skipIf(hf === null)('tokenizer.json components vs HF tokenizers', () => {
  for (const [name, patch] of Object.entries(variants)) {
    it(name, async () => {
      const j = structuredClone(base);
      patch(j);
      const s = JSON.stringify(j);
      const ours = Tokenizer.fromString(s);
      const ref = hf!.Tokenizer.fromString(s);
      for (const t of texts) {
        expect(ours.encode(t), JSON.stringify(t)).toEqual((await ref.encode(t, null, { addSpecialTokens: true })).getIds());
      }
      // Non-empty id lists only: HF's Strip decoder panics on an empty string.
      for (const c of cases.encode.filter((e) => e.ids.length > 0).slice(0, 120)) {
        const ids = [...c.ids, 8000, 2, ...c.ids.slice(0, 3)];
        for (const skip of [false, true]) expect(ours.decode(ids, { skipSpecialTokens: skip })).toBe(await ref.decode(ids, skip));
      }
    });
  }

  it('pair template', async () => {
    const s = JSON.stringify(base);
    const ours = Tokenizer.fromString(s);
    const ref = hf!.Tokenizer.fromString(s);
    for (const [a, b] of [['Hello', 'world'], ['', 'x'], ['東京', '  a']] as const) {
      expect(ours.encode(a, { pair: b })).toEqual((await ref.encode(a, b, { addSpecialTokens: true })).getIds());
      expect(ours.encode(a, { pair: b, addSpecialTokens: false })).toEqual((await ref.encode(a, b, { addSpecialTokens: false })).getIds());
    }
  });
});

describe('tokenizer.json errors', () => {
  it('names the offending field', () => {
    expect(() => Tokenizer.fromString(JSON.stringify({ ...base, model: { ...(base['model'] as object), type: 'WordPiece' } }))).toThrow(TokenizerJsonError);
    expect(() => Tokenizer.fromString(JSON.stringify({ ...base, normalizer: { type: 'Nope' } }))).toThrow(/normalizer: unsupported normalizer type Nope/);
    expect(() => Tokenizer.fromString(JSON.stringify({ ...base, model: { ...(base['model'] as object), merges: [['zzz', 'qqq']] } }))).toThrow(/merges\[0\]/);
  });
});
