// Autoregressive generation with a KV cache, as transformers' generation/utils.py (GenerationMixin.generate):
// greedy or seeded sampling, per-row EOS stopping with pad filling, left-padded batches with positions from the
// attention mask, and streaming. Works on any model shaped like CausalLM, whatever its architecture.
import { Generator, noGrad, tensor, type Tensor } from '@tensorzoo/tensor';
import { DynamicCache } from '../cache-utils.js';
import { toIntTensor, type DecoderInputs, type IntInput } from '../inputs.js';
import { GENERATION_DEFAULTS, type GenerationConfig } from './configuration-utils.js';
import { beamSearch } from './beam-search.js';
import { processScores } from './logits-process.js';
import { repeatInterleave } from './prepare-inputs.js';
import { StopStringCriteria, type TokenTextDecoder } from './stopping-criteria.js';

/** What generation needs of a model: a causal-LM forward with a KV cache, two config sizes and its generation_config. */
export interface CausalLM {
  readonly config: { readonly num_hidden_layers: number; readonly vocab_size: number };
  /** generation_config.json of the checkpoint, when it has one. */
  readonly generationConfig: GenerationConfig | null;
  /** logits [b, logitsToKeep (all when 0 or absent), vocab] of the last positions. */
  forward(inputs: DecoderInputs & { logitsToKeep?: number }): { logits: Tensor };
}

/** Options of generate(): settings plus inputs and callbacks. */
export interface GenerateOptions extends GenerationConfig {
  /** [batch, seq] 1 = token, 0 = (left) padding; inferred from padTokenId when absent, as HF. */
  attentionMask?: IntInput | null;
  /** Seed of the sampling generator (reproducible runs). */
  seed?: number;
  /** Called after each step with the new token of every row (pad for finished rows). */
  onToken?: (tokens: number[], step: number) => void;
  /** Turns ids into text for stopStrings (HF's generate(tokenizer=...)). */
  tokenizer?: TokenTextDecoder;
}

/** One step of a stream: the new token of every row, and which rows have finished. */
export interface GenerationStep {
  tokens: number[];
  finished: boolean[];
  step: number;
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function argmaxRow(s: Float64Array): number {
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i]! > s[best]!) best = i;
  return best;
}

function sampleRow(s: Float64Array, g: Generator): number {
  const m = Math.max(...s);
  const p = Array.from(s, (v) => Math.exp(v - m));
  const z = p.reduce((a, b) => a + b, 0);
  let u = g.random() * z;
  for (let i = 0; i < p.length; i++) {
    if (p[i]! > 0 && u < p[i]!) return i;
    u -= p[i]!;
  }
  return argmaxRow(s);
}

