// GenerationConfig (transformers' generation/configuration_utils.py): decoding settings and generation_config.json.

/** Decoding settings (HF GenerationConfig names in camelCase); unset ones come from generation_config.json, then HF defaults. */
export interface GenerationConfig {
  maxNewTokens?: number;
  /** Total length limit (prompt + new) when maxNewTokens is not given; HF's default is 20. */
  maxLength?: number;
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  /** Tokens generated before EOS may end a row (MinNewTokensLengthLogitsProcessor). */
  minNewTokens?: number;
  /** No n-gram of this size occurs twice in a row (NoRepeatNGramLogitsProcessor); 0 = off. */
  noRepeatNgramSize?: number;
  /** Beams of beam search; 1 = greedy or sampling. */
  numBeams?: number;
  /** Beam scores are sum(logprobs) / generated_length ** lengthPenalty. */
  lengthPenalty?: number;
  /** When beam search stops: true (numBeams hypotheses done), false (heuristic), 'never' (no better one can come). */
  earlyStopping?: boolean | 'never';
  /** Sequences returned per prompt (the best beams, or independent samples). */
  numReturnSequences?: number;
  /** A row stops when its decoded text ends with one of these (needs GenerateOptions.tokenizer). */
  stopStrings?: string | string[];
  eosTokenId?: number | number[] | null;
  padTokenId?: number | null;
  bosTokenId?: number | null;
}

/** HF's GenerationConfig defaults for the settings that have one. */
export const GENERATION_DEFAULTS = {
  maxLength: 20, doSample: false, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1,
  minNewTokens: 0, noRepeatNgramSize: 0, numBeams: 1, lengthPenalty: 1, earlyStopping: false, numReturnSequences: 1,
} as const;

const KEYS: readonly [keyof GenerationConfig, string][] = [
  ['maxNewTokens', 'max_new_tokens'], ['maxLength', 'max_length'], ['doSample', 'do_sample'], ['temperature', 'temperature'], ['topK', 'top_k'],
  ['topP', 'top_p'], ['repetitionPenalty', 'repetition_penalty'], ['minNewTokens', 'min_new_tokens'], ['noRepeatNgramSize', 'no_repeat_ngram_size'], ['numBeams', 'num_beams'],
  ['lengthPenalty', 'length_penalty'], ['earlyStopping', 'early_stopping'], ['numReturnSequences', 'num_return_sequences'], ['stopStrings', 'stop_strings'],
  ['eosTokenId', 'eos_token_id'], ['padTokenId', 'pad_token_id'], ['bosTokenId', 'bos_token_id'],
];

/** Reads HF's generation_config.json keys into a GenerationConfig. */
export function generationConfigFromDict(j: Record<string, unknown>): GenerationConfig {
  return Object.fromEntries(KEYS.map(([k, key]) => [k, j[key]])) as GenerationConfig;
}

/** The generation_config.json object of a GenerationConfig (HF key names; unset keys left out). */
export function generationConfigToDict(c: GenerationConfig): Record<string, unknown> {
  return Object.fromEntries(KEYS.filter(([k]) => c[k] !== undefined).map(([k, j]) => [j, c[k]]));
}
