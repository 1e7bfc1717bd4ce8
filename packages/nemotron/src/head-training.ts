// Training a head on a frozen backbone (what `tensorzoo train-head` does, and what a page can do): the backbone runs
// once per text and its features are kept, then only the head trains on them, epoch after epoch, in milliseconds
// each. The loop is written once, here, for the CLI and for library users (the browser demo trains in a page).
import { argmax, cat, crossEntropy, eq, noGrad, tensor, tidy, type Generator, type Tensor } from '@tensorzoo/tensor';
import { AdamW, type Module } from '@tensorzoo/nn';
import type { PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import type { NemotronForSequenceClassification } from './models/nemotron/modeling-nemotron.js';

/** A Fisher-Yates shuffle drawn from `g` (the same order for the same seed). */
export function shuffled<T>(xs: readonly T[], g: Generator): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = g.integer(0, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** What trainHead trains: the head, the training loss of a batch of row indices, and the validation metrics. */
export interface HeadProblem {
  head: Module;
  /** Training rows (texts, words, questions): batches are drawn from their indices. */
  nTrain: number;
  /** The mean loss of the training rows `idx`. */
  batchLoss(idx: Tensor): Tensor;
  /** Validation loss and the task's score (accuracy or exact match), computed on the head's current weights. */
  validate(): Promise<{ loss: number; score: number }>;
  /** The score's name (in progress lines). */
  scoreName: string;
}

/** One epoch of trainHead: mean training loss, validation loss and score. */
export interface HeadEpoch {
  /** 0-based. */
  epoch: number;
  loss: number;
  valLoss: number;
  valScore: number;
}

/** Options of trainHead. */
export interface TrainHeadOptions {
  /** Maximum epochs. */
  epochs: number;
  /** AdamW learning rate (weight decay 0.01). */
  lr: number;
  batchSize: number;
  /** Stop after this many epochs without a better validation loss. */
  patience: number;
  /** Draws each epoch's batch order. */
  g: Generator;
  /** Called after each epoch (awaited: a page can draw and yield here). */
  onEpoch?: (e: HeadEpoch) => void | Promise<void>;
}

/**
 * Trains `p.head` with AdamW over shuffled batches, validating after each epoch, and leaves it holding the weights of
 * the epoch with the lowest validation loss. Returns that epoch (0-based), its validation loss and score, and how
 * many epochs ran (fewer than `epochs` after an early stop).
 */
export async function trainHead(p: HeadProblem, o: TrainHeadOptions): Promise<{ epoch: number; loss: number; score: number; ran: number }> {
  const params = [...p.head.namedParameters()];
  if (!params.length) throw new Error('trainHead: the head has no parameters');
  const device = params[0]![1].device;
  const opt = new AdamW(params.map(([, t]) => t), { lr: o.lr, weightDecay: 0.01 });
  let best = { loss: Infinity, score: 0, epoch: -1 };
  let bestWeights = params.map(([, t]) => noGrad(() => t.clone()));
  let ran = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    ran = epoch + 1;
    const perm = shuffled(Array.from({ length: p.nTrain }, (_, i) => i), o.g);
    let lossSum = 0;
    for (let i = 0; i < perm.length; i += o.batchSize) {
      const rows = perm.slice(i, i + o.batchSize);
      opt.zeroGrad();
      const loss = tidy(() => {
        const l = p.batchLoss(tensor(rows, { dtype: 'int32', device }));
        l.backward();
        return l.detach();
      });
      opt.step();
      lossSum += (await loss.data())[0]! * rows.length;
      loss.dispose();
    }
    const m = await p.validate();
    if (m.loss < best.loss) {
      best = { loss: m.loss, score: m.score, epoch };
      for (const t of bestWeights) t.dispose();
      bestWeights = params.map(([, t]) => noGrad(() => t.clone()));
    }
    await o.onEpoch?.({ epoch, loss: lossSum / perm.length, valLoss: m.loss, valScore: m.score });
    if (epoch - best.epoch >= o.patience) break;
  }
  noGrad(() => params.forEach(([, t], i) => t.copy_(bestWeights[i]!)));
  for (const t of bestWeights) t.dispose();
  return { ...best, ran };
}

/** Mean cross-entropy and accuracy of a classification head on features `x` with labels `y` (one read of both). */
export async function classificationMetrics(head: Module & { forward(x: Tensor): Tensor }, x: Tensor, y: Tensor): Promise<{ loss: number; acc: number }> {
  const both = tidy(() => noGrad(() => {
    const logits = head.forward(x);
    return cat([crossEntropy(logits, y).reshape(1), eq(argmax(logits, -1), y).float().mean().reshape(1)]);
  }));
  const [loss, acc] = await both.data();
  both.dispose();
  return { loss: loss!, acc: acc! };
}

/** Backbone features pooled at each row's last non-pad token (what the sequence-classification head reads): [b, hidden]. */
export function pooledFeatures(model: NemotronForSequenceClassification, ids: number[][], mask: number[][]): Tensor {
  const h = model.model.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState; // [b, s, H]
  const last = tensor(mask.map((r) => Math.max(0, r.lastIndexOf(1))), { dtype: 'int32', device: h.device });
  return h.gather(1, last.reshape(-1, 1, 1).expand(-1, 1, h.shape[2]!)).squeeze(1);
}

/**
 * The pooled backbone features of `texts`, `batchSize` texts at a time, each cut to `maxLength` tokens: [n, hidden].
 * `onBatch` gets the number of texts done after each batch (awaited: a page can show progress and yield there).
 */
export async function sequenceClassificationFeatures(
  model: NemotronForSequenceClassification,
  tok: PreTrainedTokenizer,
  texts: readonly string[],
  o: { batchSize: number; maxLength: number; onBatch?: (done: number) => void | Promise<void> },
): Promise<Tensor> {
  const parts: Tensor[] = [];
  for (let i = 0; i < texts.length; i += o.batchSize) {
    const enc = tok(texts.slice(i, i + o.batchSize), { padding: true, truncation: true, maxLength: o.maxLength, returnAttentionMask: true });
    parts.push(tidy(() => noGrad(() => pooledFeatures(model, enc.inputIds, enc.attentionMask!))));
    await o.onBatch?.(Math.min(i + o.batchSize, texts.length));
  }
  const all = cat(parts, 0);
  for (const t of parts) t.dispose();
  return all;
}

/** The HeadProblem of a sequence-classification head (`model.score`) on cached features and their label ids. */
export function sequenceClassificationProblem(model: NemotronForSequenceClassification, train: { x: Tensor; y: Tensor }, val: { x: Tensor; y: Tensor }): HeadProblem {
  return {
    head: model.score,
    nTrain: train.x.shape[0]!,
    scoreName: 'acc',
    batchLoss: (idx) => crossEntropy(model.score.forward(train.x.indexSelect(0, idx)), train.y.indexSelect(0, idx)),
    validate: async () => {
      const m = await classificationMetrics(model.score, val.x, val.y);
      return { loss: m.loss, score: m.acc };
    },
  };
}
