// PretrainedConfig: what every model config shares (transformers' configuration_utils.py): token ids, labels,
// tied embeddings, architectures, storage dtype, config.json parsing / writing. A model's config extends it.
// Field names stay snake_case, exactly as in config.json and in Hugging Face's Python.
import { modelSource, readJsonFile, type ModelSourceLike } from '@tensorzoo/tokenizer';

/** How a sequence-classification loss is chosen (inferred from labels when unset). */
export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';

const PROBLEM_TYPES: readonly ProblemType[] = ['regression', 'single_label_classification', 'multi_label_classification'];

/** The JSON object of a config.json (values as parsed). */
export type ConfigJson = Record<string, unknown>;

/** A config class: builds from fields (unset ones take the class defaults) and names its legacy key aliases. */
export interface ConfigClass<C extends PretrainedConfig> {
  new (fields?: never): C;
  readonly name: string;
  readonly keyAliases: Readonly<Record<string, string>>;
}

/** Base of every model configuration; subclasses add their fields, then call initLabels() and validateCommon(). */
export abstract class PretrainedConfig {
  /** config.json keys renamed on load (old name -> current field); subclasses extend the table. */
  static readonly keyAliases: Readonly<Record<string, string>> = { dtype: 'torch_dtype' };

  abstract readonly model_type: string;
  pad_token_id: number | null = null;
  bos_token_id: number | null = null;
  eos_token_id: number | number[] | null = null;
  tie_word_embeddings = true;
  /** Standard deviation of the normal init of fresh weights (HF's _init_weights). */
  initializer_range = 0.02;
  architectures: string[] | null = null;
  /** Storage dtype of the checkpoint's weights (`torch_dtype` before transformers 4.56, `dtype` after). */
  torch_dtype: string | null = null;
  id2label: Record<number, string> = {};
  label2id: Record<string, number> = {};
  problem_type: ProblemType | null = null;
  /** Keys of config.json this class does not model, kept so that saving round-trips them. */
  readonly extra: ConfigJson = {};

  /** Number of labels of the classification heads (entries of id2label, as transformers). */
  get num_labels(): number {
    return Object.keys(this.id2label).length;
  }

  /** Parses a config.json object, accepting the class's key aliases; unknown keys are kept in `extra`. */
  static fromDict<C extends PretrainedConfig>(this: ConfigClass<C>, json: ConfigJson): C {
    return configFromDict(this, json);
  }

  /** Reads and validates config.json (folder, URL or files), with overrides as from_pretrained(..., num_labels=3) (a new head's id2label). */
  static fromPretrained<C extends PretrainedConfig>(this: ConfigClass<C>, source: ModelSourceLike, overrides: ConfigJson = {}): Promise<C> {
    return configFromPretrained(this, source, overrides);
  }

  /** The config.json object (sorted keys, as save_pretrained writes it). */
  toDict(): ConfigJson {
    const out: ConfigJson = { ...this.extra, model_type: this.model_type };
    for (const [k, v] of Object.entries(this)) if (k !== 'extra') out[k] = v;
    out.id2label = Object.fromEntries(Object.entries(this.id2label).map(([i, l]) => [String(i), l]));
    return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
  }

  /** Fills id2label (LABEL_i, `numLabels` of them, default 2) and label2id when the fields left them empty. */
  protected initLabels(numLabels?: number): void {
    if (Object.keys(this.id2label).length === 0) {
      const n = numLabels ?? 2;
      this.id2label = Object.fromEntries(Array.from({ length: n }, (_, i) => [i, `LABEL_${i}`]));
    }
    if (Object.keys(this.label2id).length === 0) this.label2id = Object.fromEntries(Object.entries(this.id2label).map(([i, l]) => [l, Number(i)]));
  }

  /** Checks the shared fields; token ids must lie in [0, vocabSize). */
  protected validateCommon(vocabSize: number): void {
    const name = this.constructor.name;
    for (const k of ['pad_token_id', 'bos_token_id'] as const) {
      const v = this[k];
      if (v !== null && (!Number.isInteger(v) || v < 0 || v >= vocabSize)) throw new Error(`${name}: ${k} ${v} is not a token id in [0, ${vocabSize})`);
    }
    const eos = this.eos_token_id === null ? [] : Array.isArray(this.eos_token_id) ? this.eos_token_id : [this.eos_token_id];
    for (const v of eos) if (!Number.isInteger(v) || v < 0 || v >= vocabSize) throw new Error(`${name}: eos_token_id ${v} is not a token id in [0, ${vocabSize})`);
    if (this.problem_type !== null && !PROBLEM_TYPES.includes(this.problem_type)) {
      throw new Error(`${name}: problem_type must be regression, single_label_classification or multi_label_classification, got '${this.problem_type}'`);
    }
    if (this.num_labels < 1) throw new Error(`${name}: id2label / num_labels must give at least one label`);
  }
}

function configFromDict<C extends PretrainedConfig>(cls: ConfigClass<C>, json: ConfigJson): C {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${cls.name}: config.json must hold a JSON object`);
  const defaults = new cls();
  const j: ConfigJson = { ...json };
  if (j.model_type !== undefined && j.model_type !== defaults.model_type) {
    throw new Error(`${cls.name}: model_type is '${String(j.model_type)}', expected '${defaults.model_type}'`);
  }
  for (const [from, to] of Object.entries(cls.keyAliases)) alias(j, from, to);
  const fields: Record<string, unknown> = {};
  const extra: ConfigJson = {};
  const known = new Set(Object.keys(defaults).filter((k) => k !== 'extra' && k !== 'model_type'));
  for (const [k, v] of Object.entries(j)) {
    if (k === 'model_type' || k === 'transformers_version') continue;
    if (k === 'num_labels') fields.num_labels = v;
    else if (k === 'id2label' && v && typeof v === 'object') fields.id2label = Object.fromEntries(Object.entries(v).map(([i, l]) => [Number(i), String(l)]));
    else if (known.has(k)) fields[k] = v;
    else extra[k] = v;
  }
  const c = new cls(fields as never);
  Object.assign(c.extra, extra);
  return c;
}

/** Reads and validates config.json of a folder, URL or files as class `cls`, with config.json fields overridden by `overrides`. */
export async function configFromPretrained<C extends PretrainedConfig>(cls: ConfigClass<C>, source: ModelSourceLike, overrides: ConfigJson = {}): Promise<C> {
  const src = modelSource(source);
  const path = src.describe('config.json');
  const json = { ...(await readJsonFile(src, 'config.json')), ...overrides };
  if (overrides.id2label && !overrides.label2id) delete json.label2id;
  try {
    return configFromDict(cls, json);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

function alias(j: ConfigJson, from: string, to: string): void {
  if (j[from] === undefined) return;
  if (j[to] === undefined || j[to] === null) j[to] = j[from];
  delete j[from];
}
