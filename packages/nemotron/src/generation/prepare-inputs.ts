// What a decoding strategy resolves before its first step, as transformers' generate() does: the settings
// (call > generation_config.json > HF defaults), EOS and pad ids, the attention mask and position ids.
import { toIntTensor, type IntInput } from '../inputs.js';
import { GENERATION_DEFAULTS, type GenerationConfig } from './configuration-utils.js';

/** GenerationConfig with every defaulted setting filled in. */
export type ResolvedGenerationConfig = GenerationConfig & Required<Pick<GenerationConfig, keyof typeof GENERATION_DEFAULTS>>;

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The call's settings over generation_config.json's over HF's defaults. */
export function resolveGenerationConfig(base: GenerationConfig | null, call: GenerationConfig): ResolvedGenerationConfig {
  return { ...GENERATION_DEFAULTS, ...defined(base ?? {}), ...defined(call) };
}

/** EOS ids, and the pad id (EOS when unset: HF's "Setting pad_token_id to eos_token_id for open-end generation"). */
export function eosAndPad(cfg: GenerationConfig): { eos: number[]; pad: number | null } {
  const eos = cfg.eosTokenId == null ? [] : Array.isArray(cfg.eosTokenId) ? cfg.eosTokenId : [cfg.eosTokenId];
  return { eos, pad: cfg.padTokenId ?? eos[0] ?? null };
}

/** The attention mask: given, or inferred from pad tokens in the prompt when pad is not EOS (as HF), else all ones. */
export function initialAttentionMask(rows: readonly number[][], given: IntInput | null | undefined, pad: number | null, eos: readonly number[]): number[][] {
  const B = rows.length;
  const S = rows[0]?.length ?? 0;
  let mask: number[][];
  if (given != null) mask = toIntTensor('attention_mask', given, 2).tolist() as number[][];
  else if (pad !== null && !eos.includes(pad) && rows.some((r) => r.includes(pad))) mask = rows.map((r) => r.map((t) => (t === pad ? 0 : 1)));
  else mask = rows.map((r) => r.map(() => 1));
  if (mask.length !== B || mask.some((m) => m.length !== S)) throw new Error(`generate: attentionMask must have the shape of input_ids [${B},${S}]`);
  return mask;
}

/** HF's position_ids = cumsum(mask) - 1, set to 1 at masked positions; the entries from `from` on. */
export function positionIdsFrom(mask: readonly number[][], from: number): number[][] {
  return mask.map((r) => {
    let n = 0;
    return r.map((v) => (n += v, v ? n - 1 : 1)).slice(from);
  });
}

/** Each row repeated n times in place (torch.repeat_interleave on dim 0), as generate() expands prompts. */
export function repeatInterleave<T>(rows: readonly T[], n: number): T[] {
  return rows.flatMap((r) => Array.from({ length: n }, () => (Array.isArray(r) ? [...r] : r) as T));
}
