// tensorzoo classify: labels texts with a classifier folder written by train-head (or any HF sequence classifier).
import { noGrad, softmax, tidy } from '@tensorzoo/tensor';
import { NemotronForSequenceClassification } from '../index.js';
import { DEVICE, UsageError, type Command } from './args.js';
import { fitText, TRUNCATE, type Truncate } from './context.js';
import { allFinite, nonFiniteError } from './finite.js';
import { loadTokenizer, readStdin, resolveModelDir, useDevice, loadingProgress } from './model-dir.js';

export const classifyCommand: Command = {
  name: 'classify',
  summary: 'label texts with a sequence classifier (one text per stdin line when --text is omitted)',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'classifier folder (e.g. the --out of train-head)', required: true },
    text: { type: 'string', arg: 'TEXT', help: 'the text to classify' },
    truncate: TRUNCATE,
    device: DEVICE,
  },
  async run(o) {
    const device = await useDevice(String(o.device));
    const dir = resolveModelDir(String(o.model));
    const texts = o.text !== undefined ? [String(o.text)] : (await readStdin()).split(/\r?\n/).filter((l) => l.trim() !== '');
    if (texts.length === 0) throw new UsageError('classify: give --text TEXT or lines on stdin');
    const [model, tok] = await Promise.all([NemotronForSequenceClassification.fromPretrained(dir, { ...loadingProgress(), device }), loadTokenizer(dir)]);
    if (model.loadingInfo.newlyInitialized.length) throw new UsageError(`classify: ${dir} has no trained classification head (run tensorzoo train-head first)`);
    const limit = model.config.max_position_embeddings;
    // every text is checked before the first is printed: a long line fails the run, not half of it
    const encoded = texts.map((t, i) => fitText('classify', tok.encode(t), limit, o.truncate as Truncate | undefined, tok.bosTokenId ?? null, o.text !== undefined ? 'the text' : `stdin line ${i + 1}`));
    for (const [i, ids] of encoded.entries()) {
      const probsT = tidy(() => noGrad(() => softmax(model.forward({ inputIds: [ids] }).logits, -1)));
      const probs = await probsT.data();
      probsT.dispose();
      if (!allFinite(probs)) throw await nonFiniteError('classify', 'scores', model, [ids]);
      let best = 0;
      probs.forEach((p, j) => (p > probs[best]! ? (best = j) : 0));
      const all = Array.from(probs, (p, j) => `${model.config.id2label[j]}=${p.toFixed(3)}`).join(' ');
      console.log(`${model.config.id2label[best]}\t${all}\t${texts[i]}`);
    }
  },
};