/** Streams generation one step at a time; see GenerateOptions. The prompt is not yielded. */
export async function* streamGenerate(model: CausalLM, inputIds: IntInput, opts: GenerateOptions = {}): AsyncGenerator<GenerationStep> {
  const base = model.generationConfig ?? {};
  const cfg = { ...GENERATION_DEFAULTS, ...defined(base), ...defined(opts) };
  if (cfg.numBeams !== 1) throw new Error(`generate: beam search (numBeams ${cfg.numBeams}) returns whole sequences; call generate(), not streamGenerate()`);
  const n = cfg.numReturnSequences;
  if (n !== 1) { // independent samples of each prompt: the prompt rows repeated, as HF's _expand_inputs_for_generation
    if (!Number.isInteger(n) || n < 1) throw new Error(`generate: numReturnSequences must be a positive integer, got ${n}`);
    if (!cfg.doSample) throw new Error('generate: numReturnSequences > 1 needs doSample or numBeams > 1 (greedy decoding gives one sequence)');
    const mask = opts.attentionMask == null ? null : repeatInterleave(toIntTensor('attention_mask', opts.attentionMask, 2).tolist() as number[][], n);
    const rows = repeatInterleave(toIntTensor('input_ids', inputIds, 2).tolist() as number[][], n);
    return yield* streamGenerate(model, rows, { ...opts, attentionMask: mask, numReturnSequences: 1 });
  }
  const stop = cfg.stopStrings === undefined ? null : opts.tokenizer ? new StopStringCriteria(opts.tokenizer, cfg.stopStrings) : null;
  if (cfg.stopStrings !== undefined && !stop) throw new Error('generate: stopStrings need the tokenizer option (to decode the text)');
  const ids = toIntTensor('input_ids', inputIds, 2);
  const [B, S] = ids.shape as [number, number];
  const eos = new Set(cfg.eosTokenId == null ? [] : Array.isArray(cfg.eosTokenId) ? cfg.eosTokenId : [cfg.eosTokenId]);
  let pad = cfg.padTokenId ?? null;
  if (pad === null && eos.size) pad = [...eos][0]!; // HF: "Setting pad_token_id to eos_token_id for open-end generation"
  const maxNew = cfg.maxNewTokens ?? Math.max(0, cfg.maxLength - S);
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNew}`);
  for (const [k, v] of [['temperature', cfg.temperature], ['repetitionPenalty', cfg.repetitionPenalty]] as const) {
    if (!(v > 0)) throw new Error(`generate: ${k} must be positive, got ${v}`);
  }
  if (!(cfg.topP > 0 && cfg.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${cfg.topP}`);

  const rows = Array.from({ length: B }, (_, b) => Array.from(ids.dataSync().subarray(b * S, (b + 1) * S)));
  // HF infers the mask from pad tokens in the prompt when pad != eos; otherwise every token counts.
  let mask: number[][];
  if (opts.attentionMask != null) mask = toIntTensor('attention_mask', opts.attentionMask, 2).tolist() as number[][];
  else if (pad !== null && !eos.has(pad) && rows.some((r) => r.includes(pad!))) mask = rows.map((r) => r.map((t) => (t === pad ? 0 : 1)));
  else mask = rows.map((r) => r.map(() => 1));
  if (mask.length !== B || mask.some((m) => m.length !== S)) throw new Error(`generate: attentionMask must have the shape of input_ids [${B},${S}]`);

  const g = new Generator(opts.seed ?? 0);
  const cache = new DynamicCache(model.config.num_hidden_layers);
  const finished = new Array<boolean>(B).fill(false);
  // HF: position_ids = cumsum(mask) - 1, set to 1 at masked positions; a step feeds only the entries from `from` on
  const positionsFor = (m: number[][], from: number) => m.map((r) => {
    let n = 0;
    return r.map((v) => (n += v, v ? n - 1 : 1)).slice(from);
  });
  let next: number[][] = rows;
  for (let step = 0; step < maxNew && !finished.every(Boolean); step++) {
    const past = cache.getSeqLength();
    const logitsT = noGrad(() => model.forward({
      inputIds: next,
      attentionMask: mask,
      positionIds: positionsFor(mask, past),
      pastKeyValues: cache,
      useCache: true,
      logitsToKeep: 1,
    }).logits.squeeze(1));
    const logits = await logitsT.data(); // asynchronous: works on every device
    const V = model.config.vocab_size;
    const tokens = rows.map((row, b) => {
      if (finished[b]) return pad!;
      const s = Float64Array.from(logits.subarray(b * V, (b + 1) * V));
      processScores(s, row, { ...cfg, promptLength: S, eosTokenIds: [...eos] });
      return cfg.doSample ? sampleRow(s, g) : argmaxRow(s);
    });
    tokens.forEach((t, b) => {
      rows[b]!.push(t);
      mask[b]!.push(1);
      if (eos.has(t) || stop?.isDone(rows[b]!)) finished[b] = true;
    });
    next = tokens.map((t) => [t]);
    opts.onToken?.(tokens, step);
    yield { tokens, finished: [...finished], step };
    await new Promise<void>((r) => setTimeout(r, 0)); // let callers render the stream (and the event loop breathe)
  }
}

/** Generates up to maxNewTokens tokens per row; resolves to the full sequences [batch, prompt + new] (int32). */
export async function generate(model: CausalLM, inputIds: IntInput, opts: GenerateOptions = {}): Promise<Tensor> {
  if ((opts.numBeams ?? model.generationConfig?.numBeams ?? 1) > 1) return tensor(await beamSearch(model, inputIds, opts), { dtype: 'int32' });
  const ids = toIntTensor('input_ids', inputIds, 2);
  const rows = repeatInterleave(ids.tolist() as number[][], opts.numReturnSequences ?? model.generationConfig?.numReturnSequences ?? 1);
  for await (const s of streamGenerate(model, ids, opts)) s.tokens.forEach((t, b) => rows[b]!.push(t));
  return tensor(rows, { dtype: 'int32' });
}
