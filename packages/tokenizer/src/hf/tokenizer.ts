// Tokenizer: a Hugging Face tokenizer.json (SentencePiece-style BPE) run through
// the same pipeline as the `tokenizers` library: added tokens -> normalizer ->
// pre-tokenizer -> BPE -> post-processor; decoding through the decoder chain.

import { readFileText } from '#fs';
import { type AddedToken, AddedVocabulary } from './added-vocabulary.js';
import { HfBpe } from './bpe.js';
import { type HfDecoder, buildDecoder } from './decoders.js';
import { TokenizerJsonError, arr, int, obj, optBool, str } from './json.js';
import { type HfNormalizer, buildNormalizer } from './normalizers.js';
import { type HfPostProcessor, buildPostProcessor } from './post-processor.js';
import { type HfPreTokenizer, buildPreTokenizer } from './pre-tokenizers.js';

/** Options of Tokenizer.encode. */
export interface HfEncodeOptions {
  /** Apply the post-processor template (default true, as in `tokenizers`). */
  addSpecialTokens?: boolean;
  /** Second sequence of a pair. */
  pair?: string;
}

/** Options of Tokenizer.decode. */
export interface HfDecodeOptions {
  /** Drop special added tokens (default false). */
  skipSpecialTokens?: boolean;
}

// Rust strings cannot hold lone surrogates; the Node binding sees U+FFFD instead.
function toWellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** A tokenizer loaded from tokenizer.json. */
export class Tokenizer {
  private readonly model: HfBpe;
  private readonly normalizer: HfNormalizer | null;
  private readonly preTokenizer: HfPreTokenizer | null;
  private readonly decoder: HfDecoder | null;
  private readonly postProcessor: HfPostProcessor | null;
  /** Added tokens (special or not) by id and content. */
  readonly addedVocabulary: AddedVocabulary;

  /** Builds a tokenizer from parsed tokenizer.json content. */
  constructor(json: unknown) {
    const root = obj(json, 'tokenizer.json');
    const model = obj(root['model'], 'model');
    const type = model['type'] ?? 'BPE';
    if (type !== 'BPE') throw new TokenizerJsonError(`model.type: unsupported model ${String(type)} (only BPE)`);
    this.model = new HfBpe(model);
    this.normalizer = buildNormalizer(root['normalizer']);
    this.preTokenizer = buildPreTokenizer(root['pre_tokenizer']);
    this.decoder = buildDecoder(root['decoder']);
    this.postProcessor = buildPostProcessor(root['post_processor']);
    const added: AddedToken[] = arr(root['added_tokens'] ?? [], 'added_tokens').map((t, i) => {
      const o = obj(t, `added_tokens[${i}]`);
      const p = `added_tokens[${i}]`;
      const special = optBool(o['special'], false, `${p}.special`);
      return {
        id: int(o['id'], `${p}.id`),
        content: str(o['content'], `${p}.content`),
        singleWord: optBool(o['single_word'], false, `${p}.single_word`),
        lstrip: optBool(o['lstrip'], false, `${p}.lstrip`),
        rstrip: optBool(o['rstrip'], false, `${p}.rstrip`),
        normalized: optBool(o['normalized'], !special, `${p}.normalized`),
        special,
      };
    });
    this.addedVocabulary = new AddedVocabulary(added, this.normalizer, (c) => this.model.vocab.get(c), this.model.vocab.size);
  }

  /** Parses tokenizer.json text. */
  static fromString(json: string): Tokenizer {
    return new Tokenizer(JSON.parse(json));
  }

  /** Loads tokenizer.json from disk (Node). */
  static async fromFile(path: string): Promise<Tokenizer> {
    return Tokenizer.fromString(await readFileText(path));
  }

  /** Vocabulary size including added tokens (get_vocab_size(true)). */
  get vocabSize(): number {
    let n = this.model.vocab.size;
    for (const id of this.addedVocabulary.byId.keys()) if (this.model.idToToken[id] === undefined) n++;
    return n;
  }

  /** Token string of an id, or null. */
  idToToken(id: number): string | null {
    return this.addedVocabulary.byId.get(id)?.content ?? this.model.idToToken[id] ?? null;
  }

  // simple_id_to_token: what decode feeds the decoder (normalized added tokens in normalized form).
  private decodeToken(id: number): string | null {
    const added = this.addedVocabulary.byId.get(id);
    if (added !== undefined) return this.addedVocabulary.decodeString.get(id) ?? added.content;
    return this.model.idToToken[id] ?? null;
  }

  /** Id of a token string, or null. */
  tokenToId(token: string): number | null {
    return this.addedVocabulary.byContent.get(token)?.id ?? this.model.vocab.get(token) ?? null;
  }

  /** True for special added tokens. */
  isSpecialId(id: number): boolean {
    return this.addedVocabulary.byId.get(id)?.special === true;
  }

  private encodeOne(text: string): number[] {
    const ids: number[] = [];
    for (const seg of this.addedVocabulary.extractAndNormalize(toWellFormed(text), this.normalizer)) {
      if (seg.id >= 0) {
        ids.push(seg.id);
        continue;
      }
      if (seg.text.length === 0) continue; // HF drops empty splits before pre-tokenizing
      const splits = this.preTokenizer !== null ? this.preTokenizer([{ text: seg.text, atStart: seg.atStart }]) : [seg];
      for (const s of splits) this.model.tokenize(s.text, ids);
    }
    return ids;
  }

  /** Ids of `text` (and `pair`), with the template's special tokens unless disabled. */
  encode(text: string, options: HfEncodeOptions = {}): number[] {
    const a = this.encodeOne(text);
    const b = options.pair !== undefined ? this.encodeOne(options.pair) : null;
    if (options.addSpecialTokens === false || this.postProcessor === null) return b === null ? a : [...a, ...b];
    return this.postProcessor.process(a, b);
  }

  /** Token strings of ids (no decoding). */
  convertIdsToTokens(ids: readonly number[]): string[] {
    return ids.map((id) => this.idToToken(id) ?? '');
  }

  /** Number of special ids the post-processor adds. */
  numSpecialTokensToAdd(pair = false): number {
    return this.postProcessor?.added(pair) ?? 0;
  }

  /** Text of ids through the decoder chain; unknown ids are skipped as in `tokenizers`. */
  decode(ids: readonly number[], options: HfDecodeOptions = {}): string {
    const tokens: string[] = [];
    for (const id of ids) {
      const t = this.decodeToken(id);
      if (t === null) continue;
      if (options.skipSpecialTokens && this.addedVocabulary.isSpecial(t)) continue;
      tokens.push(t);
    }
    if (this.decoder === null) return tokens.join(' ');
    return this.decoder(tokens).join('');
  }
}
