// LoraConfig as PEFT's tuners/lora/config.py, and its adapter_config.json form (snake_case keys, sorted, as PEFT's
// save_pretrained writes it). Fields this port does not model are kept as read, so a config round-trips.

/** PEFT's TaskType values (the PeftModel subclass a config asks for). */
export type TaskType = 'CAUSAL_LM' | 'SEQ_CLS' | 'TOKEN_CLS' | 'QUESTION_ANS' | 'FEATURE_EXTRACTION' | 'SEQ_2_SEQ_LM';

/** What to train: PEFT's LoraConfig, camelCased. */
export interface LoraConfig {
  peftType: 'LORA';
  taskType: TaskType | null;
  baseModelNameOrPath: string | null;
  /** Rank of the update matrices. */
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /**
   * Modules to adapt: a list of names (a module matches when its qualified name equals one or ends with '.' + one),
   * a regular expression matched against the whole qualified name, or 'all-linear' (every Linear but the output layer).
   */
  targetModules: string[] | string | null;
  /** Modules never adapted, by the same rules as targetModules (PEFT's exclude_modules). */
  excludeModules: string[] | string | null;
  /** Qualified-name suffixes of modules trained in full and saved with the adapter (e.g. a classification head 'score'). */
  modulesToSave: string[] | null;
  useRslora: boolean;
  /** Only 'none' (biases stay frozen and are not saved) is supported. */
  bias: 'none';
  fanInFanOut: false;
  initLoraWeights: boolean;
  /** Per-module rank and alpha overrides: regular expression (matched at the end of the name) -> value. */
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  inferenceMode: boolean;
  /** adapter_config.json fields this port does not model, kept as read. */
  extra: Record<string, unknown>;
}

/** The file names PEFT reads and writes. */
export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_SAFE_WEIGHTS_NAME = 'adapter_model.safetensors';

const TASK_TYPES: readonly TaskType[] = ['CAUSAL_LM', 'SEQ_CLS', 'TOKEN_CLS', 'QUESTION_ANS', 'FEATURE_EXTRACTION', 'SEQ_2_SEQ_LM'];

