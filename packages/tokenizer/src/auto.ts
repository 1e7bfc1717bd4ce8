// AutoTokenizer.fromPretrained(source): tokenizer.json if present (the fast
// tokenizer), else tokenizer.model, configured by tokenizer_config.json and
// special_tokens_map.json as transformers reads them. The source is a folder,
// a URL or a set of files (model-source.ts).

import { chatTemplatesFromConfig } from './chat-template.js';
import { Tokenizer } from './hf/tokenizer.js';
import { modelSource, readJsonFile, readText, withProgress, type ModelSourceLike, type ModelSourceOptions, type ProgressCallback } from './model-source.js';
import { PreTrainedTokenizer, type SpecialTokensConfig, sentencePieceBackend, tokenizerJsonBackend } from './pretrained.js';
import { SentencePieceTokenizer } from './sentencepiece.js';

/** Options of AutoTokenizer.fromPretrained. */
export interface FromPretrainedOptions extends ModelSourceOptions {
  /** Ignore tokenizer.json and use tokenizer.model (transformers' use_fast = false). */
  useFast?: boolean;
  /** Bytes read so far, per file and in total. */
  onProgress?: ProgressCallback;
}

// A special token in tokenizer_config.json is a string or an AddedToken dict.
function tokenString(v: unknown): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** Resolves SpecialTokensConfig from tokenizer_config.json (+ special_tokens_map.json). */
export function specialTokensFromConfig(config: Record<string, unknown>, map: Record<string, unknown> | null, defaults: SpecialTokensConfig): SpecialTokensConfig {
  const pick = (k: string, def: string | null | undefined): string | null | undefined => tokenString(config[k]) ?? tokenString(map?.[k]) ?? def;
  const additional: string[] = [];
  const decoder = config['added_tokens_decoder'];
  if (decoder && typeof decoder === 'object') {
    for (const t of Object.values(decoder as Record<string, unknown>)) {
      const tok = t as { content?: unknown; special?: unknown };
      if (tok.special === true && typeof tok.content === 'string') additional.push(tok.content);
    }
  }
  const side = (v: unknown): 'left' | 'right' | undefined => (v === 'left' || v === 'right' ? v : undefined);
  const maxLen = config['model_max_length'];
  return {
    bosToken: pick('bos_token', defaults.bosToken),
    eosToken: pick('eos_token', defaults.eosToken),
    unkToken: pick('unk_token', defaults.unkToken),
    padToken: pick('pad_token', defaults.padToken),
    addBosToken: typeof config['add_bos_token'] === 'boolean' ? config['add_bos_token'] : defaults.addBosToken,
    addEosToken: typeof config['add_eos_token'] === 'boolean' ? config['add_eos_token'] : defaults.addEosToken,
    paddingSide: side(config['padding_side']) ?? defaults.paddingSide,
    truncationSide: side(config['truncation_side']) ?? defaults.truncationSide,
    modelMaxLength: typeof maxLen === 'number' && maxLen < Number.MAX_SAFE_INTEGER ? maxLen : defaults.modelMaxLength,
    additionalSpecialTokens: additional,
    chatTemplate: chatTemplatesFromConfig(config['chat_template']),
  };
}

/** Picks and configures the right tokenizer for a model folder. */
export class AutoTokenizer {
  /** Loads tokenizer.json or tokenizer.model with tokenizer_config.json from a folder (Node), a URL or a set of files. */
  static async fromPretrained(source: ModelSourceLike, options: FromPretrainedOptions = {}): Promise<PreTrainedTokenizer> {
    const src = withProgress(modelSource(source, options), options.onProgress);
    const config = (await readJsonFile(src, 'tokenizer_config.json', true)) ?? {};
    // transformers >= 4.43 may store the template beside the config as chat_template.jinja
    if (config['chat_template'] === undefined && (await src.size('chat_template.jinja')) !== null) config['chat_template'] = await readText(src, 'chat_template.jinja');
    const map = await readJsonFile(src, 'special_tokens_map.json', true);
    const hasModel = (await src.size('tokenizer.model')) !== null;
    if (options.useFast !== false && (await src.size('tokenizer.json')) !== null) {
      const tok = Tokenizer.fromString(await readText(src, 'tokenizer.json'));
      // Without add_bos/add_eos in the config the tokenizer.json template decides.
      return new PreTrainedTokenizer(tokenizerJsonBackend(tok), specialTokensFromConfig(config, map, {}));
    }
    if (hasModel) {
      const sp = SentencePieceTokenizer.fromBuffer(await src.read('tokenizer.model'));
      const piece = (id: number): string | null => (id >= 0 ? sp.idToPiece(id) : null);
      // LlamaTokenizer defaults: add BOS, not EOS; special tokens are the model's own.
      const defaults: SpecialTokensConfig = {
        bosToken: piece(sp.bosId),
        eosToken: piece(sp.eosId),
        unkToken: piece(sp.unkId),
        padToken: piece(sp.padId),
        addBosToken: true,
        addEosToken: false,
      };
      return new PreTrainedTokenizer(sentencePieceBackend(sp), specialTokensFromConfig(config, map, defaults));
    }
    throw new Error(`AutoTokenizer.fromPretrained: no tokenizer.json or tokenizer.model in ${src.name}`);
  }
}
