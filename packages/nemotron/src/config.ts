// NemotronConfig: every field of transformers' NemotronConfig (v4.56) with its default. Field names stay snake_case,
// exactly as in config.json and in Hugging Face's Python, so the two can be read side by side.

/** How a sequence-classification loss is chosen (inferred from labels when unset). */
export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';

/** The JSON object of a config.json (values as parsed). */
export type ConfigJson = Record<string, unknown>;

/** Configuration of a Nemotron / Minitron model, parsed and validated. */
export class NemotronConfig {
  readonly model_type = 'nemotron';
  vocab_size = 256000;
  hidden_size = 6144;
  intermediate_size = 24576;
  num_hidden_layers = 32;
  num_attention_heads = 48;
  head_dim: number;
  num_key_value_heads: number;
  hidden_act = 'relu2';
  max_position_embeddings = 4096;
  initializer_range = 0.0134;
  norm_eps = 1e-5;
  use_cache = true;
  pad_token_id: number | null = null;
  bos_token_id: number | null = 2;
  eos_token_id: number | number[] | null = 3;
  tie_word_embeddings = false;
  rope_theta = 10000;
  partial_rotary_factor = 0.5;
  attention_bias = false;
  attention_dropout = 0;
  mlp_bias = false;
  architectures: string[] | null = null;
  /** Storage dtype of the checkpoint's weights (`torch_dtype` before transformers 4.56, `dtype` after). */
  torch_dtype: string | null = null;
  id2label: Record<number, string> = {};
  label2id: Record<string, number> = {};
  problem_type: ProblemType | null = null;
  /** Keys of config.json this class does not model, kept so that saving round-trips them. */
  readonly extra: ConfigJson = {};

  constructor(fields: Partial<Omit<NemotronConfig, 'extra' | 'model_type' | 'num_labels'>> & { num_labels?: number } = {}) {
    const { num_labels, ...rest } = fields;
    Object.assign(this, rest);
    this.head_dim ??= Math.floor(this.hidden_size / this.num_attention_heads);
    this.num_key_value_heads ??= this.num_attention_heads;
    if (Object.keys(this.id2label).length === 0) {
      const n = num_labels ?? 2;
      this.id2label = Object.fromEntries(Array.from({ length: n }, (_, i) => [i, `LABEL_${i}`]));
    }
    if (Object.keys(this.label2id).length === 0) this.label2id = Object.fromEntries(Object.entries(this.id2label).map(([i, l]) => [l, Number(i)]));
    this.validate();
  }

  /** Number of labels of the classification heads (entries of id2label, as transformers). */
  get num_labels(): number {
    return Object.keys(this.id2label).length;
  }

  /** Rotated channels per head: int(head_dim * partial_rotary_factor). */
  get rotary_dim(): number {
    return Math.floor(this.head_dim * this.partial_rotary_factor);
  }

  /** Parses a config.json object, accepting the aliases real checkpoints use; unknown keys are kept in `extra`. */
  static fromDict(json: ConfigJson): NemotronConfig {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('NemotronConfig: config.json must hold a JSON object');
    const j: ConfigJson = { ...json };
    if (j.model_type !== undefined && j.model_type !== 'nemotron') throw new Error(`NemotronConfig: model_type is '${String(j.model_type)}', expected 'nemotron'`);
    // Older NeMo-converted configs: rope_percent for partial_rotary_factor, kv_channels for head_dim.
    alias(j, 'rope_percent', 'partial_rotary_factor');
    alias(j, 'kv_channels', 'head_dim');
    alias(j, 'dtype', 'torch_dtype');
    const fields: Record<string, unknown> = {};
    const extra: ConfigJson = {};
    const known = new Set(Object.keys(new NemotronConfig({ hidden_size: 8, num_attention_heads: 1 })).filter((k) => k !== 'extra' && k !== 'model_type'));
    for (const [k, v] of Object.entries(j)) {
      if (k === 'model_type' || k === 'transformers_version') continue;
      if (k === 'num_labels') fields.num_labels = v;
      else if (k === 'id2label' && v && typeof v === 'object') fields.id2label = Object.fromEntries(Object.entries(v).map(([i, l]) => [Number(i), String(l)]));
      else if (known.has(k)) fields[k] = v;
      else extra[k] = v;
    }
    const c = new NemotronConfig(fields as ConstructorParameters<typeof NemotronConfig>[0]);
    Object.assign(c.extra, extra);
    return c;
  }

  /** The config.json object (sorted keys, as save_pretrained writes it). */
  toDict(): ConfigJson {
    const out: ConfigJson = { ...this.extra, model_type: this.model_type };
    for (const [k, v] of Object.entries(this)) if (k !== 'extra') out[k] = v;
    out.id2label = Object.fromEntries(Object.entries(this.id2label).map(([i, l]) => [String(i), l]));
    return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
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
    for (const k of ['pad_token_id', 'bos_token_id'] as const) {
      const v = this[k];
      if (v !== null && (!Number.isInteger(v) || v < 0 || v >= this.vocab_size)) throw new Error(`NemotronConfig: ${k} ${v} is not a token id in [0, ${this.vocab_size})`);
    }
    const eos = this.eos_token_id === null ? [] : Array.isArray(this.eos_token_id) ? this.eos_token_id : [this.eos_token_id];
    for (const v of eos) if (!Number.isInteger(v) || v < 0 || v >= this.vocab_size) throw new Error(`NemotronConfig: eos_token_id ${v} is not a token id in [0, ${this.vocab_size})`);
    if (this.problem_type !== null && !['regression', 'single_label_classification', 'multi_label_classification'].includes(this.problem_type)) {
      throw new Error(`NemotronConfig: problem_type must be regression, single_label_classification or multi_label_classification, got '${this.problem_type}'`);
    }
    if (this.num_labels < 1) throw new Error('NemotronConfig: id2label / num_labels must give at least one label');
  }
}

function alias(j: ConfigJson, from: string, to: string): void {
  if (j[from] === undefined) return;
  if (j[to] === undefined || j[to] === null) j[to] = j[from];
  delete j[from];
}
