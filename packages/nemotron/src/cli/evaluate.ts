// tensorzoo eval: perplexity of a causal LM on a text file, over consecutive windows of the model's context.
import { gather, logSoftmax, noGrad, tensor, tidy } from '@tensorzoo/tensor';
import { readFile } from 'node:fs/promises';
import { NemotronForCausalLM, type WeightQuantization } from '../index.js';
import { DEVICE, WEIGHT_DTYPE, UsageError, type Command } from './args.js';
import { CONTEXT } from './context.js';
import { allFinite, nonFiniteError } from './finite.js';
import { loadingProgress, loadTokenizer, openModelDir, useDevice } from './model-dir.js';
import { Progress } from './progress.js';

/** Tokens per window unless --context says otherwise (or the model's context is shorter). */
const DEFAULT_CONTEXT = 256;

export const evalCommand: Command = {
  name: 'eval',
  summary: 'perplexity of a causal LM on a text file',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder; default: the shipped model' },
    data: { type: 'string', arg: 'FILE', help: 'plain text file', required: true },
    context: {
      type: 'int', arg: 'N', min: 2, max: { of: (c) => c.max_position_embeddings, name: CONTEXT },
      help: `tokens per window; default: ${DEFAULT_CONTEXT} or the model's context when shorter`,
    },
    device: DEVICE,
    dtype: WEIGHT_DTYPE,
  },
  async run(o) {
    const device = await useDevice(String(o.device));
    const { dir, config } = await openModelDir(this, o);
    let text: string;
    try {
      text = await readFile(String(o.data), 'utf8');
    } catch {
      throw new UsageError(`eval: cannot read ${o.data}`);
    }
    const [model, tok] = await Promise.all([NemotronForCausalLM.fromPretrained(dir, { ...loadingProgress(), device, dtype: o.dtype as WeightQuantization | undefined }), loadTokenizer(dir)]);
    const ids = tok.encode(text);
    const ctx = (o.context as number | undefined) ?? Math.min(DEFAULT_CONTEXT, config.max_position_embeddings);
    if (ids.length < 2) throw new UsageError(`eval: ${o.data} has fewer than 2 tokens`);
    let nll = 0;
    let count = 0;
    const bar = new Progress('eval', ids.length - 1, 'tokens');
    for (let start = 0; start < ids.length - 1; start += ctx - 1) {
      const win = ids.slice(start, start + ctx);
      if (win.length < 2) break;
      const pickedT = tidy(() => noGrad(() => {
        const lp = logSoftmax(model.forward({ inputIds: [win] }).logits, -1); // [1, n, V]
        const targets = tensor([win.slice(1)], { dtype: 'int32', device }).unsqueeze(-1);
        return gather(lp.narrow(1, 0, win.length - 1), 2, targets);
      }));
      const picked = await pickedT.data();
      pickedT.dispose();
      if (!allFinite(picked)) throw await nonFiniteError('eval', 'log-probabilities', model, [win]);
      for (const v of picked) nll -= v;
      count += picked.length;
      bar.update(count, { ppl: Math.exp(nll / count) });
    }
    bar.done({ ppl: Math.exp(nll / count) });
    console.log(`perplexity ${Math.exp(nll / count).toFixed(3)} over ${count} tokens (mean loss ${(nll / count).toFixed(4)} nats)`);
  },
};
