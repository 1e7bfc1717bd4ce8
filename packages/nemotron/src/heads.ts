// The task heads on top of NemotronModel, with Hugging Face's losses and pooling:
// ForCausalLM, ForSequenceClassification, ForTokenClassification, ForQuestionAnswering.
import {
  arange, argmax, binaryCrossEntropyWithLogits, clamp, crossEntropy, gather, mseLoss, mul, ne, pad, tensor, type DType, type Tensor,
} from '@tensorzoo/tensor';
import { Linear, Module, type LayerOptions } from '@tensorzoo/nn';
import type { NemotronConfig, ProblemType } from './config.js';
import { toIntTensor, type IntInput } from './inputs.js';
import { NemotronModel, type BaseModelOutput, type NemotronInputs } from './model.js';
import { generate, streamGenerate, type GenerateOptions, type GenerationConfig, type GenerationStep } from './generation.js';
import { loadPretrained, savePretrained, type FromPretrainedOptions, type LoadingInfo } from './pretrained.js';

/** Outputs of the heads: HF's ModelOutput fields in camelCase. */
export interface HeadOutput extends Omit<BaseModelOutput, 'lastHiddenState'> {
  loss?: Tensor;
  logits: Tensor;
}

/** Labels: a tensor, or plain arrays (integers for classes; nested floats for multi-label / regression targets). */
export type LabelInput = Tensor | number[] | number[][];

/** Common part of every head: which submodule is the backbone (HF's base_model_prefix). */
export abstract class NemotronPreTrainedModel extends Module {
  /** The checkpoint prefix of the backbone ('model', or 'transformer' for question answering). */
  abstract readonly basePrefix: string;
  abstract readonly config: NemotronConfig;
  /** The backbone. */
  abstract get baseModel(): NemotronModel;
  /** Checkpoint keys that may be absent because they alias another tensor (tied embeddings). */
  tiedKeys(): string[] {
    return [];
  }

  /** Loads `dir` (config.json + model.safetensors or shards) into this class. */
  static fromPretrained<T extends NemotronPreTrainedModel>(
    this: new (config: NemotronConfig, opts: LayerOptions) => T,
    dir: string,
    opts: FromPretrainedOptions = {},
  ): Promise<T & { loadingInfo: LoadingInfo }> {
    return loadPretrained(this, dir, opts);
  }

  /** Writes config.json and model.safetensors (optionally cast to `dtype`), as HF's save_pretrained. */
  savePretrained(dir: string, opts: { dtype?: DType } = {}): Promise<void> {
    return savePretrained(this, dir, opts);
  }
}

function backboneOutputs(o: BaseModelOutput): Omit<BaseModelOutput, 'lastHiddenState'> {
  const { lastHiddenState: _h, ...rest } = o;
  return rest;
}

/** ForCausalLMLoss: logits at t scored against labels[t+1] (the model shifts), ignore -100, mean. */
export function causalLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const V = logits.shape[logits.ndim - 1]!;
  const shifted = pad(labels, [0, 1], { value: -100 }).narrow(-1, 1, labels.shape[labels.ndim - 1]!);
  return crossEntropy(logits.reshape(-1, V), shifted.reshape(-1), { ignoreIndex: -100 });
}

/** Decoder with a vocabulary projection (lm_head), optionally tied to the input embeddings. */
export class NemotronForCausalLM extends NemotronPreTrainedModel {
  readonly basePrefix = 'model';
  readonly model: NemotronModel;
  readonly lm_head: Linear;

  constructor(readonly config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    this.model = this.registerModule('model', new NemotronModel(config, opts));
    const tied = config.tie_word_embeddings ? { weight: this.model.embed_tokens.weight } : {};
    this.lm_head = this.registerModule('lm_head', new Linear(config.hidden_size, config.vocab_size, { ...opts, bias: false, ...tied }));
  }
  /** generation_config.json of the checkpoint, when it has one. */
  generationConfig: GenerationConfig | null = null;

  get baseModel(): NemotronModel {
    return this.model;
  }

