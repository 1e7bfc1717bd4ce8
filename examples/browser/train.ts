// Training a sequence-classification head (Old or New Testament?) on the frozen shipped model, with the library's
// head training (trainHead): the same code in the page and in Node, which test/browser.test.ts compares. No DOM here.
import {
  AutoTokenizer, NemotronForSequenceClassification, sequenceClassificationFeatures, sequenceClassificationProblem, shuffled, trainHead,
  type HeadEpoch, type ModelSourceLike,
} from '@tensorzoo/nemotron';
import { Generator, manualSeed, tensor } from '@tensorzoo/tensor';

/** The labels of examples/data/testaments.jsonl, in label-id order. */
export const TESTAMENTS = ['old', 'new'] as const;

/** Options of trainTestamentsHead (what `tensorzoo train-head` calls --epochs, --lr, --batch-size, ...). */
export interface TrainRequest {
  /** Use the first N lines of the data (the backbone runs once on each). */
  examples: number;
  epochs: number;
  lr: number;
  batchSize: number;
  /** Tokens per text. */
  maxLength: number;
  /** Fraction held out for validation. */
  valSplit: number;
  /** Seeds the head's init, the split and the batch order. */
  seed: number;
  /** Stop after this many epochs without a better validation loss. */
  patience: number;
  /** Load the model with the Cache API (a page only). */
  cache?: boolean;
}

/** What training reached: the best epoch's validation accuracy and loss, and every epoch's numbers. */
export interface TrainResult {
  accuracy: number;
  valLoss: number;
  bestEpoch: number;
  history: HeadEpoch[];
  nTrain: number;
  nVal: number;
}

/** Reads `{"text", "label"}` JSON lines whose label is one of TESTAMENTS. */
export function parseTestaments(jsonl: string): { text: string; label: number }[] {
  return jsonl.split('\n').filter((l) => l.trim()).map((line, i) => {
    const { text, label } = JSON.parse(line) as { text: unknown; label: unknown };
    const id = TESTAMENTS.indexOf(label as (typeof TESTAMENTS)[number]);
    if (typeof text !== 'string' || id < 0) throw new Error(`testaments data, line ${i + 1}: expected {"text": string, "label": ${TESTAMENTS.map((l) => `"${l}"`).join(' | ')}}`);
    return { text, label: id };
  });
}

/**
 * Loads the backbone from `model` with a fresh two-label head, computes the pooled features of the texts once, and
 * trains the head on them (library trainHead: AdamW, validation per epoch, best weights by validation loss).
 */
export async function trainTestamentsHead(
  model: ModelSourceLike,
  jsonl: string,
  req: TrainRequest,
  on: { features?: (done: number, total: number) => void | Promise<void>; epoch?: (e: HeadEpoch) => void | Promise<void> } = {},
): Promise<TrainResult> {
  const data = parseTestaments(jsonl).slice(0, req.examples);
  const g = new Generator(req.seed);
  const order = shuffled(data, g);
  const nVal = Math.max(1, Math.round(order.length * req.valSplit));
  if (order.length - nVal < 1) throw new Error(`trainTestamentsHead: ${order.length} examples are too few for a train/validation split`);
  manualSeed(req.seed); // the fresh head's init
  const tok = await AutoTokenizer.fromPretrained(model, { cache: req.cache });
  const clf = await NemotronForSequenceClassification.fromPretrained(model, {
    cache: req.cache,
    config: { id2label: Object.fromEntries(TESTAMENTS.map((l, i) => [i, l])), pad_token_id: tok.padTokenId ?? 0, architectures: ['NemotronForSequenceClassification'] },
  });
  clf.model.requiresGrad_(false);
  const texts = order.map((e) => e.text);
  const x = await sequenceClassificationFeatures(clf, tok, texts, { batchSize: req.batchSize, maxLength: req.maxLength, onBatch: (n) => on.features?.(n, texts.length) });
  const y = order.map((e) => e.label);
  const val = { x: x.narrow(0, 0, nVal).contiguous(), y: tensor(y.slice(0, nVal), { dtype: 'int32' }) };
  const train = { x: x.narrow(0, nVal, order.length - nVal).contiguous(), y: tensor(y.slice(nVal), { dtype: 'int32' }) };
  const history: HeadEpoch[] = [];
  const best = await trainHead(sequenceClassificationProblem(clf, train, val), {
    epochs: req.epochs, lr: req.lr, batchSize: req.batchSize, patience: req.patience, g,
    onEpoch: (e) => {
      history.push(e);
      return on.epoch?.(e);
    },
  });
  for (const t of [x, train.x, train.y, val.x, val.y]) t.dispose();
  return { accuracy: best.score, valLoss: best.loss, bestEpoch: best.epoch, history, nTrain: order.length - nVal, nVal };
}
