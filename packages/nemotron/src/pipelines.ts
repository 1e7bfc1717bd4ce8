// pipeline(task, source) as transformers and transformers.js name it: a model folder's model and tokenizer behind one
// call per task, returning their output shapes. Scores are computed in float64 from the model's logits.
import { noGrad, type Tensor } from '@tensorzoo/tensor';
import { AutoTokenizer, type ChatMessage, type PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import type { GenerateOptions } from './generation/utils.js';
import type { FromPretrainedOptions } from './modeling-utils.js';
import {
  NemotronForCausalLM, NemotronForQuestionAnswering, NemotronForSequenceClassification, NemotronForTokenClassification,
} from './models/nemotron/modeling-nemotron.js';

/** The tasks pipeline() knows. */
export const TASKS = ['text-generation', 'text-classification', 'token-classification', 'question-answering'] as const;
/** One of TASKS. */
export type PipelineTask = (typeof TASKS)[number];

/** One generated text: the prompt and its continuation, or for a chat the messages with the assistant's reply. */
export interface TextGenerationOutput {
  generated_text: string | ChatMessage[];
}

/** A label and its probability. */
export interface TextClassificationOutput {
  label: string;
  score: number;
}

/** A token's label (transformers' aggregation_strategy 'none'; index is the token's position in the input ids). */
export interface TokenClassificationOutput {
  entity: string;
  score: number;
  index: number;
  word: string;
}

/** The best answer span: its text, probability, and character offsets in the context. */
export interface QuestionAnsweringOutput {
  answer: string;
  score: number;
  start: number;
  end: number;
}

/** Options of a text-generation call: generation settings, and whether the prompt starts generated_text. */
export type TextGenerationOptions = GenerateOptions & { returnFullText?: boolean };

/** What every pipeline carries besides being callable. */
interface PipelineParts<M> {
  readonly task: PipelineTask;
  readonly model: M;
  readonly tokenizer: PreTrainedTokenizer;
}

/** Continues a prompt, or answers the last message of a chat (rendered with the tokenizer's chat template). */
export type TextGenerationCall = (input: string | ChatMessage[], options?: TextGenerationOptions) => Promise<TextGenerationOutput[]>;
/** The topK labels (default 1; null = all), best first. */
export type TextClassificationCall = (text: string, options?: { topK?: number | null }) => Promise<TextClassificationOutput[]>;
/** Every token's best label, except special tokens and ignoreLabels (default ['O']). */
export type TokenClassificationCall = (text: string, options?: { ignoreLabels?: string[] }) => Promise<TokenClassificationOutput[]>;
/** The most probable span of the context of at most maxAnswerLen (default 15) tokens. */
export type QuestionAnsweringCall = (question: string, context: string, options?: { maxAnswerLen?: number }) => Promise<QuestionAnsweringOutput>;

/** A text-generation pipeline: callable, with its task, model and tokenizer. */
export type TextGenerationPipeline = PipelineParts<NemotronForCausalLM> & TextGenerationCall;
/** A text-classification pipeline: callable, with its task, model and tokenizer. */
export type TextClassificationPipeline = PipelineParts<NemotronForSequenceClassification> & TextClassificationCall;
/** A token-classification pipeline: callable, with its task, model and tokenizer. */
export type TokenClassificationPipeline = PipelineParts<NemotronForTokenClassification> & TokenClassificationCall;
/** A question-answering pipeline: callable, with its task, model and tokenizer. */
export type QuestionAnsweringPipeline = PipelineParts<NemotronForQuestionAnswering> & QuestionAnsweringCall;

/** The pipeline type of each task. */
export interface PipelineByTask {
  'text-generation': TextGenerationPipeline;
  'text-classification': TextClassificationPipeline;
  'token-classification': TokenClassificationPipeline;
  'question-answering': QuestionAnsweringPipeline;
}

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

const sigmoid = (x: ArrayLike<number>) => Array.from(x, (v) => 1 / (1 + Math.exp(-v)));

async function logitsOf(t: Tensor): Promise<Float64Array> {
  return new Float64Array(await t.data()); // not .from(): a typed array copies without the iterator
}

function textGeneration(model: NemotronForCausalLM, tok: PreTrainedTokenizer): TextGenerationCall {
  return async (input: string | ChatMessage[], options: TextGenerationOptions = {}) => {
    const chat = Array.isArray(input);
    // a chat is rendered by the template, which holds its own special tokens; a plain prompt gets BOS as configured
    const ids = chat ? tok.applyChatTemplate(input, { addGenerationPrompt: true }) : tok.encode(input);
    const { returnFullText = true, ...gen } = options;
    const rows = (await model.generate([ids], { tokenizer: tok, ...gen })).tolist() as number[][];
    const prompt = tok.decode(ids, { skipSpecialTokens: true });
    return rows.map((row) => {
      // decode prompt + continuation together: decoding the new ids alone would lose a word's leading space
      const text = tok.decode(row, { skipSpecialTokens: true }).slice(prompt.length);
      if (chat) return { generated_text: [...input, { role: 'assistant', content: text }] };
      return { generated_text: returnFullText ? input + text : text };
    });
  };
}

function textClassification(model: NemotronForSequenceClassification, tok: PreTrainedTokenizer): TextClassificationCall {
  return async (text: string, options: { topK?: number | null } = {}) => {
    const logits = await logitsOf(noGrad(() => model.forward({ inputIds: [tok.encode(text)] }).logits.reshape([-1])));
    const cfg = model.config;
    // transformers' function_to_apply: sigmoid for multi-label or a single output, softmax for several labels
    const scores = cfg.problem_type === 'multi_label_classification' || cfg.num_labels === 1 ? sigmoid(logits) : softmax(logits);
    const ranked = scores.map((score, i) => ({ label: cfg.id2label[i] ?? `LABEL_${i}`, score })).sort((a, b) => b.score - a.score);
    const k = options.topK === undefined ? 1 : options.topK;
    return k === null ? ranked : ranked.slice(0, k);
  };
}

function tokenClassification(model: NemotronForTokenClassification, tok: PreTrainedTokenizer): TokenClassificationCall {
  return async (text: string, options: { ignoreLabels?: string[] } = {}) => {
    const ids = tok.encode(text);
    const logits = await logitsOf(noGrad(() => model.forward({ inputIds: [ids] }).logits));
    const L = model.config.num_labels;
    const ignore = new Set(options.ignoreLabels ?? ['O']);
    const words = tok.convertIdsToTokens(ids);
    const out: TokenClassificationOutput[] = [];
    ids.forEach((id, i) => {
      if (tok.allSpecialIds.has(id)) return; // special tokens get no entity, as HF's special_tokens_mask
      const p = softmax(logits.subarray(i * L, (i + 1) * L));
      const best = p.indexOf(Math.max(...p));
      const entity = model.config.id2label[best] ?? `LABEL_${best}`;
      if (!ignore.has(entity)) out.push({ entity, score: p[best]!, index: i, word: words[i]! });
    });
    return out;
  };
}

/** Where `body` starts inside `ids` (the text's ids without special tokens inside its encoding with them). */
export function bodyStart(ids: readonly number[], body: readonly number[]): number {
  for (let i = 0; i + body.length <= ids.length; i++) if (body.every((t, k) => ids[i + k] === t)) return i;
  return 0;
}

function questionAnswering(model: NemotronForQuestionAnswering, tok: PreTrainedTokenizer): QuestionAnsweringCall {
  return async (question: string, context: string, options: { maxAnswerLen?: number } = {}) => {
    const q = tok.encode(question);
    const c = tok.encode(context);
    const body = tok.encode(context, { addSpecialTokens: false });
    if (body.length === 0) throw new Error('question-answering: the context is empty');
    // the pair as a SentencePiece tokenizer builds it: each text with its own special tokens, question first
    const first = q.length + bodyStart(c, body);
    const out = noGrad(() => model.forward({ inputIds: [[...q, ...c]] }));
    const [startLogits, endLogits] = [await logitsOf(out.startLogits.reshape([-1])), await logitsOf(out.endLogits.reshape([-1]))];
    // only context tokens can answer (HF masks the others before the softmax)
    const pStart = softmax(startLogits.subarray(first, first + body.length));
    const pEnd = softmax(endLogits.subarray(first, first + body.length));
    const maxLen = options.maxAnswerLen ?? 15;
    let best = { s: 0, e: 0, score: -1 };
    for (let s = 0; s < body.length; s++) {
      for (let e = s; e < Math.min(body.length, s + maxLen); e++) if (pStart[s]! * pEnd[e]! > best.score) best = { s, e, score: pStart[s]! * pEnd[e]! };
    }
    // character offsets from decoding growing prefixes of the context's ids (they index the decoded context, which
    // is the context itself when the tokenizer round-trips it)
    const decoded = tok.decode(body);
    const endOf = (i: number) => (i < 0 ? 0 : tok.decode(body.slice(0, i + 1)).length);
    let start = endOf(best.s - 1);
    const end = endOf(best.e);
    while (start < end && /\s/.test(decoded[start]!)) start++;
    return { answer: decoded.slice(start, end), score: best.score, start, end };
  };
}

/** Loads the model (the head the task needs) and tokenizer of a folder into the task's pipeline, as transformers' pipeline(). */
export async function pipeline<T extends PipelineTask>(task: T, source: string, options: FromPretrainedOptions = {}): Promise<PipelineByTask[T]> {
  if (!TASKS.includes(task)) throw new Error(`pipeline: unknown task '${String(task)}'; tasks: ${TASKS.join(', ')}`);
  const build = async <M>(model: Promise<M>, call: (m: M, t: PreTrainedTokenizer) => unknown) => {
    const [m, t] = await Promise.all([model, AutoTokenizer.fromPretrained(source)]);
    return Object.assign(call(m, t) as object, { task, model: m, tokenizer: t }) as PipelineByTask[T];
  };
  switch (task) {
    case 'text-generation': return build(NemotronForCausalLM.fromPretrained(source, options), textGeneration);
    case 'text-classification': return build(NemotronForSequenceClassification.fromPretrained(source, options), textClassification);
    case 'token-classification': return build(NemotronForTokenClassification.fromPretrained(source, options), tokenClassification);
    case 'question-answering': return build(NemotronForQuestionAnswering.fromPretrained(source, options), questionAnswering);
    default: throw new Error(`pipeline: unknown task '${String(task)}'`);
  }
}
