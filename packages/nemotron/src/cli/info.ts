// tensorzoo info: what a model folder holds: config, parameter count, memory by dtype.
import { getNumThreads, hasRelaxedSimd, itemSize, type DType } from '@tensorzoo/tensor';
import { AutoModel, NemotronForSequenceClassification, NemotronForTokenClassification } from '../index.js';
import type { Command } from './args.js';
import { resolveModelDir, loadingProgress } from './model-dir.js';

export const infoCommand: Command = {
  name: 'info',
  summary: 'show a model folder: architecture, config, parameters, memory by dtype',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder; default: the shipped model' },
  },
  async run(o) {
    const dir = resolveModelDir(o.model as string | undefined);
    const model = await AutoModel.fromPretrained(dir, loadingProgress());
    const c = model.config;
    const bytes = new Map<DType, { n: number; bytes: number }>();
    for (const p of model.parameters()) {
      const e = bytes.get(p.dtype) ?? { n: 0, bytes: 0 };
      e.n += p.numel();
      e.bytes += p.numel() * itemSize(p.dtype);
      bytes.set(p.dtype, e);
    }
    const lines = [
      `model        ${dir}`,
      `class        ${model.constructor.name}`,
      `layers       ${c.num_hidden_layers} x (hidden ${c.hidden_size}, MLP ${c.intermediate_size} ${c.hidden_act})`,
      `attention    ${c.num_attention_heads} heads x ${c.head_dim}, ${c.num_key_value_heads} key/value heads, rotary on ${c.rotary_dim} of ${c.head_dim} dims (theta ${c.rope_theta})`,
      `vocabulary   ${c.vocab_size}${c.tie_word_embeddings ? ' (tied input/output embeddings)' : ''}`,
      `context      ${c.max_position_embeddings} positions`,
      // only heads that predict labels have them; every config carries HF's default LABEL_0, LABEL_1
      ...(model instanceof NemotronForSequenceClassification || model instanceof NemotronForTokenClassification ? [`labels       ${c.num_labels}: ${Object.values(c.id2label).join(', ')}`] : []),
      `parameters   ${model.numParameters().toLocaleString('en-US')}`,
      ...[...bytes].map(([dt, e]) => `memory       ${dt}: ${e.n.toLocaleString('en-US')} values, ${(e.bytes / 2 ** 20).toFixed(2)} MiB`),
      `cpu          WebAssembly SIMD, ${hasRelaxedSimd() ? 'relaxed SIMD (fused multiply-add)' : 'no relaxed SIMD (multiply, then add)'}, ${getNumThreads()} threads`,
    ];
    console.log(lines.join('\n'));
  },
};
