// Nemotron's building blocks, one class per class of transformers' modeling_nemotron.py: LayerNorm1P, MLP,
// attention, decoder layer. Module and parameter names are the checkpoint's (snake_case), so paths read like the
// state dict keys.
import { add, isGradEnabled, keep, layerNorm, matmul, noGrad, repeatHeads, scaledDotProductAttention, softmax, tidy, type Storage, type Tensor } from '@tensorzoo/tensor';
import { getActivation, LayerNorm, Linear, Module, type LayerOptions } from '@tensorzoo/nn';
import type { DynamicCache } from '../../cache-utils.js';
import type { NemotronConfig } from './configuration-nemotron.js';
import { applyRotaryPosEmb } from './rotary-nemotron.js';

/**
 * weight + 1 and the bias in a norm's compute dtype (the weight's dtype), and the parameter state they were made from;
 * the bias is the parameter itself when it has that dtype already, else a copy freed with the fold.
 */
interface Folded {
  weight: Tensor;
  bias: Tensor | null;
  from: readonly [Tensor, Storage, number, Tensor | null, Storage | null, number];
}

/** LayerNorm whose stored weight is gamma - 1: y = norm(x) * (weight + 1) + bias. */
export class NemotronLayerNorm1P extends LayerNorm {
  /**
   * transformers adds 1 to the weight on every forward, which costs three more ops per norm here (the scalar's tensor,
   * the add, and for bfloat16 parameters the bias's cast): 260 per Minitron-4B token, a third of a small model's ops.
   * They are made once and reused while the parameters' memory and versions (torch's _version, bumped by copy_ and
   * the optimizers) stay the same; not while autograd records a gradient for them, which must flow through the add.
   */
  private folded: Folded | null = null;

  override forward(x: Tensor): Tensor {
    const [w, b] = [this.weight, this.bias];
    if (!w || (isGradEnabled() && (w.requiresGrad || !!b?.requiresGrad))) {
      return layerNorm(x, this.normalizedShape, w ? add(w, 1) : null, b, this.eps);
    }
    const dtype = x.dtype === 'float64' ? 'float64' : 'float32'; // layerNorm's compute dtype for x
    const from = [w, w.storage, w._version, b, b?.storage ?? null, b?._version ?? 0] as const;
    let f = this.folded;
    if (!f || f.weight.dtype !== dtype || f.from.some((v, i) => v !== from[i])) {
      this.releaseFolded();
      // out of every tidy scope: the forward runs inside one per layer, and this outlives it
      f = this.folded = noGrad(() => ({ weight: keep(tidy(() => add(w, 1).to(dtype))), bias: b && b.dtype !== dtype ? keep(b.to(dtype)) : b, from }));
    }
    return layerNorm(x, this.normalizedShape, f.weight, f.bias, this.eps);
  }

  private releaseFolded(): void {
    const f = this.folded;
    if (!f) return;
    f.weight.dispose();
    if (f.bias && f.bias !== f.from[3]) f.bias.dispose();
    this.folded = null;
  }
}

/** up_proj -> act_fn (config.hidden_act, relu^2 for released checkpoints) -> down_proj; no gate. */
export class NemotronMLP extends Module {
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  readonly act_fn: (x: Tensor) => Tensor;
  constructor(config: NemotronConfig, opts: LayerOptions = {}) {
    super();
    const o = { ...opts, bias: config.mlp_bias };
    this.up_proj = this.registerModule('up_proj', new Linear(config.hidden_size, config.intermediate_size, o));
    this.down_proj = this.registerModule('down_proj', new Linear(config.intermediate_size, config.hidden_size, o));
    this.act_fn = getActivation(config.hidden_act);
  }
  /** [b, s, hidden] -> [b, s, hidden] */
  forward(x: Tensor): Tensor {
    return this.down_proj.forward(this.act_fn(this.up_proj.forward(x)));
  }
}

