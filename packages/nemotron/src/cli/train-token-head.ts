// train-head --task token-classification: a per-token head (NemotronForTokenClassification) on the frozen backbone.
// Word-level tags label each word's first sub-token, the others are ignored (Hugging Face's -100), so the cached
// features are just those first sub-tokens' hidden states: one row per word.
import { cat, crossEntropy, noGrad, tensor, tidy, type Device, type Generator, type Tensor } from '@tensorzoo/tensor';
import type { PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import { NemotronForTokenClassification } from '../index.js';
import { bodyStart } from '../pipelines.js';
import { readTokenExamples, type TokenExample } from './data.js';
import { classificationMetrics } from '../head-training.js';
import { fitHead, splitTrainVal, type HeadRun } from './head-fit.js';
import { writeHeadFolder } from './head-folder.js';
import { loadingProgress } from './model-dir.js';
import { Progress } from './progress.js';

/**
 * A sentence's ids, word by word (each word's ids as the tokenizer encodes it alone, inside the sentence's special
 * tokens: with SentencePiece, which splits at spaces first, the ids of the words joined by spaces), and where each
 * word's first sub-token is.
 */
function encodeWords(tok: PreTrainedTokenizer, words: readonly string[]): { ids: number[]; first: number[] } {
  const full = tok.encode(words[0]!);
  const body0 = tok.encode(words[0]!, { addSpecialTokens: false });
  const at = bodyStart(full, body0);
  const ids = full.slice(0, at);
  const first: number[] = [];
  for (const w of words) {
    first.push(ids.length);
    ids.push(...tok.encode(w, { addSpecialTokens: false }));
  }
  ids.push(...full.slice(at + body0.length));
  return { ids, first };
}

/** Trains a token-classification head and writes its folder. */
export async function trainTokenHead(r: HeadRun, labels: readonly string[]): Promise<void> {
  const examples = await readTokenExamples(r.data, labels);
  const { train, val } = splitTrainVal(examples, r.g, r.valSplit);
  const id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  const model = await NemotronForTokenClassification.fromPretrained(r.dir, { config: { id2label, pad_token_id: r.tok.padTokenId ?? 0, architectures: ['NemotronForTokenClassification'] }, device: r.device, ...loadingProgress() });
  model.model.requiresGrad_(false);
  const f = await wordFeatures(model, r.tok, [...train, ...val], r.maxLength, r.batchSize, r.device);
  const nTrainWords = f.wordsOf.slice(0, train.length).reduce((a, b) => a + b, 0);
  const xTrain = f.x.narrow(0, 0, nTrainWords).contiguous();
  const xVal = f.x.narrow(0, nTrainWords, f.x.shape[0]! - nTrainWords).contiguous();
  const yTrain = tensor(f.y.slice(0, nTrainWords), { dtype: 'int32', device: r.device });
  const yVal = tensor(f.y.slice(nTrainWords), { dtype: 'int32', device: r.device });
  const best = await fitHead({
    head: model.score,
    nTrain: nTrainWords,
    scoreName: 'acc',
    batchLoss: (idx) => crossEntropy(model.score.forward(xTrain.indexSelect(0, idx)), yTrain.indexSelect(0, idx)),
    validate: async () => {
      const m = await classificationMetrics(model.score, xVal, yVal);
      return { loss: m.loss, score: m.acc };
    },
  }, { epochs: r.epochs, lr: r.lr, batchSize: r.batchSize, patience: r.patience, g: r.g });
  const head = Object.fromEntries([...model.score.namedParameters()].map(([n, t]) => [`score.${n}`, t]));
  await writeHeadFolder(r.dir, r.out, model.config, head);
  console.log(`validation accuracy ${(best.score * 100).toFixed(1)}% (${yVal.shape[0]} words in ${val.length} sentences, ${labels.length} labels, best epoch ${best.epoch + 1}); token classifier written to ${r.out}`);
}

/** Hidden states of every word's first sub-token (words cut off by maxLength are left out), with their tags. */
async function wordFeatures(model: NemotronForTokenClassification, tok: PreTrainedTokenizer, all: readonly TokenExample[], maxLength: number, bs: number, device: Device): Promise<{ x: Tensor; y: number[]; wordsOf: number[] }> {
  const pad = tok.padTokenId ?? 0;
  const bar = new Progress('features', all.length, 'sentences');
  const parts: Tensor[] = [];
  const y: number[] = [];
  const wordsOf: number[] = [];
  for (let i = 0; i < all.length; i += bs) {
    const batch = all.slice(i, i + bs).map((e) => ({ e, ...encodeWords(tok, e.tokens) }));
    const s = Math.min(maxLength, Math.max(...batch.map((b) => b.ids.length)));
    const rows: number[] = [];
    batch.forEach((b, k) => {
      const kept = b.first.filter((p) => p < s);
      wordsOf.push(kept.length);
      kept.forEach((p, w) => (rows.push(k * s + p), y.push(b.e.tags[w]!)));
    });
    const ids = batch.map((b) => [...b.ids.slice(0, s), ...Array<number>(Math.max(0, s - b.ids.length)).fill(pad)]);
    const mask = batch.map((b) => Array.from({ length: s }, (_, p) => (p < b.ids.length ? 1 : 0)));
    parts.push(tidy(() => noGrad(() => {
      const h = model.model.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState;
      return h.reshape(-1, h.shape[2]!).indexSelect(0, tensor(rows, { dtype: 'int32', device }));
    })));
    bar.update(Math.min(i + bs, all.length));
  }
  bar.done();
  const x = cat(parts, 0);
  for (const t of parts) t.dispose();
  return { x, y, wordsOf };
}
