// The CLI's decoding loop for one prompt: a chunked prefill (so a long prompt can report progress and be
// interrupted), then one token per step with the KV cache, checking every step's logits are finite.
import { argmax, Generator, multinomial, noGrad, softmax, tensor } from '@tensorzoo/tensor';
import { DynamicCache, processScores, type NemotronForCausalLM } from '../index.js';
import { allFinite, nonFiniteError } from './finite.js';

/** How to pick tokens (HF GenerationConfig meanings). */
export interface DecodeSettings {
  maxNewTokens: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  seed: number;
  eos: ReadonlySet<number>;
}

/** Callbacks: prefill progress, and a stop request (Ctrl-C) checked between chunks and steps. */
export interface DecodeHooks {
  onPrefill?: (done: number, total: number) => void;
  stopRequested?: () => boolean;
}

/** Prompt tokens per prefill forward: small enough to report progress, large enough to keep matmuls efficient. */
const PREFILL_CHUNK = 64;

const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

/** Yields up to maxNewTokens new token ids (the EOS token that ends the text included). */
export async function* decodeTokens(model: NemotronForCausalLM, prompt: readonly number[], s: DecodeSettings, hooks: DecodeHooks = {}): AsyncGenerator<number> {
  const cache = new DynamicCache(model.config.num_hidden_layers);
  const seen = [...prompt];
  const g = new Generator(s.seed);
  const V = model.config.vocab_size;
  const lastLogits = (ids: number[]) => noGrad(() => {
    const h = model.model.forward({ inputIds: [ids], pastKeyValues: cache, useCache: true }).lastHiddenState;
    return model.lm_head.forward(h.narrow(1, h.shape[1]! - 1, 1)).reshape(V).dataSync();
  });
  let logits: ArrayLike<number> | null = null;
  for (let i = 0; i < prompt.length; i += PREFILL_CHUNK) {
    if (hooks.stopRequested?.()) return;
    logits = lastLogits(prompt.slice(i, i + PREFILL_CHUNK));
    hooks.onPrefill?.(Math.min(i + PREFILL_CHUNK, prompt.length), prompt.length);
    await yieldToEventLoop();
  }
  for (let step = 0; step < s.maxNewTokens && logits; step++) {
    if (!allFinite(logits)) throw nonFiniteError('generate', 'logits', model, [seen]);
    const scores = Float64Array.from(logits);
    processScores(scores, seen, s);
    const t = noGrad(() => {
      const x = tensor(Float32Array.from(scores));
      return s.doSample ? multinomial(softmax(x, -1), 1, { generator: g }).item() : argmax(x).item();
    });
    seen.push(t);
    yield t;
    if (s.eos.has(t) || step === s.maxNewTokens - 1 || hooks.stopRequested?.()) return;
    logits = lastLogits([t]);
    await yieldToEventLoop();
  }
}
