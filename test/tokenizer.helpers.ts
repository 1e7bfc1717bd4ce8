// Builds a Hugging Face tokenizer.json from a SentencePiece BPE model the way
// transformers' LlamaConverter does (vocab = pieces by id; merges = every split
// of a piece into two pieces, ordered by the merged piece's score), so tests and
// the bench can run the tokenizer.json path without shipping such a file.
import { PieceType, type SentencePieceTokenizer } from '../packages/tokenizer/src/index.js';

/**
 * Which normalizer / pre-tokenizer layout to write: 'legacy' = Prepend + Replace
 * normalizer (Llama legacy), 'metaspace' = Metaspace pre-tokenizer without
 * splitting, 'metaspace-split' = Metaspace splitting into words (not
 * sentencepiece-exact, but the fastest layout for HF's word cache).
 */
export type JsonVariant = 'legacy' | 'metaspace' | 'metaspace-split';

/** tokenizer.json content for a SentencePiece BPE model. */
export function spmToTokenizerJson(sp: SentencePieceTokenizer, variant: JsonVariant = 'legacy', addBos = true): Record<string, unknown> {
  const n = sp.vocabSize;
  // Null prototype: pieces such as "constructor" must not hit Object.prototype.
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  const pieces: string[] = [];
  for (let i = 0; i < n; i++) {
    pieces.push(sp.idToPiece(i));
    if (vocab[pieces[i]!] === undefined) vocab[pieces[i]!] = i;
  }
  // SentencePieceExtractor: splits of each piece whose halves are both pieces.
  const merges: [string, string, number, number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    const p = pieces[i]!;
    const local: [string, string, number, number, number, number][] = [];
    for (let k = 1; k < p.length; k++) {
      if (p.charCodeAt(k) >= 0xdc00 && p.charCodeAt(k) < 0xe000) continue; // never split a surrogate pair
      const l = p.slice(0, k);
      const r = p.slice(k);
      const il = vocab[l];
      const ir = vocab[r];
      if (il !== undefined && ir !== undefined) local.push([l, r, sp.getScore(i), il, ir, merges.length + local.length]);
    }
    local.sort((a, b) => a[3] - b[3] || a[4] - b[4]);
    merges.push(...local);
  }
  merges.sort((a, b) => b[2] - a[2] || a[5] - b[5]);
  const added = [];
  for (let i = 0; i < n; i++) {
    const t = sp.getType(i);
    if (t === PieceType.CONTROL || t === PieceType.UNKNOWN || t === PieceType.USER_DEFINED) {
      added.push({ id: i, content: pieces[i], single_word: false, lstrip: false, rstrip: false, normalized: false, special: t !== PieceType.USER_DEFINED });
    }
  }
  const bos = sp.bosId >= 0 ? pieces[sp.bosId]! : null;
  const single = [...(addBos && bos !== null ? [{ SpecialToken: { id: bos, type_id: 0 } }] : []), { Sequence: { id: 'A', type_id: 0 } }];
  const pair = [...single, ...(addBos && bos !== null ? [{ SpecialToken: { id: bos, type_id: 1 } }] : []), { Sequence: { id: 'B', type_id: 1 } }];
  const legacy = variant === 'legacy';
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: legacy
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] }
      : null,
    pre_tokenizer: legacy ? null : { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: variant === 'metaspace-split' },
    post_processor: {
      type: 'TemplateProcessing',
      single,
      pair,
      special_tokens: bos !== null ? { [bos]: { id: bos, ids: [sp.bosId], tokens: [bos] } } : {},
    },
    decoder: legacy
      ? {
          type: 'Sequence',
          decoders: [
            { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
            { type: 'ByteFallback' },
            { type: 'Fuse' },
            { type: 'Strip', content: ' ', start: 1, stop: 0 },
          ],
        }
      : { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: sp.unkId >= 0 ? pieces[sp.unkId] : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => [m[0], m[1]]),
    },
  };
}
