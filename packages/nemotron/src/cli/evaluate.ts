// tensorzoo eval: perplexity of a causal LM on a text file, over consecutive windows of the model's context.
import { gather, logSoftmax, noGrad, tensor } from '@tensorzoo/tensor';
import { readFile } from 'node:fs/promises';
import { NemotronForCausalLM } from '../models/nemotron/modeling-nemotron.js';
import { UsageError, type Command } from './args.js';
import { loadTokenizer, resolveModelDir, useDevice, loadingProgress } from './model-dir.js';
import { Progress } from './progress.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'perplexity of a causal LM on a text file',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder; default: the shipped model' },
    data: { type: 'string', arg: 'FILE', help: 'plain text file' },
    context: { type: 'number', arg: 'N', help: 'tokens per window (at most max_position_embeddings)', default: 256 },
    device: { type: 'string', arg: 'cpu|webgpu', help: 'where to run', default: 'cpu' },
  },
  async run(o) {
    await useDevice(String(o.device));
    if (!o.data) throw new UsageError('eval: --data FILE is required');
    const dir = resolveModelDir(o.model as string | undefined);
    let text: string;
    try {
      text = await readFile(String(o.data), 'utf8');
    } catch {
      throw new UsageError(`eval: cannot read ${o.data}`);
    }
    const [model, tok] = await Promise.all([NemotronForCausalLM.fromPretrained(dir, loadingProgress()), loadTokenizer(dir)]);
    const ids = tok.encode(text);
    const ctx = Math.min(o.context as number, model.config.max_position_embeddings);
    if (!Number.isInteger(ctx) || ctx < 2) throw new UsageError('eval: --context must be an integer >= 2');
    if (ids.length < 2) throw new UsageError(`eval: ${o.data} has fewer than 2 tokens`);
    let nll = 0;
    let count = 0;
    const bar = new Progress('eval', ids.length - 1, 'tokens');
    for (let start = 0; start < ids.length - 1; start += ctx - 1) {
      const win = ids.slice(start, start + ctx);
      if (win.length < 2) break;
      const x = tensor([win], { dtype: 'int32' });
      const lp = noGrad(() => logSoftmax(model.forward({ inputIds: x }).logits, -1)); // [1, n, V]
      const targets = tensor([win.slice(1)], { dtype: 'int32' }).unsqueeze(-1);
      const picked = gather(lp.narrow(1, 0, win.length - 1), 2, targets).dataSync();
      for (const v of picked) nll -= v;
      count += picked.length;
      bar.update(count, { ppl: Math.exp(nll / count) });
    }
    bar.done({ ppl: Math.exp(nll / count) });
    console.log(`perplexity ${Math.exp(nll / count).toFixed(3)} over ${count} tokens (mean loss ${(nll / count).toFixed(4)} nats)`);
  },
};
