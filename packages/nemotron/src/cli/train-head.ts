// tensorzoo train-head: trains a head on a frozen backbone: sequence classification (here), token classification
// (train-token-head.ts) or question answering (train-qa-head.ts). The backbone runs once per example (its features
// are cached), then the head trains for many epochs in milliseconds each.
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { crossEntropy, Generator, noGrad, openSafetensors, saveSafetensors, tensor, tidy, type Tensor } from '@tensorzoo/tensor';
import { AdamW, loadTrainingState, saveTrainingState } from '@tensorzoo/nn';
import { NemotronForSequenceClassification } from '../index.js';
import { DEVICE, SEED, UsageError, type Command } from './args.js';
import { CONTEXT } from './context.js';
import { readExamples } from './data.js';
import { type HeadRun } from './head-fit.js';
import { classificationMetrics, sequenceClassificationFeatures, shuffled } from '../head-training.js';
import { writeHeadFolder } from './head-folder.js';
import { trainQaHead } from './train-qa-head.js';
import { trainTokenHead } from './train-token-head.js';
import { loadingProgress, loadTokenizer, openModelDir, useDevice } from './model-dir.js';
import { Progress } from './progress.js';

/** The heads train-head can train, as the pipeline tasks name them. */
const TASKS = ['sequence-classification', 'token-classification', 'question-answering'] as const;

/** Tokens per text unless --max-length says otherwise (or the model's context is shorter). */
const DEFAULT_MAX_LENGTH = 128;

