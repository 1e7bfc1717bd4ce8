// Nemotron's model classes as transformers' modeling_nemotron.py (v4.56): NemotronPreTrainedModel, the bare
// NemotronModel, and the four heads with Hugging Face's losses and pooling. The building blocks above them in
// that file live beside this one (layers-nemotron.ts, rotary-nemotron.ts).
import { arange, argmax, gather, isGradEnabled, mul, ne, tensor, tidy, type Tensor } from '@tensorzoo/tensor';
import { Embedding, Linear, ModuleList, type LayerOptions } from '@tensorzoo/nn';
import { DynamicCache } from '../../cache-utils.js';
import { generate, streamGenerate, type GenerateOptions, type GenerationStep } from '../../generation/utils.js';
import { checkTokenIds, toIntTensor, type DecoderInputs, type IntInput } from '../../inputs.js';
import { causalLmLoss, questionAnsweringLoss, sequenceClassificationLoss, tokenClassificationLoss, type LabelInput } from '../../loss-utils.js';
import { buildCausalMask } from '../../modeling-attn-mask-utils.js';
import { passedOn, type BaseModelOutput, type HeadOutput, type QAOutput } from '../../modeling-outputs.js';
import { PreTrainedModel } from '../../modeling-utils.js';
import { NemotronConfig } from './configuration-nemotron.js';
import { NemotronDecoderLayer, NemotronLayerNorm1P } from './layers-nemotron.js';
import { NemotronRotaryEmbedding } from './rotary-nemotron.js';

/** Inputs of every Nemotron forward (heads add their labels). */
export type NemotronInputs = DecoderInputs;

/** What every Nemotron class shares: its config class, backbone prefixes and the backbone's type. */
export abstract class NemotronPreTrainedModel extends PreTrainedModel<NemotronConfig> {
  static readonly configClass = NemotronConfig;
  static override readonly basePrefixes: readonly string[] = ['model', 'transformer'];
  static override readonly headPrefixes: readonly string[] = ['lm_head.', 'score.', 'qa_outputs.'];
  /** The checkpoint prefix of the backbone ('model', or 'transformer' for question answering). */
  readonly basePrefix: string = 'model';
  abstract override get baseModel(): NemotronModel;
}

/** The bare decoder: token ids to final hidden states. */
export class NemotronModel extends NemotronPreTrainedModel {
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<NemotronDecoderLayer>;
  readonly norm: NemotronLayerNorm1P;
  readonly rotary_emb: NemotronRotaryEmbedding;

  constructor(readonly config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    const pad = config.pad_token_id ?? undefined;
    this.embed_tokens = this.registerModule('embed_tokens', new Embedding(config.vocab_size, config.hidden_size, { ...opts, paddingIdx: pad }));
    this.layers = this.registerModule('layers', new ModuleList(Array.from({ length: config.num_hidden_layers }, (_, i) => new NemotronDecoderLayer(config, i, opts))));
    this.norm = this.registerModule('norm', new NemotronLayerNorm1P(config.hidden_size, config.norm_eps, opts));
    this.rotary_emb = new NemotronRotaryEmbedding(config);
  }

  /** The bare model is its own backbone. */
  get baseModel(): NemotronModel {
    return this;
  }

  /** Runs the decoder; see NemotronInputs. */
  forward(inputs: NemotronInputs): BaseModelOutput {
    const device = this.embed_tokens.weight.device;
    const given = toIntTensor('input_ids', inputs.inputIds, 2);
    checkTokenIds(given, this.config.vocab_size);
    const ids = given.device === device ? given : given.to(device);
    const [b, s] = ids.shape as [number, number];
    const useCache = inputs.useCache ?? false;
    const cache = inputs.pastKeyValues ?? (useCache ? new DynamicCache(this.config.num_hidden_layers) : null);
    const past = cache?.getSeqLength() ?? 0;
    const positionIds = inputs.positionIds != null ? toIntTensor('position_ids', inputs.positionIds, 2, device) : null;
    if (positionIds && positionIds.shape[0] !== b && positionIds.shape[0] !== 1) throw new Error(`position_ids: batch ${positionIds.shape[0]} does not match input_ids batch ${b}`);
    if (positionIds && positionIds.shape[1] !== s) throw new Error(`position_ids: length ${positionIds.shape[1]} does not match input_ids length ${s}`);
    const am = inputs.attentionMask != null ? toIntTensor('attention_mask', inputs.attentionMask, 2, device) : null;
    // As transformers' sdpa attention: no mask tensor where it would hide only the future of a prompt with nothing
    // cached before it; the attention then runs with isCausal. Padding, keys cached before the prompt and eager
    // attention (outputAttentions) take the additive mask (the fused kernel adds it where the device has one).
    const causalOnly = !am && past === 0 && !inputs.outputAttentions;
    const mask = causalOnly ? null : buildCausalMask(b, s, past, am, device);
    // default positions past .. past + s - 1: the rotary table's rows, the same values forward() computes
    const { cos, sin } = positionIds ? this.rotary_emb.forward(positionIds) : this.rotary_emb.range(past, s, b, device);

    let h = this.embed_tokens.forward(ids);
    const hiddenStates: Tensor[] = [];
    const attentions: Tensor[] = [];
    for (const layer of this.layers) {
      if (inputs.outputHiddenStates) hiddenStates.push(h);
      const run = () => layer.forward(h, cos, sin, mask, cache, inputs.outputAttentions ?? false);
      // Without autograd each layer is its own memory scope (keeping its outputs and the cache), so a long prompt's
      // activations are let go layer by layer rather than all at the end of the forward (1.4 GB at Minitron-4B's size).
      const r = isGradEnabled() ? run() : tidy(() => [run(), cache?.layers] as const)[0];
      if (r.weights) attentions.push(r.weights);
      h = r.hidden;
    }
    h = this.norm.forward(h);
    if (inputs.outputHiddenStates) hiddenStates.push(h);
    return {
      lastHiddenState: h,
      ...(inputs.outputHiddenStates ? { hiddenStates } : {}),
      ...(inputs.outputAttentions ? { attentions } : {}),
      ...(cache ? { pastKeyValues: cache } : {}),
    };
  }
}