  /** Generates continuations (KV cache; greedy or seeded sampling): the full sequences [batch, prompt + new]. */
  generate(inputIds: IntInput, opts: GenerateOptions = {}): Promise<Tensor> {
    return generate(this, inputIds, opts);
  }

  /** The same as generate() as an async iterator of steps (each row's new token), for streaming. */
  stream(inputIds: IntInput, opts: GenerateOptions = {}): AsyncGenerator<GenerationStep> {
    return streamGenerate(this, inputIds, opts);
  }

  override tiedKeys(): string[] {
    return this.config.tie_word_embeddings ? ['lm_head.weight'] : [];
  }

  /** logits [b, s, vocab]; loss when labels [b, s] are given (unshifted). */
  forward(inputs: NemotronInputs & { labels?: IntInput | null }): HeadOutput {
    const out = this.model.forward(inputs);
    const logits = this.lm_head.forward(out.lastHiddenState);
    const loss = inputs.labels != null ? causalLmLoss(logits, toIntTensor('labels', inputs.labels, 2, logits.device)) : undefined;
    return { ...(loss ? { loss } : {}), logits, ...backboneOutputs(out) };
  }
}

/** Index of the rightmost token that is not pad_token_id in each row (0 if none), as HF; the last one without a pad id. */
export function lastNonPadIndex(ids: Tensor, padTokenId: number | null): Tensor {
  const [b, s] = ids.shape as [number, number];
  if (padTokenId === null) {
    if (b > 1) throw new Error('Cannot handle batch sizes > 1 if no padding token is defined (config.pad_token_id is null).');
    return tensor([s - 1], { dtype: 'int32', device: ids.device });
  }
  return argmax(mul(arange(0, s, 1, { device: ids.device }), ne(ids, padTokenId).int()), -1);
}

/** The problem type HF infers: num_labels 1 -> regression, integer labels -> single label, else multi label. */
function problemType(config: NemotronConfig, labels: LabelInput): ProblemType {
  if (config.problem_type) return config.problem_type;
  if (config.num_labels === 1) return 'regression';
  // Plain arrays do not say int or float: a flat list is class ids, a nested [batch, num_labels] list is multi-hot.
  const isInt = Array.isArray(labels) ? !Array.isArray(labels[0]) : labels.dtype === 'int32';
  return isInt ? 'single_label_classification' : 'multi_label_classification';
}

function toLabels(labels: LabelInput, type: ProblemType): Tensor {
  if (!Array.isArray(labels)) return type === 'single_label_classification' ? toIntTensor('labels', labels, labels.ndim) : labels.float();
  return tensor(labels as number[], { dtype: type === 'single_label_classification' ? 'int32' : 'float32' });
}

/** Sequence classification pooled at the last non-pad token, with HF's regression / single / multi-label losses. */
export class NemotronForSequenceClassification extends NemotronPreTrainedModel {
  readonly basePrefix = 'model';
  readonly model: NemotronModel;
  readonly score: Linear;

  constructor(readonly config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    this.model = this.registerModule('model', new NemotronModel(config, opts));
    this.score = this.registerModule('score', new Linear(config.hidden_size, config.num_labels, { ...opts, bias: false }));
  }
  get baseModel(): NemotronModel {
    return this.model;
  }

  /** logits [b, num_labels] pooled; loss when labels are given. */
  forward(inputs: NemotronInputs & { labels?: LabelInput | null }): HeadOutput {
    const out = this.model.forward(inputs);
    const logits = this.poolAndScore(out.lastHiddenState, toIntTensor('input_ids', inputs.inputIds, 2, out.lastHiddenState.device));
    const loss = inputs.labels != null ? this.loss(logits, inputs.labels) : undefined;
    return { ...(loss ? { loss } : {}), logits, ...backboneOutputs(out) };
  }

  /** score() at every position, then each row's last non-pad position: [b, s, hidden] -> [b, num_labels]. */
  poolAndScore(lastHiddenState: Tensor, inputIds: Tensor): Tensor {
    const all = this.score.forward(lastHiddenState); // [b, s, L]
    const idx = lastNonPadIndex(inputIds, this.config.pad_token_id);
    const L = this.config.num_labels;
    return gather(all, 1, idx.reshape(-1, 1, 1).expand(-1, 1, L)).squeeze(1);
  }

