// NemotronConfig: every field of transformers' NemotronConfig (v4.56) with its default
// (transformers/models/nemotron/configuration_nemotron.py).
import { ACT2FN } from '@tensorzoo/nn';
import { PretrainedConfig, type ConfigJson } from '../../configuration-utils.js';

/** The constructor's fields: any config field (num_labels instead of id2label is accepted too). */
export type NemotronConfigFields = Partial<Omit<NemotronConfig, 'extra' | 'model_type' | 'num_labels' | 'rotary_dim' | 'toDict'>> & { num_labels?: number };

/** Configuration of a Nemotron / Minitron model, parsed and validated. */
export class NemotronConfig extends PretrainedConfig {
  // Older NeMo-converted configs: rope_percent for partial_rotary_factor, kv_channels for head_dim.
  static override readonly keyAliases: Readonly<Record<string, string>> = { ...PretrainedConfig.keyAliases, rope_percent: 'partial_rotary_factor', kv_channels: 'head_dim' };

  readonly model_type = 'nemotron';
  vocab_size = 256000;
  hidden_size = 6144;
  intermediate_size = 24576;
  num_hidden_layers = 32;
  num_attention_heads = 48;
  head_dim: number;
  num_key_value_heads: number;
  /** The MLP activation, by transformers' ACT2FN name. */
  hidden_act = 'relu2';
  max_position_embeddings = 4096;
  override initializer_range = 0.0134;
  norm_eps = 1e-5;
  use_cache = true;
  override bos_token_id: number | null = 2;
  override eos_token_id: number | number[] | null = 3;
  override tie_word_embeddings = false;
  rope_theta = 10000;
  partial_rotary_factor = 0.5;
  attention_bias = false;
  attention_dropout = 0;
  mlp_bias = false;

  constructor(fields: NemotronConfigFields = {}) {
    super();
    const { num_labels, ...rest } = fields;
    Object.assign(this, rest);
    this.head_dim ??= Math.floor(this.hidden_size / this.num_attention_heads);
    this.num_key_value_heads ??= this.num_attention_heads;
    this.initLabels(num_labels);
    this.validate();
  }

  /** Rotated channels per head: int(head_dim * partial_rotary_factor). */
  get rotary_dim(): number {
    return Math.floor(this.head_dim * this.partial_rotary_factor);
  }

  private validate(): void {
    const posInt = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'head_dim', 'num_key_value_heads', 'max_position_embeddings'] as const;
    for (const k of posInt) {
      const v = this[k];
      if (!Number.isInteger(v) || v <= 0) throw new Error(`NemotronConfig: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
    if (this.num_attention_heads % this.num_key_value_heads !== 0) {
      throw new Error(`NemotronConfig: num_attention_heads (${this.num_attention_heads}) must be divisible by num_key_value_heads (${this.num_key_value_heads})`);
    }
    if (!(this.partial_rotary_factor > 0 && this.partial_rotary_factor <= 1)) throw new Error(`NemotronConfig: partial_rotary_factor must be in (0, 1], got ${this.partial_rotary_factor}`);
    if (this.rotary_dim % 2 !== 0) throw new Error(`NemotronConfig: rotary dims int(head_dim * partial_rotary_factor) = ${this.rotary_dim} must be even`);
    if (!(this.rope_theta > 0)) throw new Error(`NemotronConfig: rope_theta must be positive, got ${this.rope_theta}`);
    if (!(this.norm_eps > 0)) throw new Error(`NemotronConfig: norm_eps must be positive, got ${this.norm_eps}`);
    // Checked here, not at the first forward: a checkpoint must never run a different activation than it names.
    if (typeof this.hidden_act !== 'string' || !Object.hasOwn(ACT2FN, this.hidden_act)) {
      throw new Error(`NemotronConfig: hidden_act ${JSON.stringify(this.hidden_act)} is not a supported activation; allowed: ${Object.keys(ACT2FN).join(', ')}`);
    }
    this.validateCommon(this.vocab_size);
  }
}

/** Reads and validates `dir/config.json` as a NemotronConfig, with optional overrides. */
export function loadConfig(dir: string, overrides: ConfigJson = {}): Promise<NemotronConfig> {
  return NemotronConfig.fromPretrained(dir, overrides);
}