/** Decoder with a vocabulary projection (lm_head), optionally tied to the input embeddings. */
export class NemotronForCausalLM extends NemotronPreTrainedModel {
  readonly model: NemotronModel;
  readonly lm_head: Linear;

  constructor(readonly config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    this.model = this.registerModule('model', new NemotronModel(config, opts));
    const tied = config.tie_word_embeddings ? { weight: this.model.embed_tokens.weight } : {};
    this.lm_head = this.registerModule('lm_head', new Linear(config.hidden_size, config.vocab_size, { ...opts, bias: false, ...tied }));
  }

  get baseModel(): NemotronModel {
    return this.model;
  }

  override canGenerate(): boolean {
    return true;
  }

  override tiedKeys(): string[] {
    return this.config.tie_word_embeddings ? ['lm_head.weight'] : [];
  }

  /** Generates continuations (KV cache; greedy or seeded sampling): the full sequences [batch, prompt + new]. */
  generate(inputIds: IntInput, opts: GenerateOptions = {}): Promise<Tensor> {
    return generate(this, inputIds, opts);
  }

  /** The same as generate() as an async iterator of steps (each row's new token), for streaming. */
  stream(inputIds: IntInput, opts: GenerateOptions = {}): AsyncGenerator<GenerationStep> {
    return streamGenerate(this, inputIds, opts);
  }

  /** logits [b, s, vocab] (of the last logitsToKeep positions when > 0); loss when labels [b, s] are given (unshifted). */
  forward(inputs: NemotronInputs & { labels?: IntInput | null; logitsToKeep?: number }): HeadOutput {
    const out = this.model.forward(inputs);
    const keep = inputs.logitsToKeep ?? 0;
    const h = out.lastHiddenState;
    const s = h.shape[1]!;
    const logits = this.lm_head.forward(keep > 0 && keep < s ? h.narrow(1, s - keep, keep) : h);
    const loss = inputs.labels != null ? causalLmLoss(logits, toIntTensor('labels', inputs.labels, 2, logits.device)) : undefined;
    return { ...(loss ? { loss } : {}), logits, ...passedOn(out) };
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

/** Sequence classification pooled at the last non-pad token, with HF's regression / single / multi-label losses. */
export class NemotronForSequenceClassification extends NemotronPreTrainedModel {
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
    return { ...(loss ? { loss } : {}), logits, ...passedOn(out) };
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
    return sequenceClassificationLoss(logits, labels, this.config);
  }
}

/** Per-token classification (score has a bias), cross entropy with ignore index -100. */
export class NemotronForTokenClassification extends NemotronPreTrainedModel {
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
    const loss = inputs.labels != null ? tokenClassificationLoss(logits, inputs.labels) : undefined;
    return { ...(loss ? { loss } : {}), logits, ...passedOn(out) };
  }
}

/** Span extraction: start/end logits per token; the backbone is named 'transformer' as in HF. */
export class NemotronForQuestionAnswering extends NemotronPreTrainedModel {
  override readonly basePrefix = 'transformer';
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
    const loss = inputs.startPositions != null && inputs.endPositions != null ? questionAnsweringLoss(startLogits, endLogits, inputs.startPositions, inputs.endPositions) : undefined;
    return { ...(loss ? { loss } : {}), startLogits, endLogits, ...passedOn(out) };
  }
}
