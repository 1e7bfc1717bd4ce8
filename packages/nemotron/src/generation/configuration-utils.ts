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
  eosTokenId?: number | number[] | null;
  padTokenId?: number | null;
  bosTokenId?: number | null;
}

/** HF's GenerationConfig defaults for the settings that have one. */
export const GENERATION_DEFAULTS = { maxLength: 20, doSample: false, temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1 } as const;

const KEYS: readonly [keyof GenerationConfig, string][] = [
  ['maxNewTokens', 'max_new_tokens'], ['maxLength', 'max_length'], ['doSample', 'do_sample'], ['temperature', 'temperature'], ['topK', 'top_k'],
  ['topP', 'top_p'], ['repetitionPenalty', 'repetition_penalty'], ['eosTokenId', 'eos_token_id'], ['padTokenId', 'pad_token_id'], ['bosTokenId', 'bos_token_id'],
];

/** Reads HF's generation_config.json keys into a GenerationConfig. */
export function generationConfigFromDict(j: Record<string, unknown>): GenerationConfig {
  return Object.fromEntries(KEYS.map(([k, key]) => [k, j[key]])) as GenerationConfig;
}

/** The generation_config.json object of a GenerationConfig (HF key names; unset keys left out). */
export function generationConfigToDict(c: GenerationConfig): Record<string, unknown> {
  return Object.fromEntries(KEYS.filter(([k]) => c[k] !== undefined).map(([k, j]) => [j, c[k]]));
}
