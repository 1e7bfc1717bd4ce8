// Nemotron prefill and decode throughput on a small random model: KV-cache decoding (StaticCache, generate()'s
// default, and DynamicCache) against full recomputation of the whole sequence at every step, measured in the same run.
// Decode rows also give tokens per CPU-second (process.cpuUsage(): every thread of the process), which a loaded
// machine skews less than wall-clock tokens/s.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cat, full, Generator, getNumThreads, gt, arange, matmul, noGrad, randint, randn, scaledDotProductAttention, softmax, tidy, where, type QuantDType, type Tensor } from '../packages/tensor/dist/index.js';
import { DynamicCache, NemotronConfig, NemotronForCausalLM, StaticCache } from '../packages/nemotron/dist/index.js';
import { medianMs, printTable, readCeilingGBs } from './util.js';

const PROMPT = 128;
const STEPS = 32;

/** Prints prefill tokens/s and decode tokens/s with and without the KV cache. */
export async function run(): Promise<void> {
  const config = new NemotronConfig({
    vocab_size: 8000, hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4,
  });
  const model = new NemotronForCausalLM(config, { generator: new Generator(0) }).eval();
  const prompt = randint(0, 8000, [1, PROMPT], { generator: new Generator(1) });
  const next = (logits: Tensor) => logits.select(1, logits.shape[1]! - 1).argmax(-1, true);

  // as generation prefills: the logits of the last position only. V8 tiers the op layer's JavaScript and the kernels
  // up over the first calls (the first rounds run at half speed and less), so both phases warm up before timing.
  const prefillMs = await medianMs(() => noGrad(() => next(model.forward({ inputIds: prompt, logitsToKeep: 1 }).logits)), 9, 8);

  /** Wall-clock ms and CPU ms of `STEPS` decode steps. */
  const timed = (steps: () => void): { ms: number; cpuMs: number } => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    steps();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return { ms, cpuMs: (c.user + c.system) / 1000 };
  };
  const cached = (kind: 'static' | 'dynamic' = 'static') =>
    noGrad(() => {
      const cache = kind === 'static' ? new StaticCache(config.num_hidden_layers, PROMPT + STEPS) : new DynamicCache(config.num_hidden_layers);
      let tok = next(model.forward({ inputIds: prompt, pastKeyValues: cache, useCache: true, logitsToKeep: 1 }).logits);
      const r = timed(() => {
        for (let i = 0; i < STEPS; i++) tok = next(model.forward({ inputIds: tok, pastKeyValues: cache, useCache: true, logitsToKeep: 1 }).logits);
      });
      cache.dispose();
      return r;
    });
  const recompute = () =>
    noGrad(() =>
      timed(() => {
        let seq = prompt;
        for (let i = 0; i < STEPS; i++) {
          const tok = next(model.forward({ inputIds: seq }).logits);
          seq = cat([seq, tok], 1);
        }
      }),
    );
  const first = cached();
  for (let i = 0; i < 8; i++) cached();
  cached('dynamic');
  const medians = (rs: { ms: number; cpuMs: number }[]) => ({ ms: median(rs.map((r) => r.ms)), cpuMs: median(rs.map((r) => r.cpuMs)) });
  const st = medians(Array.from({ length: 9 }, () => cached()));
  const dyn = medians([cached('dynamic'), cached('dynamic'), cached('dynamic')]);
  const full = medians([recompute(), recompute(), recompute()]);
  const row = (label: string, r: { ms: number; cpuMs: number }) => [label, (STEPS * 1000) / r.ms, (STEPS * 1000) / r.cpuMs, r.ms / STEPS, full.ms / r.ms];
  printTable(
    `Nemotron, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, ${config.num_attention_heads} heads, MLP ${config.intermediate_size}, vocab ${config.vocab_size} (float32, CPU, ${getNumThreads()} threads)`,
    ['phase', 'tokens/s', 'tokens/CPU-s', 'ms/token', 'vs recompute'],
    [
      [`prefill ${PROMPT} tokens (last-position logits)`, (PROMPT * 1000) / prefillMs, '-', prefillMs / PROMPT, '-'],
      row(`decode ${STEPS} tokens, StaticCache`, st),
      row(`decode ${STEPS} tokens, StaticCache, first round (V8 still tiering up)`, first),
      row(`decode ${STEPS} tokens, DynamicCache`, dyn),
      row(`decode ${STEPS} tokens, full recompute (baseline)`, full),
    ],
  );
  await promptAttention(config.num_attention_heads, config.hidden_size / config.num_attention_heads);
  await quantizedDecode();
}

/**
 * A prompt's causal self-attention at the model's head shape: the fused kernel (scaledDotProductAttention with
 * isCausal, which generation's prefill runs) against the composite eager attention it replaced, measured in the same
 * run: q k^T, scale, the additive causal mask, softmax, @ v, each a tensor ([heads, L, L] floats of scores at a time).
 */
