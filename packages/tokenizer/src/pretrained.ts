// PreTrainedTokenizer: the model-facing tokenizer (transformers' shape): special
// tokens from tokenizer_config.json, batch encoding with padding / truncation
// and attention masks, decode with skipSpecialTokens. Instances are callable:
// `tokenizer(texts, options)`.

import { type ChatMessage, type ChatTemplateOptions, type ChatTemplates, renderChatTemplate, selectChatTemplate } from './chat-template.js';
import type { Tokenizer } from './hf/tokenizer.js';
import type { SentencePieceTokenizer } from './sentencepiece.js';

/** Padding strategy: true = 'longest'. */
export type PaddingStrategy = boolean | 'longest' | 'max_length' | 'do_not_pad';

/** Options of a batch call. */
export interface BatchEncodeOptions {
  /** Add BOS/EOS as configured (default true). */
  addSpecialTokens?: boolean;
  /** Pad to the longest sequence (true / 'longest') or to maxLength ('max_length'). */
  padding?: PaddingStrategy;
  /** Cut sequences longer than maxLength (special tokens included). */
  truncation?: boolean;
  /** Length limit for truncation and 'max_length' padding; defaults to modelMaxLength. */
  maxLength?: number;
  /** Where padding goes (default: the tokenizer's paddingSide, usually 'right'). */
  paddingSide?: 'left' | 'right';
  /** Which end truncation cuts (default: the tokenizer's truncationSide, 'right'). */
  truncationSide?: 'left' | 'right';
  /** Round padded lengths up to a multiple of this. */
  padToMultipleOf?: number;
  /** Return the attention mask (default true). */
  returnAttentionMask?: boolean;
}

/** Plain arrays the model accepts. */
export interface BatchEncoding {
  inputIds: number[][];
  attentionMask: number[][];
}

/** Options of decode. */
export interface DecodeOptions {
  /** Drop BOS/EOS/PAD/UNK-like special tokens (default false). */
  skipSpecialTokens?: boolean;
}

/** Special-token settings resolved from tokenizer_config.json. */
export interface SpecialTokensConfig {
  bosToken?: string | null;
  eosToken?: string | null;
  unkToken?: string | null;
  padToken?: string | null;
  /** Add BOS when encoding; undefined = backend default. */
  addBosToken?: boolean;
  /** Add EOS when encoding; undefined = backend default. */
  addEosToken?: boolean;
  paddingSide?: 'left' | 'right';
  truncationSide?: 'left' | 'right';
  modelMaxLength?: number;
  /** Extra special tokens (added_tokens_decoder entries with special = true). */
  additionalSpecialTokens?: string[];
  /** tokenizer_config.json's chat_template. */
  chatTemplate?: ChatTemplates | null;
}

/** What a tokenizer backend (.model or tokenizer.json) provides. */
export interface TokenizerBackend {
  readonly vocabSize: number;
  /** Ids without any special token added. */
  encodeText(text: string): number[];
  /** Ids with the backend's own default special tokens. */
  encodeDefault(text: string): number[];
  decodeIds(ids: readonly number[], skip: ReadonlySet<number>): string;
  idToToken(id: number): string | null;
  tokenToId(token: string): number | null;
}

/** Backend over a SentencePiece .model. */
export function sentencePieceBackend(sp: SentencePieceTokenizer): TokenizerBackend {
  return {
    vocabSize: sp.vocabSize,
    encodeText: (t) => sp.encode(t),
    encodeDefault: (t) => sp.encode(t, { addBos: true }), // LlamaTokenizer's default: BOS only
    decodeIds: (ids, skip) => sp.decode(skip.size ? ids.filter((i) => !skip.has(i)) : [...ids]),
    idToToken: (id) => (id >= 0 && id < sp.vocabSize ? sp.idToPiece(id) : null),
    tokenToId: (t) => {
      const id = sp.pieceToId(t);
      return id === sp.unkId && t !== sp.idToPiece(id) ? null : id;
    },
  };
}

/** Backend over a tokenizer.json. */
export function tokenizerJsonBackend(tok: Tokenizer): TokenizerBackend {
  return {
    get vocabSize() {
      return tok.vocabSize;
    },
    encodeText: (t) => tok.encode(t, { addSpecialTokens: false }),
    encodeDefault: (t) => tok.encode(t),
    decodeIds: (ids, skip) => tok.decode(skip.size ? ids.filter((i) => !skip.has(i) && !tok.isSpecialId(i)) : ids),
    idToToken: (id) => tok.idToToken(id),
    tokenToId: (t) => tok.tokenToId(t),
  };
}

