// NemotronModel: embeddings, decoder layers and the final LayerNorm1P, as transformers' NemotronModel.
import { arange, tensor, type DType, type Tensor } from '@tensorzoo/tensor';
import { Embedding, Module, ModuleList, type LayerOptions } from '@tensorzoo/nn';
import { DynamicCache } from './cache.js';
import type { NemotronConfig } from './config.js';
import { checkTokenIds, toIntTensor, type IntInput } from './inputs.js';
import { NemotronDecoderLayer, NemotronLayerNorm1P } from './layers.js';
import { NemotronRotaryEmbedding } from './rotary.js';
import { loadPretrained, savePretrained, type FromPretrainedOptions, type LoadingInfo } from './pretrained.js';

/** What HF adds for a hidden key: torch.finfo(float32).min, not -inf, so fully masked rows stay finite. */
export const MASK_MIN = -3.4028234663852886e38;

/** Inputs of every Nemotron forward (heads add their labels). */
export interface NemotronInputs {
  inputIds: IntInput;
  /** [batch, past + seq]: 1 = attend, 0 = padding. */
  attentionMask?: IntInput | null;
  /** [batch, seq]; default past..past+seq-1 on every row (even with left padding, as HF). */
  positionIds?: IntInput | null;
  pastKeyValues?: DynamicCache | null;
  useCache?: boolean;
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}

/** transformers' BaseModelOutputWithPast, camelCased. */
export interface BaseModelOutput {
  lastHiddenState: Tensor;
  /** L + 1 entries: embeddings, layer outputs 1..L-1, and the final-norm output. */
  hiddenStates?: Tensor[];
  /** L entries of [batch, heads, seq, past + seq]. */
  attentions?: Tensor[];
  pastKeyValues?: DynamicCache;
}

/**
 * The additive mask [b, 1, s, past + s] of HF's eager attention: MASK_MIN where key j is in the future of query i
 * or is padding, else 0. Null when nothing is hidden.
 */
export function buildCausalMask(batch: number, seq: number, past: number, attentionMask: Tensor | null): Tensor | null {
  const total = past + seq;
  const am = attentionMask?.dataSync();
  if (am && am.length !== batch * total) throw new Error(`attention_mask: expected shape [${batch},${total}], got [${attentionMask!.shape.join(',')}]`);
  const hidden = (b: number, i: number, j: number) => j > past + i || (am !== undefined && am[b * total + j] === 0);
  let any = false;
  const m = new Float32Array(batch * seq * total);
  for (let b = 0; b < batch; b++) for (let i = 0; i < seq; i++) for (let j = 0; j < total; j++) {
    if (hidden(b, i, j)) {
      m[(b * seq + i) * total + j] = MASK_MIN;
      any = true;
    }
  }
  return any ? tensor(m, { shape: [batch, 1, seq, total] }) : null;
}

/** The bare decoder: token ids to final hidden states. */
export class NemotronModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<NemotronDecoderLayer>;
  readonly norm: NemotronLayerNorm1P;
  readonly rotary_emb: NemotronRotaryEmbedding;

  constructor(readonly config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    const pad = config.pad_token_id ?? undefined;
    this.embed_tokens = this.registerModule('embed_tokens', new Embedding(config.vocab_size, config.hidden_size, { ...opts, paddingIdx: pad }));
    this.layers = this.registerModule('layers', new ModuleList(Array.from({ length: config.num_hidden_layers }, () => new NemotronDecoderLayer(config, opts))));
    this.norm = this.registerModule('norm', new NemotronLayerNorm1P(config.hidden_size, config.norm_eps, opts));
    this.rotary_emb = new NemotronRotaryEmbedding(config);
  }

  /** Loads a bare-model checkpoint folder (or the backbone of a head checkpoint). */
  static fromPretrained(dir: string, opts: FromPretrainedOptions = {}): Promise<NemotronModel & { loadingInfo: LoadingInfo }> {
    return loadPretrained(NemotronModel, dir, opts);
  }

  /** Writes config.json and model.safetensors (optionally cast to `dtype`), as HF's save_pretrained. */
  savePretrained(dir: string, opts: { dtype?: DType } = {}): Promise<void> {
    return savePretrained(this, dir, opts);
  }

  /** Runs the decoder; see NemotronInputs. */
  forward(inputs: NemotronInputs): BaseModelOutput {
    const device = this.embed_tokens.weight.device;
    const hostIds = toIntTensor('input_ids', inputs.inputIds, 2);
    checkTokenIds(hostIds, this.config.vocab_size);
    const ids = hostIds.device === device ? hostIds : hostIds.to(device);
    const [b, s] = ids.shape as [number, number];
    const useCache = inputs.useCache ?? false;
    const cache = inputs.pastKeyValues ?? (useCache ? new DynamicCache(this.config.num_hidden_layers) : null);
    const past = cache?.getSeqLength() ?? 0;
    const positionIds = inputs.positionIds != null ? toIntTensor('position_ids', inputs.positionIds, 2, device) : arange(past, past + s, 1, { device }).unsqueeze(0).expand(b, s);
    if (positionIds.shape[0] !== b && positionIds.shape[0] !== 1) throw new Error(`position_ids: batch ${positionIds.shape[0]} does not match input_ids batch ${b}`);
    if (positionIds.shape[1] !== s) throw new Error(`position_ids: length ${positionIds.shape[1]} does not match input_ids length ${s}`);
    const am = inputs.attentionMask != null ? toIntTensor('attention_mask', inputs.attentionMask, 2) : null;
    if (am && am.device !== 'cpu') throw new Error('attention_mask: pass it as a CPU tensor or nested arrays (the mask is built on the host)');
    const hostMask = buildCausalMask(b, s, past, am);
    const mask = hostMask && hostMask.device !== device ? hostMask.to(device) : hostMask;
    const { cos, sin } = this.rotary_emb.forward(positionIds);

    let h = this.embed_tokens.forward(ids);
    const hiddenStates: Tensor[] = [];
    const attentions: Tensor[] = [];
    let i = 0;
    for (const layer of this.layers) {
      if (inputs.outputHiddenStates) hiddenStates.push(h);
      const r = layer.forward(h, cos, sin, mask, cache?.layers[i] ?? null);
      if (cache) cache.layers[i] = r.present;
      if (inputs.outputAttentions) attentions.push(r.weights);
      h = r.hidden;
      i++;
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
