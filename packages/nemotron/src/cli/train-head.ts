// tensorzoo train-head: trains a sequence-classification head on a frozen backbone. The backbone runs once per
// text (its pooled features are cached), then the head trains for many epochs in milliseconds each.
import { copyFile, link, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { argmax, cat, crossEntropy, eq, Generator, noGrad, openSafetensors, saveSafetensors, SHARDED_INDEX_NAME, tensor, tidy, type Tensor } from '@tensorzoo/tensor';
import { AdamW, loadTrainingState, saveTrainingState } from '@tensorzoo/nn';
import { loadConfig, NemotronForSequenceClassification } from '../index.js';
import { checkModelBounds, DEVICE, SEED, UsageError, type Command } from './args.js';
import { CONTEXT } from './context.js';
import { readExamples } from './data.js';
import { loadTokenizer, resolveModelDir, useDevice, loadingProgress } from './model-dir.js';
import { Progress } from './progress.js';

function shuffled<T>(xs: readonly T[], g: Generator): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = g.integer(0, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Tokens per text unless --max-length says otherwise (or the model's context is shorter). */
const DEFAULT_MAX_LENGTH = 128;

export const trainHeadCommand: Command = {
  name: 'train-head',
  summary: 'train a sequence-classification head on a frozen backbone (texts and labels from JSONL or CSV)',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'backbone model folder; default: the shipped model' },
    data: { type: 'string', arg: 'FILE', help: 'training data: .jsonl lines {"text": ..., "label": ...} or .csv text,label', required: true },
    labels: { type: 'string', arg: 'a,b,...', help: 'the label names, in order', required: true },
    out: { type: 'string', arg: 'DIR', help: 'where to write the classifier (config.json + weights + tokenizer)', default: 'classifier' },
    epochs: { type: 'int', arg: 'N', help: 'maximum epochs', default: 200, min: 1 },
    lr: { type: 'number', arg: 'LR', help: 'AdamW learning rate', default: 0.01, min: 0, minOpen: true },
    'batch-size': { type: 'int', arg: 'N', help: 'texts per batch', default: 32, min: 1 },
    'max-length': { type: 'int', arg: 'N', help: `tokens per text (longer ones are cut); default: ${DEFAULT_MAX_LENGTH} or the model's context when shorter`, min: 1, max: { of: (c) => c.max_position_embeddings, name: CONTEXT } },
    'val-split': { type: 'number', arg: 'F', help: 'fraction held out for validation', default: 0.2, min: 0, minOpen: true, max: 1, maxOpen: true },
    patience: { type: 'int', arg: 'N', help: 'stop after N epochs without a better validation loss', default: 20, min: 1 },
    seed: { ...SEED, help: 'seed of the split, the shuffles and the head init' },
    resume: { type: 'boolean', help: 'continue from the state saved in --out' },
    device: DEVICE,
  },
  async run(o) {
    const device = await useDevice(String(o.device));
    const labels = String(o.labels).split(',').map((s) => s.trim()).filter(Boolean);
    if (labels.length < 2 || new Set(labels).size !== labels.length) throw new UsageError('train-head: --labels needs at least two distinct names');
    const dir = resolveModelDir(o.model as string | undefined);
    const config = await loadConfig(dir);
    checkModelBounds(this, o, config);
    const maxLength = (o['max-length'] as number | undefined) ?? Math.min(DEFAULT_MAX_LENGTH, config.max_position_embeddings);
    const out = String(o.out);
    const stateFile = join(out, 'train-head.state.safetensors');
    if (o.resume) {
      const missing = [stateFile, join(out, 'best-head.safetensors')].filter((f) => !existsSync(f));
      if (missing.length) throw new UsageError(`train-head: --resume but ${out} holds no saved training state (${missing.map((f) => basename(f)).join(', ')} not found)`);
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
      const bs = o['batch-size'] as number;
      const all = [...train, ...val];
      const bar = new Progress('features', all.length, 'texts');
      const parts: Tensor[] = [];
      for (let i = 0; i < all.length; i += bs) {
        const batch = all.slice(i, i + bs);
        const enc = tok(batch.map((e) => e.text), { padding: true, truncation: true, maxLength, returnAttentionMask: true });
        parts.push(tidy(() => noGrad(() => pooled(model, enc.inputIds, enc.attentionMask!))));
        bar.update(Math.min(i + bs, all.length));
      }
      bar.done();
      const f = cat(parts, 0);
      feats = { train: f.narrow(0, 0, train.length).contiguous(), val: f.narrow(0, train.length, val.length).contiguous() };
      for (const t of parts) t.dispose();
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
      const m = await metrics(model, feats.val, yVal);
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
    await writeClassifier(dir, out, model);
    const m = await metrics(model, feats.val, yVal);
    console.log(`validation accuracy ${(m.acc * 100).toFixed(1)}% (${val.length} texts, ${labels.length} labels, best epoch ${best.epoch + 1}); classifier written to ${out}`);
  },
};

/** Backbone features pooled at each row's last non-pad token (the head's input). */
function pooled(model: NemotronForSequenceClassification, ids: number[][], mask: number[][]): Tensor {
  const h = model.model.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState; // [b, s, H]
  const last = tensor(mask.map((r) => Math.max(0, r.lastIndexOf(1))), { dtype: 'int32', device: h.device });
  return h.gather(1, last.reshape(-1, 1, 1).expand(-1, 1, h.shape[2]!)).squeeze(1);
}

/** Validation loss and accuracy (one read of both, whatever the device). */
async function metrics(model: NemotronForSequenceClassification, x: Tensor, y: Tensor): Promise<{ loss: number; acc: number }> {
  const both = tidy(() => noGrad(() => {
    const logits = model.score.forward(x);
    return cat([crossEntropy(logits, y).reshape(1), eq(argmax(logits, -1), y).float().mean().reshape(1)]);
  }));
  const [loss, acc] = await both.data();
  both.dispose();
  return { loss: loss!, acc: acc! };
}

/**
 * Writes a folder that NemotronForSequenceClassification.fromPretrained loads: the backbone's weight files (hard
 * links where possible), the head in head.safetensors, an index mapping every tensor to its file, config and tokenizer.
 */
async function writeClassifier(base: string, out: string, model: NemotronForSequenceClassification): Promise<void> {
  const weightMap: Record<string, string> = {};
  const files = existsSync(join(base, SHARDED_INDEX_NAME)) ? (await readdir(base)).filter((f) => f.endsWith('.safetensors')) : ['model.safetensors'];
  for (const f of files) {
    const src = await openSafetensors(join(base, f));
    for (const n of src.names) if (n.startsWith('model.')) weightMap[n] = `backbone-${f}`;
    await src.close();
    const dst = join(out, `backbone-${f}`);
    if (!existsSync(dst) || (await stat(dst)).size !== (await stat(join(base, f))).size) {
      await link(join(base, f), dst).catch(() => copyFile(join(base, f), dst));
    }
  }
  if (!Object.keys(weightMap).length) throw new UsageError(`train-head: ${base} holds no 'model.*' backbone tensors`);
  await saveSafetensors(join(out, 'head.safetensors'), { 'score.weight': model.score.weight });
  weightMap['score.weight'] = 'head.safetensors';
  await writeFile(join(out, SHARDED_INDEX_NAME), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2) + '\n');
  await writeFile(join(out, 'config.json'), JSON.stringify(model.config.toDict(), null, 2) + '\n');
  for (const f of ['tokenizer.model', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    if (existsSync(join(base, f))) await copyFile(join(base, f), join(out, f));
  }
}

