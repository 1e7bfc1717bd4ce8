// Autoregressive generation with a KV cache, as transformers' generation/utils.py (GenerationMixin.generate):
// greedy or seeded sampling, per-row EOS stopping with pad filling, left-padded batches with positions from the
// attention mask, a chunked prefill, the context limit, and streaming. Works on any model shaped like CausalLM,
// whatever its architecture or device. Memory: each forward runs in its own tidy scope, the logits are freed once
// read and the KV cache when the stream ends (also when the consumer breaks out of it), so a call leaves nothing
// behind but the sequences it returns.
import { noGrad, tensor, tidy, Generator, type DType, type Tensor } from '@tensorzoo/tensor';
import { DynamicCache, StaticCache } from '../cache-utils.js';
import { toIntTensor, type DecoderInputs, type IntInput } from '../inputs.js';
import { GENERATION_DEFAULTS, type GenerationConfig } from './configuration-utils.js';
import { beamSearch } from './beam-search.js';
import { changesScores, processScores } from './logits-process.js';
import { repeatInterleave } from './prepare-inputs.js';
import { StopStringCriteria, type TokenTextDecoder } from './stopping-criteria.js';

/** What generation needs of a model: a causal-LM forward with a KV cache, config sizes and its generation_config. */
export interface CausalLM {
  readonly config: { readonly num_hidden_layers: number; readonly vocab_size: number; readonly max_position_embeddings?: number };
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
  /**
   * The KV cache (HF's cache_implementation): 'static' (default here) allocates prompt + maxNewTokens positions (at
   * most the context) once and writes each step in place; 'dynamic' grows by concatenation, as HF's default.
   */
  cacheImplementation?: 'static' | 'dynamic';
  /** Storage dtype of the static cache's keys and values (StaticCacheOptions.dtype), e.g. 'bfloat16'. */
  cacheDtype?: DType;
  /** Prompt tokens per prefill forward (HF's prefill_chunk_size); default: the whole prompt in one forward. */
  prefillChunkSize?: number;
  /** Called after each prefill forward with the prompt positions done so far and the prompt length. */
  onPrefill?: (done: number, total: number) => void;
  /** Called after each step with the new token of every row (pad for finished rows). */
  onToken?: (tokens: number[], step: number) => void;
  /** Turns ids into text for stopStrings (HF's generate(tokenizer=...)). */
  tokenizer?: TokenTextDecoder;
}

/** Why generation ended: every row reached EOS, maxNewTokens were generated, or the context is full. */
export type StopReason = 'eos' | 'length' | 'context';

/** One step of a stream: the new token of every row, and which rows have finished. */
export interface GenerationStep {
  tokens: number[];
  finished: boolean[];
  step: number;
  /** Set on the last step only: why the stream ends ('context': the sequences reached max_position_embeddings). */
  stoppedBy?: StopReason;
}

/** The logits of a step are NaN or infinite: `sequences` are the rows whose forward produced them (for a diagnostic). */
export class NonFiniteLogitsError extends Error {
  constructor(readonly sequences: number[][], readonly step: number) {
    super(`generate: the logits of step ${step} are not finite (NaN or infinite)`);
    this.name = 'NonFiniteLogitsError';
  }
}

/** Least time between a browser's yields from the decode loop: more than one a frame at 120 Hz. */
const BROWSER_YIELD_MS = 4;
let lastYield = 0;

/**
 * The event loop's turn between decode steps: every step in Node (setImmediate), in browsers once BROWSER_YIELD_MS
 * have passed since the last one. A MessageChannel round trip cost a Chromium page about 0.1 ms a step (6% of the
 * shipped model's), while rendering and input need a turn only once a frame.
 */
function stepYield(): Promise<void> | void {
  if ((globalThis as { setImmediate?: unknown }).setImmediate) return yieldToEventLoop();
  const now = performance.now();
  if (now - lastYield < BROWSER_YIELD_MS) return;
  lastYield = now;
  return yieldToEventLoop();
}

type Resolve = () => void;
const waiting: Resolve[] = [];
let channel: MessageChannel | null = null;

/**
 * Resolves on the next turn of the event loop, after pending I/O and rendering: setImmediate in Node, a
 * MessageChannel message in browsers (setTimeout(0) is clamped to 4 ms there).
 */
export function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
  if (immediate) return new Promise((r) => void immediate(r));
  return new Promise((r) => {
    if (!channel) {
      channel = new MessageChannel();
      channel.port1.onmessage = () => waiting.shift()?.();
    }
    waiting.push(r);
    channel.port2.postMessage(null);
  });
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function argmaxRow(s: Float32Array | Float64Array): number {
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i]! > s[best]!) best = i;
  return best;
}

