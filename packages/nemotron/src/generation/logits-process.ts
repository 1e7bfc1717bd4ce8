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

/**
 * The k-th largest value of `scores` (k <= length), as `sorted(scores)[length - k]`: a min-heap of the k largest
 * seen, O(V log k) instead of sorting the vocabulary (256,000 entries for Nemotron's tokenizer).
 */
export function kthLargest(scores: Float64Array, k: number): number {
  const heap = scores.slice(0, k);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= k) return;
      const c = l + 1 < k && heap[l + 1]! < heap[l]! ? l + 1 : l;
      if (!(heap[c]! < heap[i]!)) return;
      const t = heap[c]!;
      heap[c] = heap[i]!;
      heap[i] = t;
      i = c;
    }
  };
  for (let i = (k >> 1) - 1; i >= 0; i--) down(i);
  for (let i = k; i < scores.length; i++) {
    if (scores[i]! > heap[0]!) {
      heap[0] = scores[i]!;
      down(0);
    }
  }
  return heap[0]!;
}

/** TopKLogitsWarper: -inf below the k-th largest score (ties with it are kept). */
export function topKWarp(scores: Float64Array, topK: number): void {
  const kth = kthLargest(scores, topK);
  for (let i = 0; i < scores.length; i++) if (scores[i]! < kth) scores[i] = -Infinity;
}

/**
 * TopPLogitsWarper: sorted ascending, drops the low tail whose cumulative probability is <= 1 - top_p; the best token
 * always stays. Only the finite scores are sorted: a -inf score (top-k's leftovers) has probability 0, sorts first and
 * adds nothing to the sums, so leaving it out changes no bit, and after top-k only k entries remain to sort.
 */
export function topPWarp(scores: Float64Array, topP: number): void {
  let n = 0;
  const idx = new Uint32Array(scores.length);
  let m = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (v !== -Infinity) idx[n++] = i;
    m = Math.max(m, v); // no spread: a 256k-entry vocabulary is past the engine's argument limit
  }
  const order = idx.subarray(0, n).sort((a, b) => scores[a]! - scores[b]! || a - b);
  const p = new Float64Array(n);
  let z = 0;
  for (let r = 0; r < n; r++) z += p[r] = Math.exp(scores[order[r]!]! - m);
  let cum = 0;
  for (let r = 0; r < n - 1; r++) {
    cum += p[r]! / z;
    if (cum <= 1 - topP) scores[order[r]!] = -Infinity;
  }
}

/** Whether processScores changes any score under these settings (greedy decoding with none of them reads the logits as they are). */
export function changesScores(cfg: ProcessorSettings): boolean {
  return cfg.repetitionPenalty !== 1 || (cfg.noRepeatNgramSize ?? 0) > 0 || (cfg.minNewTokens ?? 0) > 0 || cfg.doSample;
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
