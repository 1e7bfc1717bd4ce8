// Beam search as transformers' BeamSearchScorer and BeamHypotheses define it: log-softmax scores through the logits
// processors, the best 2 * numBeams candidates per prompt (more with several EOS ids), finished hypotheses scored
// sum(logprobs) / generated_length ** lengthPenalty (the EOS token counted), and earlyStopping's three stop rules.
import { indexSelect, logSoftmax, noGrad, tensor, type Tensor } from '@tensorzoo/tensor';
import { DynamicCache } from '../cache-utils.js';
import { toIntTensor, type DecoderInputs, type IntInput } from '../inputs.js';
import type { GenerationConfig } from './configuration-utils.js';
import { processScores } from './logits-process.js';
import { eosAndPad, initialAttentionMask, positionIdsFrom, repeatInterleave, resolveGenerationConfig } from './prepare-inputs.js';

/** What beam search needs of a model: utils.ts's CausalLM, stated here because utils.ts imports this file. */
export interface BeamSearchModel {
  readonly config: { readonly num_hidden_layers: number; readonly vocab_size: number };
  readonly generationConfig: GenerationConfig | null;
  forward(inputs: DecoderInputs & { logitsToKeep?: number }): { logits: Tensor };
}

/** A running beam's score before any beam has a token: only the first beam of each prompt starts live. */
const DEAD_BEAM = -1e9;

/** The finished hypotheses of one prompt: the numBeams best by length-normalised score (BeamHypotheses). */
export class BeamHypotheses {
  readonly beams: { score: number; tokens: number[] }[] = [];
  worstScore = 1e9;

  /** numBeams kept; maxLength (prompt + new tokens) bounds the score for earlyStopping 'never'. */
  constructor(
    readonly numBeams: number,
    readonly lengthPenalty: number,
    readonly earlyStopping: boolean | 'never',
    readonly maxLength: number,
  ) {}

  /** Adds a hypothesis whose log-probabilities sum to sumLogprobs over generatedLen new tokens, if it is among the best. */
  add(tokens: number[], sumLogprobs: number, generatedLen: number): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.beams.length >= this.numBeams && !(score > this.worstScore)) return;
    this.beams.push({ score, tokens });
    if (this.beams.length > this.numBeams) {
      const order = this.beams.map((b, i) => [b.score, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      this.beams.splice(order[0]![1], 1);
      this.worstScore = order[1]![0];
    } else {
      this.worstScore = Math.min(score, this.worstScore);
    }
  }

  /** Whether no running beam can beat the finished ones, given the best running sum of log-probabilities. */
  isDone(bestSumLogprobs: number, curLen: number, promptLen: number): boolean {
    if (this.beams.length < this.numBeams) return false;
    if (this.earlyStopping === true) return true;
    // false: the heuristic of scoring the best running beam as if it ended now; 'never': its best possible score
    const len = this.earlyStopping === 'never' && this.lengthPenalty > 0 ? this.maxLength - promptLen : curLen - promptLen;
    return this.worstScore >= bestSumLogprobs / len ** this.lengthPenalty;
  }
}

/** The `count` largest entries of `s` (index order breaks ties), best first: torch.topk(sorted=True). */
function topK(s: Float64Array, count: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const v = s[i]!;
    if (best.length === count && !(v > s[best[count - 1]!]!)) continue;
    let at = best.length;
    while (at > 0 && v > s[best[at - 1]!]!) at--;
    best.splice(at, 0, i);
    if (best.length > count) best.pop();
  }
  return best;
}

/** Keeps the cache entries of the given rows, in that order (Cache.reorder_cache). */
function reorderCache(cache: DynamicCache, rows: readonly number[]): void {
  const index = tensor(rows as number[], { dtype: 'int32' });
  cache.layers.forEach((l, i) => {
    if (l) cache.layers[i] = { key: indexSelect(l.key, 0, index), value: indexSelect(l.value, 0, index) };
  });
}

/**
 * Beam search (numBeams > 1, no sampling): the numReturnSequences best hypotheses of each prompt, best first, as
 * [prompt + new tokens] rows padded with the pad id. A finished hypothesis keeps the EOS id it ended with (v4.56's
 * _beam_search; the older BeamSearchScorer.finalize wrote the first EOS id whichever ended it).
 */