export const trainHeadCommand: Command = {
  name: 'train-head',
  summary: 'train a sequence-classification, token-classification or question-answering head on a frozen backbone (JSONL or CSV)',
  options: {
    task: { type: 'string', arg: 'TASK', choices: TASKS, default: 'sequence-classification', help: `the head: ${TASKS.join(', ')}` },
    model: { type: 'string', arg: 'DIR', help: 'backbone model folder; default: the shipped model' },
    data: { type: 'string', arg: 'FILE', help: 'training data (formats by --task below)', required: true },
    labels: { type: 'string', arg: 'a,b,...', help: 'the label names, in order (sequence and token classification)' },
    out: { type: 'string', arg: 'DIR', help: 'where to write the classifier (config.json + weights + tokenizer)', default: 'classifier' },
    epochs: { type: 'int', arg: 'N', help: 'maximum epochs', default: 200, min: 1 },
    lr: { type: 'number', arg: 'LR', help: 'AdamW learning rate', default: 0.01, min: 0, minOpen: true },
    'batch-size': { type: 'int', arg: 'N', help: 'texts (sentences, questions) per batch; words per batch when training a token head', default: 32, min: 1 },
    'max-length': { type: 'int', arg: 'N', help: `tokens per text (longer ones are cut); default: ${DEFAULT_MAX_LENGTH} or the model's context when shorter`, min: 1, max: { of: (c) => c.max_position_embeddings, name: CONTEXT } },
    'val-split': { type: 'number', arg: 'F', help: 'fraction held out for validation', default: 0.2, min: 0, minOpen: true, max: 1, maxOpen: true },
    patience: { type: 'int', arg: 'N', help: 'stop after N epochs without a better validation loss', default: 20, min: 1 },
    seed: { ...SEED, help: 'seed of the split, the shuffles and the head init' },
    resume: { type: 'boolean', help: 'continue from the state saved in --out' },
    device: DEVICE,
  },
  details: [
    'Data formats (--data), by --task:',
    '  sequence-classification  .jsonl lines {"text": ..., "label": ...} or .csv text,label',
    '  token-classification     .jsonl lines {"tokens": [words...], "tags": [labels...]}, one tag from --labels per word;',
    '                           the tag labels the word\'s first sub-token, the others are ignored (-100)',
    '  question-answering       .jsonl lines {"context", "question", "answer_start": character offset, "answer_text"}',
    '                           or as SQuAD {"context", "question", "answers": {"text": [...], "answer_start": [...]}}',
  ].join('\n'),
  async run(o) {
    const task = String(o.task);
    const labels = String(o.labels ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (task !== 'question-answering') {
      if (o.labels === undefined) throw new UsageError(`train-head: --labels a,b,... is required${task === 'sequence-classification' ? '' : ` for --task ${task}`}`);
      if (labels.length < 2 || new Set(labels).size !== labels.length) throw new UsageError('train-head: --labels needs at least two distinct names');
    } else if (o.labels !== undefined) throw new UsageError('train-head: --labels is not used by --task question-answering (the head predicts a span)');
    if (o.resume && task !== 'sequence-classification') throw new UsageError(`train-head: --resume is only for --task sequence-classification`);
    const device = await useDevice(String(o.device));
    const { dir, config } = await openModelDir(this, o);
    const maxLength = (o['max-length'] as number | undefined) ?? Math.min(DEFAULT_MAX_LENGTH, config.max_position_embeddings);
    const out = String(o.out);
    const stateFile = join(out, 'train-head.state.safetensors');
    if (o.resume) {
      const missing = [stateFile, join(out, 'best-head.safetensors')].filter((f) => !existsSync(f));
      if (missing.length) throw new UsageError(`train-head: --resume but ${out} holds no saved training state (${missing.map((f) => basename(f)).join(', ')} not found)`);
    }
    if (task !== 'sequence-classification') {
      await mkdir(out, { recursive: true });
      const r: HeadRun = {
        dir, out, data: String(o.data), tok: await loadTokenizer(dir), device, g: new Generator(o.seed as number), maxLength,
        batchSize: o['batch-size'] as number, epochs: o.epochs as number, lr: o.lr as number, patience: o.patience as number, valSplit: o['val-split'] as number,
      };
      return task === 'token-classification' ? trainTokenHead(r, labels) : trainQaHead(r);
    }
    const examples = await readExamples(String(o.data), labels);
    const g = new Generator(o.seed as number);
    const order = shuffled(examples, g);
    const nVal = Math.max(1, Math.round(order.length * (o['val-split'] as number)));
    if (order.length - nVal < 1) throw new UsageError('train-head: not enough examples for a train/validation split');
    const val = order.slice(0, nVal);
    const train = order.slice(nVal);

    const tok = await loadTokenizer(dir);
    const id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    const pad = tok.padTokenId ?? 0;
    const model = await NemotronForSequenceClassification.fromPretrained(dir, { config: { id2label, pad_token_id: pad, architectures: ['NemotronForSequenceClassification'] }, device, ...loadingProgress() });
    model.model.requiresGrad_(false);
    await mkdir(out, { recursive: true });

    const featuresFile = join(out, 'features.safetensors');
    let feats: { train: Tensor; val: Tensor };
    if (o.resume && existsSync(featuresFile)) {
      const f = await openSafetensors(featuresFile);
      feats = { train: (await f.get('train')).to(device), val: (await f.get('val')).to(device) };
      await f.close();
    } else {
      const all = [...train, ...val];
      const bar = new Progress('features', all.length, 'texts');
      const f = await sequenceClassificationFeatures(model, tok, all.map((e) => e.text), { batchSize: o['batch-size'] as number, maxLength, onBatch: (n) => bar.update(n) });
      bar.done();
      feats = { train: f.narrow(0, 0, train.length).contiguous(), val: f.narrow(0, train.length, val.length).contiguous() };
      await saveSafetensors(featuresFile, { train: feats.train, val: feats.val });
    }
    const yTrain = tensor(train.map((e) => e.label), { dtype: 'int32', device });
    const yVal = tensor(val.map((e) => e.label), { dtype: 'int32', device });

    const opt = new AdamW(model.score.parameters(), { lr: o.lr as number, weightDecay: 0.01 });
    let epoch0 = 0;
    let best = { loss: Infinity, acc: 0, epoch: -1 };
    let bestWeight = model.score.weight.clone().detach();
    if (o.resume) {
      const extra = await loadTrainingState(stateFile, { model: model.score, optimizer: opt });
      epoch0 = extra.epoch as number;
      best = extra.best as typeof best;
      const f = await openSafetensors(join(out, 'best-head.safetensors'));
      bestWeight.dispose();
      bestWeight = (await f.get('score.weight')).to(device);
      await f.close();
    }
    const epochs = o.epochs as number;
    const bar = new Progress('train', epochs, 'epochs');
    const bs = o['batch-size'] as number;
    let ran = epoch0;
    for (let epoch = epoch0; epoch < epochs; epoch++) {
      ran = epoch + 1;
      const perm = shuffled(train.map((_, i) => i), g);
      const t0 = performance.now();
      let lossSum = 0;
      for (let i = 0; i < perm.length; i += bs) {
        const n = Math.min(bs, perm.length - i);
        opt.zeroGrad();
        const loss = tidy(() => {
          const idx = tensor(perm.slice(i, i + bs), { dtype: 'int32', device });
          const l = crossEntropy(model.score.forward(feats.train.indexSelect(0, idx)), yTrain.indexSelect(0, idx));
          l.backward();
          return l.detach();
        });
        opt.step();
        lossSum += (await loss.data())[0]! * n;
        loss.dispose();
      }
      const textsPerS = perm.length / Math.max((performance.now() - t0) / 1000, 1e-9);
      const m = await classificationMetrics(model.score, feats.val, yVal);
      if (m.loss < best.loss) {
        best = { loss: m.loss, acc: m.acc, epoch };
        bestWeight.dispose();
        bestWeight = noGrad(() => model.score.weight.clone());
        await saveSafetensors(join(out, 'best-head.safetensors'), { 'score.weight': bestWeight });
      }
      await saveTrainingState(stateFile, { model: model.score, optimizer: opt, extra: { epoch: epoch + 1, best } });
      bar.update(epoch + 1, { loss: lossSum / perm.length, 'val loss': m.loss, 'val acc': m.acc, 'texts/s': textsPerS.toFixed(0) });
      if (epoch - best.epoch >= (o.patience as number)) break;
    }
    bar.done({}, ran);
    if (ran < epochs) process.stderr.write(`early stop after epoch ${ran}: no better validation loss for ${o.patience} epochs\n`);
    noGrad(() => model.score.weight.copy_(bestWeight));
    await writeHeadFolder(dir, out, model.config, { 'score.weight': model.score.weight });
    const m = await classificationMetrics(model.score, feats.val, yVal);
    console.log(`validation accuracy ${(m.acc * 100).toFixed(1)}% (${val.length} texts, ${labels.length} labels, best epoch ${best.epoch + 1}); classifier written to ${out}`);
  },
};
