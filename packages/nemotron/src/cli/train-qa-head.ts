// train-head --task question-answering: span start/end logits (NemotronForQuestionAnswering) on the frozen backbone.
// Inputs are built as the question-answering pipeline builds them (question, then context, each with its own
// special tokens); the answer's character span maps to tokens through decoded prefixes of the context, and only
// context tokens compete in the softmax, as the pipeline masks the others.
import { add, argmax, cat, crossEntropy, eq, logicalAnd, noGrad, tensor, tidy, type Device, type Tensor } from '@tensorzoo/tensor';
import type { PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import { NemotronForQuestionAnswering } from '../index.js';
import { bodyStart } from '../pipelines.js';
import { readQaExamples, type QaExample } from './data.js';
import { fitHead, splitTrainVal, type HeadRun } from './head-fit.js';
import { writeHeadFolder } from './head-folder.js';
import { loadingProgress } from './model-dir.js';
import { Progress } from './progress.js';

/** A question's ids, where its context tokens are, and its answer's first and last token. */
interface Encoded {
  ids: number[];
  first: number;
  length: number;
  start: number;
  end: number;
}

/** Encodes question + context; null when the answer lies past maxLength tokens. */
function encodeQa(tok: PreTrainedTokenizer, e: QaExample, maxLength: number): Encoded | null {
  const q = tok.encode(e.question);
  const c = tok.encode(e.context);
  const body = tok.encode(e.context, { addSpecialTokens: false });
  const first = q.length + bodyStart(c, body);
  // token i covers the characters [endOf(i - 1), endOf(i)) of the decoded context (its leading space included)
  const endOf = (i: number) => tok.decode(body.slice(0, i + 1)).length;
  let start = -1;
  let end = -1;
  for (let i = 0; i < body.length && end < 0; i++) {
    const to = endOf(i);
    if (start < 0 && to > e.start) start = i;
    if (start >= 0 && to >= e.start + e.text.length) end = i;
  }
  const ids = [...q, ...c].slice(0, maxLength);
  if (start < 0 || end < 0 || first + end >= ids.length) return null;
  return { ids, first, length: Math.min(body.length, ids.length - first), start: first + start, end: first + end };
}

/** Trains a question-answering head and writes its folder. */
export async function trainQaHead(r: HeadRun): Promise<void> {
  const examples = await readQaExamples(r.data);
  const encoded = examples.map((e) => encodeQa(r.tok, e, r.maxLength)).filter((x): x is Encoded => x !== null);
  if (encoded.length < examples.length) process.stderr.write(`train-head: ${examples.length - encoded.length} of ${examples.length} questions left out (the answer lies past --max-length ${r.maxLength} tokens)\n`);
  const { train, val } = splitTrainVal(encoded, r.g, r.valSplit);
  const model = await NemotronForQuestionAnswering.fromPretrained(r.dir, { config: { pad_token_id: r.tok.padTokenId ?? 0, architectures: ['NemotronForQuestionAnswering'] }, device: r.device, ...loadingProgress() });
  model.transformer.requiresGrad_(false);
  const all = [...train, ...val];
  const f = await spanFeatures(model, r.tok, all, r.batchSize, r.device);
  const part = (t: Tensor, from: number, n: number) => t.narrow(0, from, n).contiguous();
  const ys = (xs: Encoded[], k: 'start' | 'end') => tensor(xs.map((e) => e[k]), { dtype: 'int32', device: r.device });
  const trainSet = { x: part(f.x, 0, train.length), bias: part(f.bias, 0, train.length), start: ys(train, 'start'), end: ys(train, 'end') };
  const valSet = { x: part(f.x, train.length, val.length), bias: part(f.bias, train.length, val.length), start: ys(val, 'start'), end: ys(val, 'end') };
  // start/end logits [n, s] with non-context positions pushed out of the softmax
  const logits = (x: Tensor, bias: Tensor) => {
    const l = model.qa_outputs.forward(x);
    return [add(l.select(-1, 0), bias), add(l.select(-1, 1), bias)] as const;
  };
  const loss = (s: Tensor, e: Tensor, ys: Tensor, ye: Tensor) => crossEntropy(s, ys).add(crossEntropy(e, ye)).div(2);
  const best = await fitHead({
    head: model.qa_outputs,
    nTrain: train.length,
    scoreName: 'exact',
    batchLoss: (idx) => {
      const [s, e] = logits(trainSet.x.indexSelect(0, idx), trainSet.bias.indexSelect(0, idx));
      return loss(s, e, trainSet.start.indexSelect(0, idx), trainSet.end.indexSelect(0, idx));
    },
    validate: async () => {
      const both = tidy(() => noGrad(() => {
        const [s, e] = logits(valSet.x, valSet.bias);
        const exact = logicalAnd(eq(argmax(s, -1), valSet.start), eq(argmax(e, -1), valSet.end)).float().mean();
        return cat([loss(s, e, valSet.start, valSet.end).reshape(1), exact.reshape(1)]);
      }));
      const [l, score] = await both.data();
      both.dispose();
      return { loss: l!, score: score! };
    },
  }, { epochs: r.epochs, lr: r.lr, batchSize: r.batchSize, patience: r.patience, g: r.g });
  const head = Object.fromEntries([...model.qa_outputs.namedParameters()].map(([n, t]) => [`qa_outputs.${n}`, t]));
  await writeHeadFolder(r.dir, r.out, model.config, head);
  console.log(`validation exact match ${(best.score * 100).toFixed(1)}% (${val.length} questions, best epoch ${best.epoch + 1}); question-answering model written to ${r.out}`);
}

/** Hidden states [n, s, H] of every question + context (padded to the longest) and a [n, s] bias: 0 on context tokens, -1e4 elsewhere. */
async function spanFeatures(model: NemotronForQuestionAnswering, tok: PreTrainedTokenizer, all: readonly Encoded[], bs: number, device: Device): Promise<{ x: Tensor; bias: Tensor }> {
  const pad = tok.padTokenId ?? 0;
  const s = Math.max(...all.map((e) => e.ids.length));
  const bar = new Progress('features', all.length, 'questions');
  const parts: Tensor[] = [];
  for (let i = 0; i < all.length; i += bs) {
    const batch = all.slice(i, i + bs);
    const ids = batch.map((e) => [...e.ids, ...Array<number>(s - e.ids.length).fill(pad)]);
    const mask = batch.map((e) => Array.from({ length: s }, (_, p) => (p < e.ids.length ? 1 : 0)));
    parts.push(tidy(() => noGrad(() => model.transformer.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState)));
    bar.update(Math.min(i + bs, all.length));
  }
  bar.done();
  const x = cat(parts, 0);
  for (const t of parts) t.dispose();
  const bias = tensor(all.map((e) => Array.from({ length: s }, (_, p) => (p >= e.first && p < e.first + e.length ? 0 : -1e4))), { device });
  return { x, bias };
}