export async function beamSearch(model: BeamSearchModel, inputIds: IntInput, opts: GenerationConfig & { attentionMask?: IntInput | null } = {}): Promise<number[][]> {
  const cfg = resolveGenerationConfig(model.generationConfig, opts);
  const K = cfg.numBeams;
  const prompts = toIntTensor('input_ids', inputIds, 2).tolist() as number[][];
  const B = prompts.length;
  const S = prompts[0]?.length ?? 0;
  const { eos, pad } = eosAndPad(cfg);
  const maxNew = cfg.maxNewTokens ?? Math.max(0, cfg.maxLength - S);
  if (!Number.isInteger(K) || K < 2) throw new Error(`generate: numBeams must be an integer >= 2 for beam search, got ${K}`);
  if (cfg.doSample) throw new Error('generate: beam sampling (numBeams > 1 with doSample) is not supported; use doSample: false');
  if (cfg.stopStrings !== undefined) throw new Error('generate: stopStrings are not supported with beam search (numBeams > 1)');
  if (!(Number.isInteger(cfg.numReturnSequences) && cfg.numReturnSequences >= 1 && cfg.numReturnSequences <= K)) {
    throw new Error(`generate: numReturnSequences must be an integer in [1, numBeams = ${K}], got ${cfg.numReturnSequences}`);
  }
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new Error(`generate: beam search needs maxNewTokens >= 1, got ${maxNew}`);
  if (pad === null) throw new Error('generate: beam search needs a padTokenId or eosTokenId to pad finished hypotheses');
  if (cfg.earlyStopping !== true && cfg.earlyStopping !== false && cfg.earlyStopping !== 'never') {
    throw new Error(`generate: earlyStopping must be true, false or 'never', got ${JSON.stringify(cfg.earlyStopping)}`);
  }
  const maxLength = S + maxNew;
  const processor = { ...cfg, doSample: false, promptLength: S, eosTokenIds: eos };

  let rows = repeatInterleave(prompts, K);
  let mask = repeatInterleave(initialAttentionMask(prompts, opts.attentionMask, pad, eos), K);
  let beamScores: number[] = rows.map((_, r) => (r % K === 0 ? 0 : DEAD_BEAM));
  const hyps = prompts.map(() => new BeamHypotheses(K, cfg.lengthPenalty, cfg.earlyStopping, maxLength));
  const done = prompts.map(() => false);
  const cache = new DynamicCache(model.config.num_hidden_layers);
  const V = model.config.vocab_size;
  const keep = Math.max(2, 1 + eos.length) * K;
  let next: number[][] = rows;
  while (rows[0]!.length < maxLength && !done.every(Boolean)) {
    const past = cache.getSeqLength();
    const logits = await noGrad(() => logSoftmax(model.forward({
      inputIds: next, attentionMask: mask, positionIds: positionIdsFrom(mask, past), pastKeyValues: cache, useCache: true, logitsToKeep: 1,
    }).logits.squeeze(1).double(), -1)).data();
    const curLen = rows[0]!.length + 1; // the length the candidates' scores are computed on
    const nextRows: number[] = [];
    const nextTokens: number[] = [];
    const nextScores: number[] = [];
    for (let b = 0; b < B; b++) {
      if (done[b]) { // a finished prompt's beams carry pad tokens
        for (let k = 0; k < K; k++) (nextRows.push(b * K), nextTokens.push(pad), nextScores.push(0));
        continue;
      }
      const flat = new Float64Array(K * V);
      for (let k = 0; k < K; k++) {
        const r = b * K + k;
        const s = new Float64Array(logits.subarray(r * V, (r + 1) * V));
        processScores(s, rows[r]!, processor);
        for (let v = 0; v < V; v++) flat[k * V + v] = s[v]! + beamScores[r]!;
      }
      const candidates = topK(flat, keep);
      let added = 0;
      for (const [rank, c] of candidates.entries()) {
        const r = b * K + Math.floor(c / V);
        const token = c % V;
        if (eos.includes(token)) {
          if (rank < K) hyps[b]!.add([...rows[r]!, token], flat[c]!, curLen - S);
        } else {
          nextRows.push(r);
          nextTokens.push(token);
          nextScores.push(flat[c]!);
          if (++added === K) break;
        }
      }
      if (added < K) throw new Error(`generate: beam search found ${added} of ${K} live candidates (the scores hold -Infinity for nearly every token)`);
      done[b] = hyps[b]!.isDone(flat[candidates[0]!]!, curLen, S);
    }
    rows = nextRows.map((r, i) => [...rows[r]!, nextTokens[i]!]);
    mask = nextRows.map((r) => [...mask[r]!, 1]);
    beamScores = nextScores;
    reorderCache(cache, nextRows);
    next = nextTokens.map((t) => [t]);
    await new Promise<void>((r) => setTimeout(r, 0)); // let the event loop breathe between steps
  }
  // finalize: running beams of unfinished prompts become hypotheses too; the best numReturnSequences are returned
  const best: number[][] = [];
  for (let b = 0; b < B; b++) {
    if (!done[b]) for (let k = 0; k < K; k++) hyps[b]!.add(rows[b * K + k]!, beamScores[b * K + k]!, rows[b * K + k]!.length - S);
    const sorted = hyps[b]!.beams.map((h, i) => [h, i] as const).sort((x, y) => x[0].score - y[0].score || x[1] - y[1]).map(([h]) => h);
    for (let j = 0; j < cfg.numReturnSequences; j++) best.push(sorted.pop()!.tokens);
  }
  const width = Math.max(...best.map((h) => h.length));
  return best.map((h) => [...h, ...new Array<number>(width - h.length).fill(pad)]);
}