/** A LoraConfig with PEFT's defaults for every field not given, validated. */
export function loraConfig(fields: Partial<LoraConfig> = {}): LoraConfig {
  const c: LoraConfig = {
    peftType: 'LORA', taskType: null, baseModelNameOrPath: null, r: 8, loraAlpha: 8, loraDropout: 0, targetModules: null, excludeModules: null,
    modulesToSave: null, useRslora: false, bias: 'none', fanInFanOut: false, initLoraWeights: true, rankPattern: {}, alphaPattern: {},
    inferenceMode: false, extra: {},
    // a field given as undefined takes its default, as an omitted one does
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  };
  const bad = (msg: string) => new Error(`LoraConfig: ${msg}`);
  if (c.peftType !== 'LORA') throw bad(`peft_type ${JSON.stringify(c.peftType)} is not supported (only LORA)`);
  if (c.taskType !== null && !TASK_TYPES.includes(c.taskType)) throw bad(`task_type ${JSON.stringify(c.taskType)} is not one of ${TASK_TYPES.join(', ')}`);
  if (!Number.isInteger(c.r) || c.r <= 0) throw bad(`r should be a positive integer, got ${c.r}`);
  if (!Number.isFinite(c.loraAlpha)) throw bad(`lora_alpha should be a finite number, got ${c.loraAlpha}`);
  if (!(c.loraDropout >= 0 && c.loraDropout < 1)) throw bad(`lora_dropout should be in [0, 1), got ${c.loraDropout}`);
  if (c.bias !== 'none') throw bad(`bias ${JSON.stringify(c.bias)} is not supported (only 'none')`);
  const names = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (c.targetModules !== null && typeof c.targetModules !== 'string' && !names(c.targetModules)) throw bad('target_modules should be a list of names or a regular expression');
  if (c.excludeModules !== null && typeof c.excludeModules !== 'string' && !names(c.excludeModules)) throw bad('exclude_modules should be a list of names or a regular expression');
  if (c.modulesToSave !== null && !names(c.modulesToSave)) throw bad('modules_to_save should be a list of names');
  for (const [what, p] of [['rank_pattern', c.rankPattern], ['alpha_pattern', c.alphaPattern]] as const) {
    for (const [k, v] of Object.entries(p)) if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${what}[${JSON.stringify(k)}] should be a number`);
  }
  for (const [k, v] of Object.entries(c.rankPattern)) if (!Number.isInteger(v) || v <= 0) throw bad(`rank_pattern[${JSON.stringify(k)}] should be a positive integer, got ${v}`);
  return c;
}

/** Features of PEFT's LoRA that this port does not implement: a config that turns one on is refused, not ignored. */
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  use_dora: (v) => v === true,
  lora_bias: (v) => v === true,
  layers_to_transform: (v) => v != null,
  layer_replication: (v) => v != null,
  use_qalora: (v) => v === true,
  trainable_token_indices: (v) => v != null,
  target_parameters: (v) => v != null && !(Array.isArray(v) && v.length === 0),
  alora_invocation_tokens: (v) => v != null,
  arrow_config: (v) => v != null,
  use_bdlora: (v) => v != null && v !== false,
};

/** Fields read into LoraConfig's own properties (the rest go to `extra`). */
const MODELLED = new Set([
  'peft_type', 'task_type', 'base_model_name_or_path', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'exclude_modules', 'modules_to_save',
  'use_rslora', 'bias', 'fan_in_fan_out', 'init_lora_weights', 'rank_pattern', 'alpha_pattern', 'inference_mode',
]);

/** Parses adapter_config.json's object; `source` names the file in errors. */
export function loraConfigFromDict(d: Record<string, unknown>, source = 'adapter_config.json'): LoraConfig {
  for (const [k, isOn] of Object.entries(UNSUPPORTED)) if (k in d && isOn(d[k])) throw new Error(`${source}: ${k} = ${JSON.stringify(d[k])} is not supported`);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) if (!MODELLED.has(k)) extra[k] = v;
  const init = d.init_lora_weights;
  try {
    return loraConfig({
      peftType: (d.peft_type ?? 'LORA') as 'LORA',
      taskType: (d.task_type ?? null) as TaskType | null,
      baseModelNameOrPath: (d.base_model_name_or_path ?? null) as string | null,
      r: (d.r ?? 8) as number,
      loraAlpha: (d.lora_alpha ?? 8) as number,
      loraDropout: (d.lora_dropout ?? 0) as number,
      targetModules: (d.target_modules ?? null) as string[] | string | null,
      excludeModules: (d.exclude_modules ?? null) as string[] | string | null,
      modulesToSave: (d.modules_to_save ?? null) as string[] | null,
      useRslora: d.use_rslora === true,
      bias: (d.bias ?? 'none') as 'none',
      // PEFT turns fan_in_fan_out off for torch.nn.Linear targets, the only kind there is here
      fanInFanOut: false,
      // a named init (gaussian, pissa, ...) only matters when creating an adapter; loaded weights replace it
      initLoraWeights: init !== false,
      rankPattern: (d.rank_pattern ?? {}) as Record<string, number>,
      alphaPattern: (d.alpha_pattern ?? {}) as Record<string, number>,
      inferenceMode: d.inference_mode !== false,
      extra: typeof init === 'string' ? { ...extra, init_lora_weights: init } : extra,
    });
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message.replace(/^LoraConfig: /, '')}`);
  }
}

/** The adapter_config.json object PEFT (0.17 to 0.19) writes for this config: every field of its LoraConfig, keys sorted. */
export function loraConfigToDict(c: LoraConfig): Record<string, unknown> {
  const d: Record<string, unknown> = {
    alora_invocation_tokens: null, alpha_pattern: c.alphaPattern, arrow_config: null, auto_mapping: null, base_model_name_or_path: c.baseModelNameOrPath,
    bias: c.bias, corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: c.excludeModules, fan_in_fan_out: c.fanInFanOut,
    inference_mode: c.inferenceMode, init_lora_weights: c.initLoraWeights, layer_replication: null, layers_pattern: null, layers_to_transform: null,
    loftq_config: {}, lora_alpha: c.loraAlpha, lora_bias: false, lora_dropout: c.loraDropout, megatron_config: null, megatron_core: 'megatron.core',
    modules_to_save: c.modulesToSave, peft_type: c.peftType, qalora_group_size: 16, r: c.r, rank_pattern: c.rankPattern, revision: null,
    target_modules: c.targetModules, target_parameters: null, task_type: c.taskType, trainable_token_indices: null, use_dora: false,
    use_qalora: false, use_rslora: c.useRslora,
    ...c.extra,
  };
  return Object.fromEntries(Object.entries(d).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