/** Callable signature of PreTrainedTokenizer instances. */
export interface PreTrainedTokenizer {
  (texts: string | readonly string[], options?: BatchEncodeOptions): BatchEncoding;
}

/** The tokenizer a model uses: special tokens, batching, padding, truncation. */
export class PreTrainedTokenizer {
  declare readonly backend: TokenizerBackend;
  declare readonly bosToken: string | null;
  declare readonly eosToken: string | null;
  declare readonly unkToken: string | null;
  declare readonly padToken: string | null;
  declare readonly bosTokenId: number | null;
  declare readonly eosTokenId: number | null;
  declare readonly unkTokenId: number | null;
  declare readonly padTokenId: number | null;
  declare readonly addBosToken: boolean | undefined;
  declare readonly addEosToken: boolean | undefined;
  declare paddingSide: 'left' | 'right';
  declare truncationSide: 'left' | 'right';
  declare readonly modelMaxLength: number;
  /** Ids dropped by decode({ skipSpecialTokens: true }). */
  declare readonly allSpecialIds: ReadonlySet<number>;
  declare readonly additionalSpecialTokens: readonly string[];
  /** The chat template(s) of tokenizer_config.json, or null. */
  declare readonly chatTemplate: ChatTemplates | null;

  /** Wraps a backend; the returned object is also callable as `tokenizer(texts, options)`. */
  constructor(backend: TokenizerBackend, config: SpecialTokensConfig = {}) {
    // A function object carrying this prototype makes the instance callable.
    const self = function (this: unknown, texts: string | readonly string[], options?: BatchEncodeOptions): BatchEncoding {
      return self.batch(texts, options);
    } as unknown as PreTrainedTokenizer;
    Object.setPrototypeOf(self, new.target.prototype);
    // Fields are `declare`d: they live on the function object, not on a discarded `this`.
    const w = self as { -readonly [K in keyof PreTrainedTokenizer]: PreTrainedTokenizer[K] };
    w.backend = backend;
    const id = (t: string | null | undefined): number | null => (t == null ? null : backend.tokenToId(t));
    w.bosToken = config.bosToken ?? null;
    w.eosToken = config.eosToken ?? null;
    w.unkToken = config.unkToken ?? null;
    w.padToken = config.padToken ?? null;
    w.bosTokenId = id(w.bosToken);
    w.eosTokenId = id(w.eosToken);
    w.unkTokenId = id(w.unkToken);
    w.padTokenId = id(w.padToken);
    w.addBosToken = config.addBosToken;
    w.addEosToken = config.addEosToken;
    w.paddingSide = config.paddingSide ?? 'right';
    w.truncationSide = config.truncationSide ?? 'right';
    w.modelMaxLength = config.modelMaxLength ?? Number.MAX_SAFE_INTEGER;
    const special = new Set<number>();
    for (const t of [w.bosToken, w.eosToken, w.unkToken, w.padToken, ...(config.additionalSpecialTokens ?? [])]) {
      const i = id(t);
      if (i !== null) special.add(i);
    }
    w.allSpecialIds = special;
    w.additionalSpecialTokens = config.additionalSpecialTokens ?? [];
    w.chatTemplate = config.chatTemplate ?? null;
    return self;
  }

  /** Vocabulary size of the backend. */
  get vocabSize(): number {
    return this.backend.vocabSize;
  }

  private specials(): [number[], number[]] {
    const pre = this.addBosToken && this.bosTokenId !== null ? [this.bosTokenId] : [];
    const post = this.addEosToken && this.eosTokenId !== null ? [this.eosTokenId] : [];
    return [pre, post];
  }

