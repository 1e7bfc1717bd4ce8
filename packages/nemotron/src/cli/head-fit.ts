// What the heads of train-head share: the resolved command line, the train/validation split, and the library's
// training loop (head-training.ts) with a progress line.
import type { Device, Generator } from '@tensorzoo/tensor';
import type { PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import { shuffled, trainHead, type HeadProblem, type TrainHeadOptions } from '../head-training.js';
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

/** The examples shuffled by `g`, the first `valSplit` of them (at least one) held out for validation. */
export function splitTrainVal<T>(examples: readonly T[], g: Generator, valSplit: number): { train: T[]; val: T[] } {
  const order = shuffled(examples, g);
  const nVal = Math.max(1, Math.round(order.length * valSplit));
  if (order.length - nVal < 1) throw new UsageError('train-head: not enough examples for a train/validation split');
  return { train: order.slice(nVal), val: order.slice(0, nVal) };
}

/** trainHead with a progress line per epoch and a note on an early stop. */
export async function fitHead(p: HeadProblem, o: Omit<TrainHeadOptions, 'onEpoch'>): Promise<{ epoch: number; loss: number; score: number; ran: number }> {
  const bar = new Progress('train', o.epochs, 'epochs');
  const best = await trainHead(p, { ...o, onEpoch: (e) => bar.update(e.epoch + 1, { loss: e.loss, 'val loss': e.valLoss, [`val ${p.scoreName}`]: e.valScore }) });
  bar.done({}, best.ran);
  if (best.ran < o.epochs) process.stderr.write(`early stop after epoch ${best.ran}: no better validation loss for ${o.patience} epochs\n`);
  return best;
}