  /** HF's ForSequenceClassificationLoss on pooled logits. */
  loss(logits: Tensor, labels: LabelInput): Tensor {
    const type = problemType(this.config, labels);
    const y0 = toLabels(labels, type);
    const y = y0.device === logits.device ? y0 : y0.to(logits.device);
    const L = this.config.num_labels;
    if (type === 'regression') return L === 1 ? mseLoss(logits.squeeze(), y.float().squeeze()) : mseLoss(logits, y.float());
    if (type === 'single_label_classification') return crossEntropy(logits.reshape(-1, L), y.reshape(-1), { ignoreIndex: -100 });
    return binaryCrossEntropyWithLogits(logits, y.float());
  }
}

/** Per-token classification (score has a bias), cross entropy with ignore index -100. */
export class NemotronForTokenClassification extends NemotronPreTrainedModel {
  readonly basePrefix = 'model';
  readonly model: NemotronModel;
  readonly score: Linear;

  constructor(readonly config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    this.model = this.registerModule('model', new NemotronModel(config, opts));
    this.score = this.registerModule('score', new Linear(config.hidden_size, config.num_labels, opts));
  }
  get baseModel(): NemotronModel {
    return this.model;
  }

  /** logits [b, s, num_labels]; loss when labels [b, s] are given. */
  forward(inputs: NemotronInputs & { labels?: IntInput | null }): HeadOutput {
    const out = this.model.forward(inputs);
    const logits = this.score.forward(out.lastHiddenState);
    const L = this.config.num_labels;
    const loss = inputs.labels != null ? crossEntropy(logits.reshape(-1, L), toIntTensor('labels', inputs.labels, 2, logits.device).reshape(-1), { ignoreIndex: -100 }) : undefined;
    return { ...(loss ? { loss } : {}), logits, ...backboneOutputs(out) };
  }
}

/** Outputs of extractive question answering. */
export interface QAOutput extends Omit<BaseModelOutput, 'lastHiddenState'> {
  loss?: Tensor;
  startLogits: Tensor;
  endLogits: Tensor;
}

/** Span extraction: start/end logits per token; the backbone is named 'transformer' as in HF. */
export class NemotronForQuestionAnswering extends NemotronPreTrainedModel {
  readonly basePrefix = 'transformer';
  readonly transformer: NemotronModel;
  readonly qa_outputs: Linear;

  constructor(readonly config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    this.transformer = this.registerModule('transformer', new NemotronModel(config, opts));
    this.qa_outputs = this.registerModule('qa_outputs', new Linear(config.hidden_size, 2, opts));
  }
  get baseModel(): NemotronModel {
    return this.transformer;
  }

  /** start/end logits [b, s]; loss = (CE(start) + CE(end)) / 2 with positions clamped to [0, s] and s ignored. */
  forward(inputs: NemotronInputs & { startPositions?: IntInput | null; endPositions?: IntInput | null }): QAOutput {
    const out = this.transformer.forward(inputs);
    const logits = this.qa_outputs.forward(out.lastHiddenState); // [b, s, 2]
    const startLogits = logits.select(-1, 0).contiguous();
    const endLogits = logits.select(-1, 1).contiguous();
    let loss: Tensor | undefined;
    if (inputs.startPositions != null && inputs.endPositions != null) {
      const s = startLogits.shape[1]!;
      const pos = (x: IntInput, name: string) => {
        const t = toIntTensor(name, x, Array.isArray(x) ? 1 : (x as Tensor).ndim, startLogits.device);
        return clamp(t.ndim > 1 ? t.squeeze(-1) : t, 0, s).int();
      };
      const ce = (l: Tensor, p: Tensor) => crossEntropy(l, p, { ignoreIndex: s });
      loss = ce(startLogits, pos(inputs.startPositions, 'start_positions')).add(ce(endLogits, pos(inputs.endPositions, 'end_positions'))).div(2);
    }
    return { ...(loss ? { loss } : {}), startLogits, endLogits, ...backboneOutputs(out) };
  }
}
