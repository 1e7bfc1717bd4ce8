// The logits processors of transformers' generation/logits_process.py, on one row of float64 scores, in place.
import type { GenerationConfig } from './configuration-utils.js';

/** The settings processScores reads: sampling ones resolved; the length-aware processors need promptLength and eos ids. */
export type ProcessorSettings = Required<Pick<GenerationConfig, 'doSample' | 'temperature' | 'topK' | 'topP' | 'repetitionPenalty'>>
  & Pick<GenerationConfig, 'noRepeatNgramSize' | 'minNewTokens'>
  & { /** Tokens of the row before generation started (minNewTokens counts from there). */ promptLength?: number; eosTokenIds?: readonly number[] };

/** RepetitionPenaltyLogitsProcessor: divides positive scores of seen tokens by `penalty`, multiplies negative ones. */
export function repetitionPenalty(scores: Float64Array, seen: readonly number[], penalty: number): void {
  for (const id of new Set(seen)) {
    const s = scores[id]!;
    scores[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/** NoRepeatNGramLogitsProcessor: bans every token that would complete an n-gram already present in `seen` (prompt included). */
export function noRepeatNgram(scores: Float64Array, seen: readonly number[], n: number): void {
  const len = seen.length;
  if (len + 1 < n) return;
  const prefix = seen.slice(len + 1 - n); // the n - 1 last tokens: the start of the n-gram the next token completes
  for (let i = 0; i + n <= len; i++) {
    let match = true;
    for (let k = 0; k < n - 1 && match; k++) match = seen[i + k] === prefix[k];
    if (match) scores[seen[i + n - 1]!] = -Infinity;
  }
}

/** MinNewTokensLengthLogitsProcessor: EOS is impossible while fewer than minNewTokens tokens follow the prompt. */
export function minNewTokensLength(scores: Float64Array, newTokens: number, minNewTokens: number, eosTokenIds: readonly number[]): void {
  if (newTokens >= minNewTokens) return;
  for (const id of eosTokenIds) if (id >= 0 && id < scores.length) scores[id] = -Infinity;
}

/** TemperatureLogitsWarper: scores / temperature. */
export function temperatureWarp(scores: Float64Array, temperature: number): void {
  for (let i = 0; i < scores.length; i++) scores[i]! /= temperature;
}

/** TopKLogitsWarper: -inf below the k-th largest score (ties with it are kept). */
export function topKWarp(scores: Float64Array, topK: number): void {
  const V = scores.length;
  const kth = Float64Array.from(scores).sort()[V - topK]!;
  for (let i = 0; i < V; i++) if (scores[i]! < kth) scores[i] = -Infinity;
}

/** TopPLogitsWarper: sorted ascending, drops the low tail whose cumulative probability is <= 1 - top_p; the best token always stays. */
export function topPWarp(scores: Float64Array, topP: number): void {
  const V = scores.length;
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
  const m = Math.max(...scores);
  const p = order.map((i) => Math.exp(scores[i]! - m));
  const z = p.reduce((a, b) => a + b, 0);
  let cum = 0;
  for (let r = 0; r < V - 1; r++) {
    cum += p[r]! / z;
    if (cum <= 1 - topP) scores[order[r]!] = -Infinity;
  }
}

/**
 * HF's processors on one row of float64 scores, in place, in _get_logits_processor's order: repetition penalty,
 * no-repeat n-gram, min new tokens, then (sampling) temperature, top-k, top-p.
 */
export function processScores(scores: Float64Array, seen: readonly number[], cfg: ProcessorSettings): void {
  if (cfg.repetitionPenalty !== 1) repetitionPenalty(scores, seen, cfg.repetitionPenalty);
  if ((cfg.noRepeatNgramSize ?? 0) > 0) noRepeatNgram(scores, seen, cfg.noRepeatNgramSize!);
  if ((cfg.minNewTokens ?? 0) > 0) minNewTokensLength(scores, seen.length - (cfg.promptLength ?? 0), cfg.minNewTokens!, cfg.eosTokenIds ?? []);
  if (!cfg.doSample) return;
  if (cfg.temperature !== 1) temperatureWarp(scores, cfg.temperature);
  if (cfg.topK > 0 && cfg.topK < scores.length) topKWarp(scores, cfg.topK);
  if (cfg.topP < 1) topPWarp(scores, cfg.topP);
}