/** Multi-head attention with grouped key/value heads and partial rotary embeddings (HF eager attention). */
export class NemotronAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly scaling: number;

  constructor(readonly config: NemotronConfig, readonly layerIdx: number, opts: LayerOptions = {}) {
    super();
    this.numHeads = config.num_attention_heads;
    this.numKvHeads = config.num_key_value_heads;
    this.headDim = config.head_dim;
    this.scaling = this.headDim ** -0.5;
    const o = { ...opts, bias: config.attention_bias };
    const h = config.hidden_size;
    this.q_proj = this.registerModule('q_proj', new Linear(h, this.numHeads * this.headDim, o));
    this.k_proj = this.registerModule('k_proj', new Linear(h, this.numKvHeads * this.headDim, o));
    this.v_proj = this.registerModule('v_proj', new Linear(h, this.numKvHeads * this.headDim, o));
    this.o_proj = this.registerModule('o_proj', new Linear(this.numHeads * this.headDim, h, o));
  }

  /**
   * hidden [b, s, hidden]; cos/sin [b, s, rotary_dim]; mask additive [b, 1, s, s_total], or null: a single query
   * sees every key, several are causal (query i sees keys 0..i: nothing cached before them). pastKeyValues: the cache,
   * whose layer layerIdx this call extends. With outputAttentions false, scaledDotProductAttention runs (a fused
   * kernel where the device has one; the mask, or isCausal for several queries) and weights is null, as HF's sdpa.
   */
  forward(hidden: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, pastKeyValues: DynamicCache | null, outputAttentions = true): { output: Tensor; weights: Tensor | null } {
    const [b, s] = hidden.shape as [number, number];
    const heads = (x: Tensor, n: number) => x.view(b, s, n, this.headDim).transpose(1, 2); // [b, n, s, head_dim]
    let q = heads(this.q_proj.forward(hidden), this.numHeads);
    let k = heads(this.k_proj.forward(hidden), this.numKvHeads);
    let v = heads(this.v_proj.forward(hidden), this.numKvHeads);
    [q, k] = applyRotaryPosEmb(q, k, cos, sin);
    if (pastKeyValues) ({ key: k, value: v } = pastKeyValues.update(k, v, this.layerIdx));
    if (!outputAttentions) {
      // as transformers' sdpa attention: the additive mask when there is one; without, one query sees every cached key
      // and a prompt with nothing cached before it is causal (top-left)
      const how = mask ? { attnMask: mask } : { isCausal: s > 1 };
      const out = scaledDotProductAttention(q, k, v, { scale: this.scaling, enableGqa: true, ...how }).transpose(1, 2).reshape(b, s, this.numHeads * this.headDim);
      return { output: this.o_proj.forward(out), weights: null };
    }
    const groups = this.numHeads / this.numKvHeads;
    // eager_attention_forward: repeat_kv, q k^T * scaling + mask, softmax in float32, @ v
    let scores = matmul(q, repeatHeads(k, groups).transpose(2, 3)).mul(this.scaling); // [b, heads, s, s_total]
    if (mask) scores = scores.add(mask);
    const weights = softmax(scores, -1);
    const out = matmul(weights, repeatHeads(v, groups)).transpose(1, 2).reshape(b, s, this.numHeads * this.headDim);
    return { output: this.o_proj.forward(out), weights };
  }
}

/** Pre-norm decoder layer: h += attn(LN1(h)); h += mlp(LN2(h)). */
export class NemotronDecoderLayer extends Module {
  readonly self_attn: NemotronAttention;
  readonly mlp: NemotronMLP;
  readonly input_layernorm: NemotronLayerNorm1P;
  readonly post_attention_layernorm: NemotronLayerNorm1P;

  constructor(config: NemotronConfig, layerIdx: number, opts: LayerOptions = {}) {
    super();
    this.self_attn = this.registerModule('self_attn', new NemotronAttention(config, layerIdx, opts));
    this.mlp = this.registerModule('mlp', new NemotronMLP(config, opts));
    this.input_layernorm = this.registerModule('input_layernorm', new NemotronLayerNorm1P(config.hidden_size, config.norm_eps, opts));
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', new NemotronLayerNorm1P(config.hidden_size, config.norm_eps, opts));
  }

  /** hidden [b, s, hidden] -> same, with this layer's attention weights (the cache, when given, is extended). */
  forward(hidden: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, pastKeyValues: DynamicCache | null, outputAttentions = true): { hidden: Tensor; weights: Tensor | null } {
    const attn = this.self_attn.forward(this.input_layernorm.forward(hidden), cos, sin, mask, pastKeyValues, outputAttentions);
    const h = hidden.add(attn.output);
    return { hidden: h.add(this.mlp.forward(this.post_attention_layernorm.forward(h))), weights: attn.weights };
  }
}

