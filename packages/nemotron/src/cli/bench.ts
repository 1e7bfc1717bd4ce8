// tensorzoo bench: prefill and decode speed of a model on this machine, and the raw matmul rate: a warm-up run,
// then several timed repeats reported as median and range (one cold run varies by 2x).
import { Generator, matmul, noGrad, randint, randn, tidy, type Tensor } from '@tensorzoo/tensor';
import { DynamicCache, NemotronForCausalLM, type WeightQuantization } from '../index.js';
import { DEVICE, WEIGHT_DTYPE, UsageError, type Command } from './args.js';
import { CONTEXT } from './context.js';
import { loadingProgress, openModelDir, useDevice } from './model-dir.js';

/** Prompt tokens unless --prompt says otherwise. */
const DEFAULT_PROMPT = 128;

/** Median, min and max of a non-empty list. */
function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}

function rate(label: string, xs: readonly number[], unit: string): string {
  const r = spread(xs);
  return `${label}: ${r.median.toFixed(1)} ${unit} (median; range ${r.min.toFixed(1)}-${r.max.toFixed(1)})`;
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'measure prefill/decode tokens per second of a model and the float32 matmul rate',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder; default: the shipped model' },
    prompt: { type: 'int', arg: 'N', help: `prompt tokens for prefill; default: ${DEFAULT_PROMPT} or what the context leaves after --tokens`, min: 1, max: { of: (c) => c.max_position_embeddings - 1, name: `${CONTEXT} - 1` } },
    tokens: { type: 'int', arg: 'N', help: 'tokens to decode', default: 32, min: 1, max: { of: (c) => c.max_position_embeddings - 1, name: `${CONTEXT} - 1` } },
    repeats: { type: 'int', arg: 'N', help: 'timed runs after one warm-up run', default: 5, min: 1, max: 1000 },
    device: DEVICE,
    dtype: WEIGHT_DTYPE,
  },
  async run(o) {
    const device = await useDevice(String(o.device));
    const { dir, config } = await openModelDir(this, o);
    const T = o.tokens as number;
    const limit = config.max_position_embeddings;
    const P = (o.prompt as number | undefined) ?? Math.min(DEFAULT_PROMPT, limit - T);
    if (P + T > limit) throw new UsageError(`bench: --prompt ${P} + --tokens ${T} = ${P + T} positions, more than the model's context of ${limit} (${CONTEXT})`);
    const repeats = o.repeats as number;
    const model = await NemotronForCausalLM.fromPretrained(dir, { ...loadingProgress(), device, dtype: o.dtype as WeightQuantization | undefined });
    const g = new Generator(0);
    const ids = randint(0, config.vocab_size, [1, P], { generator: g }).to(device);
    const prefill: number[] = [];
    const decode: number[] = [];
    const gflops: number[] = [];
    const a = randn([1024, 1024], { generator: g }).to(device);
    for (let run = 0; run <= repeats; run++) {
      const cache = new DynamicCache(config.num_hidden_layers);
      // each forward in its own scope, the cache freed after the run: repeats measure speed, not memory growth
      const step = (inputIds: () => Tensor) => tidy(() => noGrad(() => [model.forward({ inputIds: inputIds(), pastKeyValues: cache, useCache: true, logitsToKeep: 1 }).logits, cache.layers] as const))[0];
      const t0 = performance.now();
      let logits = step(() => ids);
      await logits.data();
      const t1 = performance.now();
      for (let i = 0; i < T; i++) {
        const prev = logits;
        logits = step(() => prev.select(1, 0).argmax(-1, true));
        prev.dispose();
      }
      await logits.data();
      const r = { prefill: (t1 - t0) / 1000, decode: (performance.now() - t1) / 1000 };
      logits.dispose();
      cache.dispose();
      const t2 = performance.now();
      const prod = matmul(a, a);
      await prod.data();
      prod.dispose();
      const mm = (performance.now() - t2) / 1000;
      if (run === 0) continue; // the warm-up: first calls pay for allocation and compilation
      prefill.push(P / r.prefill);
      decode.push(T / r.decode);
      gflops.push((2 * 1024 ** 3) / mm / 1e9);
    }
    console.log(rate(`prefill  ${P} tokens`, prefill, 'tokens/s'));
    console.log(rate(`decode   ${T} tokens with KV cache`, decode, 'tokens/s'));
    console.log(rate('matmul   1024x1024x1024 float32', gflops, 'GFLOP/s'));
    console.log(`measured: batch 1, random token ids, ${String(o.device)}; one warm-up run, then ${repeats} timed run${repeats > 1 ? 's' : ''} of each`);
  },
};
