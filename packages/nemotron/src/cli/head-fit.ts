// The training loop of the token-classification and question-answering heads on cached backbone features: AdamW
// over shuffled batches, a validation pass each epoch, the best weights by validation loss, early stopping.
import { Generator, noGrad, tensor, tidy, type Device, type Tensor } from '@tensorzoo/tensor';
import { AdamW, type Module } from '@tensorzoo/nn';
import type { PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import { UsageError } from './args.js';
import { Progress } from './progress.js';

/** What every task of train-head gets from the command line, resolved. */
export interface HeadRun {
  dir: string;
  out: string;
  data: string;
  tok: PreTrainedTokenizer;
  device: Device;
  g: Generator;
  maxLength: number;
  batchSize: number;
  epochs: number;
  lr: number;
  patience: number;
  valSplit: number;
}

/** A Fisher-Yates shuffle drawn from `g` (the same order for the same seed). */
export function shuffled<T>(xs: readonly T[], g: Generator): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = g.integer(0, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** The examples shuffled by `g`, the first `valSplit` of them (at least one) held out for validation. */
export function splitTrainVal<T>(examples: readonly T[], g: Generator, valSplit: number): { train: T[]; val: T[] } {
  const order = shuffled(examples, g);
  const nVal = Math.max(1, Math.round(order.length * valSplit));
  if (order.length - nVal < 1) throw new UsageError('train-head: not enough examples for a train/validation split');
  return { train: order.slice(nVal), val: order.slice(0, nVal) };
}

/** What fitHead trains: the head, the training loss of a batch of row indices, and the validation metrics. */
export interface HeadProblem {
  head: Module;
  /** Training rows (words, questions): batches are drawn from their indices. */
  nTrain: number;
  /** The mean loss of the training rows `idx`. */
  batchLoss(idx: Tensor): Tensor;
  /** Validation loss and the task's score (accuracy or exact match), computed on the head's current weights. */
  validate(): Promise<{ loss: number; score: number }>;
  /** The score's name in the progress line. */
  scoreName: string;
}

/** Trains `p.head` and leaves it holding the weights of the epoch with the lowest validation loss. */
export async function fitHead(p: HeadProblem, o: { epochs: number; lr: number; batchSize: number; patience: number; g: Generator; device: Device }): Promise<{ epoch: number; loss: number; score: number; ran: number }> {
  const params = [...p.head.namedParameters()];
  const opt = new AdamW(params.map(([, t]) => t), { lr: o.lr, weightDecay: 0.01 });
  let best = { loss: Infinity, score: 0, epoch: -1 };
  let bestWeights = params.map(([, t]) => noGrad(() => t.clone()));
  const bar = new Progress('train', o.epochs, 'epochs');
  let ran = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    ran = epoch + 1;
    const perm = shuffled(Array.from({ length: p.nTrain }, (_, i) => i), o.g);
    let lossSum = 0;
    for (let i = 0; i < perm.length; i += o.batchSize) {
      const rows = perm.slice(i, i + o.batchSize);
      opt.zeroGrad();
      const loss = tidy(() => {
        const l = p.batchLoss(tensor(rows, { dtype: 'int32', device: o.device }));
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
    bar.update(epoch + 1, { loss: lossSum / perm.length, 'val loss': m.loss, [`val ${p.scoreName}`]: m.score });
    if (epoch - best.epoch >= o.patience) break;
  }
  bar.done({}, ran);
  if (ran < o.epochs) process.stderr.write(`early stop after epoch ${ran}: no better validation loss for ${o.patience} epochs\n`);
  noGrad(() => params.forEach(([, t], i) => t.copy_(bestWeights[i]!)));
  for (const t of bestWeights) t.dispose();
  return { ...best, ran };
}