function sampleRow(s: Float64Array, g: Generator): number {
  let m = -Infinity;
  for (let i = 0; i < s.length; i++) m = Math.max(m, s[i]!); // no spread: 256k logits are past the argument limit
  const p = new Float64Array(s.length);
  let z = 0;
  for (let i = 0; i < s.length; i++) z += p[i] = Math.exp(s[i]! - m);
  let u = g.random() * z;
  for (let i = 0; i < p.length; i++) {
    if (p[i]! > 0 && u < p[i]!) return i;
    u -= p[i]!;
  }
  return argmaxRow(s);
}

/** The rows of a [batch, seq] integer input on the host (one asynchronous read when it is on a device). */
async function hostRows(name: string, x: IntInput): Promise<number[][]> {
  const t = toIntTensor(name, x, 2);
  const [B, S] = t.shape as [number, number];
  const d = await t.data();
  if (t !== x) t.dispose();
  return Array.from({ length: B }, (_, b) => Array.from(d.subarray(b * S, (b + 1) * S)));
}

function allFinite(values: ArrayLike<number>, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
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
    const mask = opts.attentionMask == null ? null : repeatInterleave(await hostRows('attention_mask', opts.attentionMask), n);
    const rows = repeatInterleave(await hostRows('input_ids', inputIds), n);
    return yield* streamGenerate(model, rows, { ...opts, attentionMask: mask, numReturnSequences: 1 });
  }
  const stop = cfg.stopStrings === undefined ? null : opts.tokenizer ? new StopStringCriteria(opts.tokenizer, cfg.stopStrings) : null;
  if (cfg.stopStrings !== undefined && !stop) throw new Error('generate: stopStrings need the tokenizer option (to decode the text)');
  const rows = await hostRows('input_ids', inputIds);
  const B = rows.length;
  const S = rows[0]?.length ?? 0;
  const eos = new Set(cfg.eosTokenId == null ? [] : Array.isArray(cfg.eosTokenId) ? cfg.eosTokenId : [cfg.eosTokenId]);
  let pad = cfg.padTokenId ?? null;
  if (pad === null && eos.size) pad = [...eos][0]!; // HF: "Setting pad_token_id to eos_token_id for open-end generation"
  const maxNew = cfg.maxNewTokens ?? Math.max(0, cfg.maxLength - S);
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNew}`);
  for (const [k, v] of [['temperature', cfg.temperature], ['repetitionPenalty', cfg.repetitionPenalty]] as const) {
    if (!(v > 0)) throw new Error(`generate: ${k} must be positive, got ${v}`);
  }
  if (!(cfg.topP > 0 && cfg.topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${cfg.topP}`);
  const chunk = opts.prefillChunkSize ?? Math.max(S, 1);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`generate: prefillChunkSize must be a positive integer, got ${chunk}`);
  const limit = model.config.max_position_embeddings ?? Infinity;
  if (maxNew > 0 && S >= limit) {
    throw new Error(`generate: the prompt is ${S} tokens, the model's context is ${limit} positions (max_position_embeddings) and must leave room for a new token`);
  }
  if (S === 0) throw new Error('generate: input_ids is empty');

  // HF infers the mask from pad tokens in the prompt when pad != eos; otherwise every token counts.
  let mask: number[][];
  if (opts.attentionMask != null) mask = await hostRows('attention_mask', opts.attentionMask);
  else if (pad !== null && !eos.has(pad) && rows.some((r) => r.includes(pad!))) mask = rows.map((r) => r.map((t) => (t === pad ? 0 : 1)));
  else mask = rows.map((r) => r.map(() => 1));
  if (mask.length !== B || mask.some((m) => m.length !== S)) throw new Error(`generate: attentionMask must have the shape of input_ids [${B},${S}]`);
  if (maxNew === 0) return;
  // Without padding the model's default mask and positions are HF's; passing none keeps its fast path.
  const padded = mask.some((r) => r.includes(0));
  // HF: position_ids = cumsum(mask) - 1, set to 1 at masked positions; a forward feeds the entries from `from` on
  const positionsFor = (from: number, n: number) => mask.map((r) => {
    let c = 0;
    return r.map((v) => (c += v, v ? c - 1 : 1)).slice(from, from + n);
  });

  const V = model.config.vocab_size;
  // static: allocated once, a decode step writes one row per layer instead of copying the whole cache
  const layers = model.config.num_hidden_layers;
  if (opts.cacheImplementation !== undefined && opts.cacheImplementation !== 'static' && opts.cacheImplementation !== 'dynamic') {
    throw new Error(`generate: cacheImplementation must be 'static' or 'dynamic', got '${String(opts.cacheImplementation)}'`);
  }
  const cache = opts.cacheImplementation === 'dynamic' ? new DynamicCache(layers) : new StaticCache(layers, Math.min(S + maxNew, limit), { dtype: opts.cacheDtype });
  // One forward in its own scope: everything but the logits and the cache is freed before the host reads.
  const forward = async (ids: number[][], past: number): Promise<Float32Array> => {
    const n = ids[0]!.length;
    const [logitsT] = tidy(() => noGrad(() => {
      const out = model.forward({
        inputIds: ids,
        ...(padded ? { attentionMask: mask.map((r) => r.slice(0, past + n)), positionIds: positionsFor(past, n) } : {}),
        pastKeyValues: cache,
        useCache: true,
        logitsToKeep: 1,
      });
      return [out.logits, cache.layers] as const;
    }));
    try {
      // asynchronous: works on every device; data() is a fresh array, which outlives the storage freed below
      // (Float32Array.from, which this was, walked the iterator: 1.4 ms for Minitron-4B's 256,000 logits)
      const d = await logitsT.data();
      return d instanceof Float32Array ? d : Float32Array.from(d);
    } finally {
      logitsT.dispose();
    }
  };

  const g = new Generator(opts.seed ?? 0);
  const finished = new Array<boolean>(B).fill(false);
  try {
    let logits: Float32Array = new Float32Array(0);
    for (let done = 0; done < S; ) {
      const n = Math.min(chunk, S - done);
      logits = await forward(rows.map((r) => r.slice(done, done + n)), done);
      done += n;
      opts.onPrefill?.(done, S);
      if (done < S) await yieldToEventLoop();
    }
    const scoresChange = changesScores(cfg);
    for (let step = 0; ; step++) {
      for (let b = 0; b < B; b++) {
        if (!finished[b] && !allFinite(logits, b * V, (b + 1) * V)) throw new NonFiniteLogitsError(rows.map((r) => [...r]), step);
      }
      const tokens = rows.map((row, b) => {
        if (finished[b]) return pad!;
        const row32 = logits.subarray(b * V, (b + 1) * V);
        // Greedy with no processor: the first maximum of the float32 logits, which widening to float64 keeps (no copy;
        // a fresh 2 MB array a token at Minitron-4B's vocabulary, and any fresh buffer is dear in Chromium)
        if (!scoresChange) return argmaxRow(row32);
        const s = new Float64Array(row32); // not .from(): a typed array's copy, 3.6x faster
        processScores(s, row, { ...cfg, promptLength: S, eosTokenIds: [...eos] });
        return cfg.doSample ? sampleRow(s, g) : argmaxRow(s);
      });
      tokens.forEach((t, b) => {
        rows[b]!.push(t);
        mask[b]!.push(1);
        if (eos.has(t) || stop?.isDone(rows[b]!)) finished[b] = true;
      });
      const length = S + step + 1;
      const stoppedBy: StopReason | undefined = finished.every(Boolean) ? 'eos' : step + 1 >= maxNew ? 'length' : length >= limit ? 'context' : undefined;
      opts.onToken?.(tokens, step);
      yield { tokens, finished: [...finished], step, ...(stoppedBy ? { stoppedBy } : {}) };
      if (stoppedBy) return;
      await stepYield(); // let callers render the stream (and the event loop breathe)
      logits = await forward(tokens.map((t) => [t]), length - 1);
    }
  } finally {
    cache.dispose();
  }
}

/**
 * Generates up to maxNewTokens tokens per row (fewer at EOS or the context limit); resolves to the full sequences
 * [batch, prompt + new] (int32), on the device of `inputIds` (the host for arrays).
 */
export async function generate(model: CausalLM, inputIds: IntInput, opts: GenerateOptions = {}): Promise<Tensor> {
  const prompt = await hostRows('input_ids', inputIds);
  const onDevice = (out: Tensor) => (Array.isArray(inputIds) || inputIds.device === out.device ? out : out.to(inputIds.device));
  if ((opts.numBeams ?? model.generationConfig?.numBeams ?? 1) > 1) return onDevice(tensor(await beamSearch(model, prompt, opts), { dtype: 'int32' }));
  const rows = repeatInterleave(prompt, opts.numReturnSequences ?? model.generationConfig?.numReturnSequences ?? 1);
  for await (const s of streamGenerate(model, prompt, opts)) s.tokens.forEach((t, b) => rows[b]!.push(t));
  return onDevice(tensor(rows, { dtype: 'int32' }));
}
