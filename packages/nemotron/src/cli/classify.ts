// tensorzoo classify: labels texts with a classifier folder written by train-head (or any HF sequence classifier).
import { noGrad, softmax, tensor } from '@tensorzoo/tensor';
import { NemotronForSequenceClassification } from '../models/nemotron/modeling-nemotron.js';
import { UsageError, type Command } from './args.js';
import { loadTokenizer, readStdin, resolveModelDir, useDevice, loadingProgress } from './model-dir.js';

export const classifyCommand: Command = {
  name: 'classify',
  summary: 'label texts with a sequence classifier (one text per stdin line when --text is omitted)',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'classifier folder (e.g. the --out of train-head)' },
    text: { type: 'string', arg: 'TEXT', help: 'the text to classify' },
    device: { type: 'string', arg: 'cpu|webgpu', help: 'where to run', default: 'cpu' },
  },
  async run(o) {
    await useDevice(String(o.device));
    if (!o.model) throw new UsageError('classify: --model DIR is required (a folder written by train-head)');
    const dir = resolveModelDir(String(o.model));
    const texts = o.text !== undefined ? [String(o.text)] : (await readStdin()).split(/\r?\n/).filter((l) => l.trim() !== '');
    if (texts.length === 0) throw new UsageError('classify: give --text TEXT or lines on stdin');
    const [model, tok] = await Promise.all([NemotronForSequenceClassification.fromPretrained(dir, loadingProgress()), loadTokenizer(dir)]);
    if (model.loadingInfo.newlyInitialized.length) throw new UsageError(`classify: ${dir} has no trained classification head (run tensorzoo train-head first)`);
    for (const text of texts) {
      const ids = tensor([tok.encode(text)], { dtype: 'int32' });
      const probs = noGrad(() => softmax(model.forward({ inputIds: ids }).logits, -1)).dataSync();
      let best = 0;
      probs.forEach((p, i) => (p > probs[best]! ? (best = i) : 0));
      const all = Array.from(probs, (p, i) => `${model.config.id2label[i]}=${p.toFixed(3)}`).join(' ');
      console.log(`${model.config.id2label[best]}\t${all}\t${text}`);
    }
  },
};
