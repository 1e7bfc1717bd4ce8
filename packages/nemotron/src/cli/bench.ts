// tensorzoo bench: prefill and decode speed of a model on this machine, and the raw matmul rate.
import { Generator, matmul, noGrad, randint, randn } from '@tensorzoo/tensor';
import { DynamicCache } from '../cache-utils.js';
import { NemotronForCausalLM } from '../models/nemotron/modeling-nemotron.js';
import type { Command } from './args.js';
import { resolveModelDir, useDevice, loadingProgress } from './model-dir.js';

export const benchCommand: Command = {
  name: 'bench',
  summary: 'measure prefill/decode tokens per second of a model and the float32 matmul rate',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder; default: the shipped model' },
    prompt: { type: 'number', arg: 'N', help: 'prompt tokens for prefill', default: 128 },
    tokens: { type: 'number', arg: 'N', help: 'tokens to decode', default: 32 },
    device: { type: 'string', arg: 'cpu|webgpu', help: 'where to run', default: 'cpu' },
  },
  async run(o) {
    await useDevice(String(o.device));
    const dir = resolveModelDir(o.model as string | undefined);
    const model = await NemotronForCausalLM.fromPretrained(dir, loadingProgress());
    const P = Math.min(o.prompt as number, model.config.max_position_embeddings - (o.tokens as number));
    const g = new Generator(0);
    const ids = randint(0, model.config.vocab_size, [1, P], { generator: g });
    const r = noGrad(() => {
      const cache = new DynamicCache(model.config.num_hidden_layers);
      const t0 = performance.now();
      let logits = model.forward({ inputIds: ids, pastKeyValues: cache, useCache: true }).logits;
      const t1 = performance.now();
      for (let i = 0; i < (o.tokens as number); i++) {
        const next = logits.select(1, logits.shape[1]! - 1).argmax(-1, true);
        logits = model.forward({ inputIds: next, pastKeyValues: cache, useCache: true }).logits;
      }
      return { prefill: (t1 - t0) / 1000, decode: (performance.now() - t1) / 1000 };
    });
    const a = randn([1024, 1024], { generator: g });
    matmul(a, a);
    const t0 = performance.now();
    matmul(a, a);
    const gflops = (2 * 1024 ** 3) / ((performance.now() - t0) / 1000) / 1e9;
    console.log(`prefill  ${P} tokens: ${(P / r.prefill).toFixed(1)} tokens/s`);
    console.log(`decode   ${o.tokens} tokens with KV cache: ${((o.tokens as number) / r.decode).toFixed(1)} tokens/s`);
    console.log(`matmul   1024x1024x1024 float32: ${gflops.toFixed(1)} GFLOP/s`);
  },
};