  /** Ids of one text, with BOS/EOS as configured unless addSpecialTokens is false. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    if (options.addSpecialTokens === false) return this.backend.encodeText(text);
    if (this.addBosToken === undefined && this.addEosToken === undefined) return this.backend.encodeDefault(text);
    const [pre, post] = this.specials();
    return [...pre, ...this.backend.encodeText(text), ...post];
  }

  /** Encodes texts into padded / truncated id and mask arrays. */
  batch(texts: string | readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
    const list = typeof texts === 'string' ? [texts] : texts;
    const addSpecial = options.addSpecialTokens !== false;
    const maxLength = options.maxLength ?? (options.truncation || options.padding === 'max_length' ? this.modelMaxLength : undefined);
    const truncSide = options.truncationSide ?? this.truncationSide;
    const padSide = options.paddingSide ?? this.paddingSide;
    const inputIds = list.map((t) => {
      let ids = this.encode(t, { addSpecialTokens: addSpecial });
      if (options.truncation && maxLength !== undefined && ids.length > maxLength) {
        ids = this.truncate(ids, t, maxLength, truncSide, addSpecial);
      }
      return ids;
    });
    const attentionMask = inputIds.map((ids) => ids.map(() => 1));
    let target = -1;
    if (options.padding === true || options.padding === 'longest') target = Math.max(0, ...inputIds.map((x) => x.length));
    else if (options.padding === 'max_length') {
      if (maxLength === undefined || maxLength === Number.MAX_SAFE_INTEGER) throw new Error("padding: 'max_length' needs maxLength");
      target = maxLength;
    }
    if (target >= 0) {
      const m = options.padToMultipleOf;
      if (m !== undefined && m > 0) target = Math.ceil(target / m) * m;
      if (this.padTokenId === null) throw new Error('padding: the tokenizer has no pad token; set padToken in tokenizer_config.json');
      for (let i = 0; i < inputIds.length; i++) {
        const n = target - inputIds[i]!.length;
        if (n <= 0) continue;
        const pad = new Array<number>(n).fill(this.padTokenId);
        const zeros = new Array<number>(n).fill(0);
        if (padSide === 'left') {
          inputIds[i] = [...pad, ...inputIds[i]!];
          attentionMask[i] = [...zeros, ...attentionMask[i]!];
        } else {
          inputIds[i]!.push(...pad);
          attentionMask[i]!.push(...zeros);
        }
      }
    }
    return { inputIds, attentionMask: options.returnAttentionMask === false ? [] : attentionMask };
  }

  // Truncates the text part so that, with its special tokens, the result fits maxLength.
  private truncate(ids: number[], text: string, maxLength: number, side: 'left' | 'right', addSpecial: boolean): number[] {
    if (!addSpecial) return side === 'right' ? ids.slice(0, maxLength) : ids.slice(ids.length - maxLength);
    const body = this.backend.encodeText(text);
    const nSpecial = ids.length - body.length;
    const keep = Math.max(0, maxLength - nSpecial);
    const cut = side === 'right' ? body.slice(0, keep) : body.slice(body.length - keep);
    // Re-wrap: specials are the ids around the body in the full encoding.
    const lead = ids.slice(0, ids.length - body.length - this.trailingSpecials(ids, body));
    const trail = ids.slice(ids.length - this.trailingSpecials(ids, body));
    return [...lead, ...cut, ...trail].slice(0, Math.max(maxLength, nSpecial));
  }

  private trailingSpecials(ids: number[], body: number[]): number {
    // Number of ids after the body: find where the body sits inside ids.
    for (let lead = 0; lead + body.length <= ids.length; lead++) {
      let ok = true;
      for (let k = 0; k < body.length && ok; k++) ok = ids[lead + k] === body[k];
      if (ok) return ids.length - lead - body.length;
    }
    return 0;
  }

  /** Text of ids; skipSpecialTokens drops BOS/EOS/PAD/UNK and other special ids. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    return this.backend.decodeIds(ids, options.skipSpecialTokens ? this.allSpecialIds : new Set());
  }

  /** decode for each row. */
  batchDecode(rows: readonly (readonly number[])[], options: DecodeOptions = {}): string[] {
    return rows.map((r) => this.decode(r, options));
  }

  /** Renders a conversation with the chat template, as transformers' apply_chat_template: ids unless tokenize is false. */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions & { tokenize: false }): string;
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions & { tokenize?: true }): number[];
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string | number[];
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string | number[] {
    const template = selectChatTemplate(this.chatTemplate, options.chatTemplate);
    // transformers puts special_tokens_map in the context, then the caller's kwargs
    const context: Record<string, unknown> = {
      bos_token: this.bosToken ?? undefined, eos_token: this.eosToken ?? undefined, unk_token: this.unkToken ?? undefined,
      pad_token: this.padToken ?? undefined, additional_special_tokens: this.additionalSpecialTokens, ...options.templateVars,
    };
    const text = renderChatTemplate(template, messages, options.addGenerationPrompt ?? false, context);
    // the template already holds every special token it wants (BOS included)
    return options.tokenize === false ? text : this.encode(text, { addSpecialTokens: false });
  }

  /** Token strings of ids. */
  convertIdsToTokens(ids: readonly number[]): string[] {
    return ids.map((i) => this.backend.idToToken(i) ?? '');
  }

  /** Id of a token string, or null. */
  convertTokenToId(token: string): number | null {
    return this.backend.tokenToId(token);
  }
}
