// Nemotron prefill and decode throughput on a small random model: KV-cache decoding against full
// recomputation of the whole sequence at every step, measured in the same run.
import { cat, Generator, noGrad, randint, type Tensor } from '../packages/tensor/dist/index.js';
import { DynamicCache, NemotronConfig, NemotronForCausalLM } from '../packages/nemotron/dist/index.js';
import { medianMs, printTable } from './util.js';

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

  const prefillMs = await medianMs(() => noGrad(() => model.forward({ inputIds: prompt }).logits), 5, 1);

  const cached = () =>
    noGrad(() => {
      const cache = new DynamicCache(config.num_hidden_layers);
      let tok = next(model.forward({ inputIds: prompt, pastKeyValues: cache, useCache: true }).logits);
      const t0 = performance.now();
      for (let i = 0; i < STEPS; i++) tok = next(model.forward({ inputIds: tok, pastKeyValues: cache, useCache: true }).logits);
      return performance.now() - t0;
    });
  const recompute = () =>
    noGrad(() => {
      let seq = prompt;
      const t0 = performance.now();
      for (let i = 0; i < STEPS; i++) {
        const tok = next(model.forward({ inputIds: seq }).logits);
        seq = cat([seq, tok], 1);
      }
      return performance.now() - t0;
    });
  cached();
  const cachedMs = median([cached(), cached(), cached()]);
  const fullMs = median([recompute(), recompute(), recompute()]);
  printTable(
    `Nemotron, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}, ${config.num_attention_heads} heads, MLP ${config.intermediate_size}, vocab ${config.vocab_size} (float32, CPU)`,
    ['phase', 'tokens/s', 'ms/token', 'vs recompute'],
    [
      [`prefill ${PROMPT} tokens`, (PROMPT * 1000) / prefillMs, prefillMs / PROMPT, '-'],
      [`decode ${STEPS} tokens, KV cache`, (STEPS * 1000) / cachedMs, cachedMs / STEPS, fullMs / cachedMs],
      [`decode ${STEPS} tokens, full recompute (baseline)`, (STEPS * 1000) / fullMs, fullMs / STEPS, 1],
    ],
  );
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