async function promptAttention(heads: number, headDim: number): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const L of [128, 1024, 4096]) {
    const g = new Generator(L);
    const [q, k, v] = [0, 1, 2].map(() => randn([1, heads, L, headDim], { generator: g }));
    const scale = 1 / Math.sqrt(headDim);
    const mask = noGrad(() => where(gt(arange(0, L).reshape(1, L), arange(0, L).reshape(L, 1)), full([], -3.4028234663852886e38), 0));
    const fused = () => tidy(() => noGrad(() => scaledDotProductAttention(q!, k!, v!, { isCausal: true, scale }).dataSync()));
    const composite = () => tidy(() => noGrad(() => matmul(softmax(matmul(q!, k!.transpose(2, 3)).mul(scale).add(mask), -1), v!).dataSync()));
    const reps = L >= 4096 ? 3 : 7;
    // interleaved: one of each per round, so a machine that slows down mid-run slows both
    const f: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < reps + 2; r++) {
      for (const [fn, out] of [[fused, f], [composite, c]] as const) {
        const t0 = performance.now();
        fn();
        if (r >= 2) out.push(performance.now() - t0);
      }
    }
    const [fm, cm] = [median(f), median(c)];
    rows.push([`${L} tokens`, fm, cm, cm / fm, (heads * L * L * 4) / 2 ** 20]);
  }
  printTable(
    `Prompt self-attention, causal, ${heads} heads x head_dim ${headDim} (float32, CPU, ${getNumThreads()} threads; medians of interleaved rounds)`,
    ['prompt', 'fused kernel ms', 'composite ms (baseline)', 'speedup', 'composite scores MiB (fused: 8 MiB at most)'],
    rows,
  );
}

/**
 * Decode tokens/s with the decoder's Linear weights in bf16, q8_0 and q4_0 (fromPretrained's `dtype: 'q8' | 'q4'`) on a model
 * wide enough for the weights to dominate (hidden 2048, MLP 8192, 2 layers: 100M decoder weights), beside the memory
 * read ceiling measured in the same run; three interleaved rounds, medians.
 */
async function quantizedDecode(): Promise<void> {
  const config = new NemotronConfig({
    vocab_size: 8000, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 2, num_attention_heads: 16, num_key_value_heads: 16,
    tie_word_embeddings: true,
  });
  const dir = mkdtempSync(join(tmpdir(), 'tz-quant-bench-'));
  try {
    await noGrad(() => new NemotronForCausalLM(config, { generator: new Generator(0) })).savePretrained(dir, { dtype: 'bfloat16' });
    const kinds: ['bf16' | QuantDType, number][] = [['bf16', 2], ['q8_0', 34 / 32], ['q4_0', 18 / 32]];
    const models = new Map<string, NemotronForCausalLM>();
    for (const [k] of kinds) models.set(k, await NemotronForCausalLM.fromPretrained(dir, k === 'bf16' ? {} : { dtype: k === 'q8_0' ? 'q8' : 'q4' }));
    const decoderWeights = config.num_hidden_layers * (4 * config.hidden_size ** 2 + 2 * config.hidden_size * config.intermediate_size);
    const head = config.vocab_size * config.hidden_size * 2; // the tied bf16 embedding as the output projection
    const prompt = randint(0, config.vocab_size, [1, 16], { generator: new Generator(1) });
    const steps = 8;
    const decodeMs = (m: NemotronForCausalLM) => noGrad(() => {
      const cache = new DynamicCache(config.num_hidden_layers);
      const next = (l: Tensor) => l.select(1, l.shape[1]! - 1).argmax(-1, true);
      let tok = next(m.forward({ inputIds: prompt, pastKeyValues: cache, useCache: true }).logits);
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) tok = next(m.forward({ inputIds: tok, pastKeyValues: cache, useCache: true }).logits);
      return (performance.now() - t0) / steps;
    });
    const ms = new Map<string, number[]>();
    const ceil: number[] = [];
    for (const m of models.values()) decodeMs(m);
    for (let round = 0; round < 3; round++) {
      ceil.push(await readCeilingGBs(2, 3));
      for (const [k] of kinds) (ms.get(k) ?? ms.set(k, []).get(k)!).push(decodeMs(models.get(k)!));
    }
    const c = median(ceil);
    printTable(
      `Nemotron decode, hidden ${config.hidden_size}, MLP ${config.intermediate_size}, ${config.num_hidden_layers} layers, vocab ${config.vocab_size} (tied bf16 head): decoder Linear weights quantized on load; read ceiling ${c.toFixed(1)} GB/s (2 threads, same run)`,
      ['decoder weights', 'MB read / token', 'tokens/s', 'ms/token', 'GB/s', 'floor ms (bytes / ceiling)', 'vs floor'],
      kinds.map(([k, bpw]) => {
        const t = median(ms.get(k)!);
        const bytes = decoderWeights * bpw + head;
        return [k, bytes / 1e6, 1000 / t, t, bytes / (t * 1e6), bytes / (c * 1e6), `${(t / (bytes / (c * 1e6))).toFixed(2)}x`];
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
