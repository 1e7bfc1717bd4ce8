// PEFT's PeftModel (peft_model.py) and get_peft_model (mapping_func.py): the model wrapped as base_model.model, so
// state dict keys read base_model.model.<the model's own names>, with save_pretrained / from_pretrained of
// adapter_config.json + adapter_model.safetensors. The wrapped model is adapted in place: calling it directly
// (or generate() on it) runs with the adapter.
import { Generator, openSafetensors, saveSafetensors, type Tensor } from '@tensorzoo/tensor';
import { Module } from '@tensorzoo/nn';
import { joinPath, modelSource, readJsonFile, type ModelSourceLike } from '@tensorzoo/tokenizer';
import { makeDir, writeJson } from '#fs';
import { ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME, loraConfig, loraConfigFromDict, loraConfigToDict, type LoraConfig } from './config.js';
import { LoraModel } from './lora-model.js';
import { getPeftModelStateDict, setPeftModelStateDict, type AdapterHolder } from './save-and-load.js';

/** Any module with a forward (every model of the zoo). */
export type ForwardModule = Module & { forward(...args: never[]): unknown };

/** Options of getPeftModel / PeftModel.fromPretrained. */
export interface PeftModelOptions {
  /** The adapter's name in memory (PEFT's 'default'; files never hold it). */
  adapterName?: string;
  /** Source of the adapter's initial values (the default generator otherwise). */
  generator?: Generator;
}

/** The head class names PEFT's PeftModelForSequenceClassification saves in full unless told otherwise. */
const CLASSIFIER_MODULE_NAMES = ['classifier', 'score'];

/** A model with a LoRA adapter. */
export class PeftModel<M extends ForwardModule = ForwardModule> extends Module implements AdapterHolder {
  readonly base_model: LoraModel<M>;
  readonly adapterName: string;

  constructor(model: M, readonly peftConfig: LoraConfig, opts: PeftModelOptions = {}) {
    super();
    this.adapterName = opts.adapterName ?? 'default';
    this.base_model = this.registerModule('base_model', new LoraModel(model, peftConfig, this.adapterName, { generator: opts.generator }));
  }

  /** The adapted model (what forward runs). */
  getBaseModel(): M {
    return this.base_model.model;
  }

  /** The adapted model's forward. */
  forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    return (this.base_model.model.forward as (...a: unknown[]) => ReturnType<M['forward']>)(...args);
  }

  /** Where the modules_to_save wrappers sit, e.g. 'base_model.model.score'. */
  savedModuleNames(): string[] {
    return this.base_model.savedModules().map(([n]) => `base_model.model.${n}`);
  }

  /** The adapter's tensors under PEFT's file names. */
  adapterStateDict(): Map<string, Tensor> {
    return getPeftModelStateDict(this);
  }

  /** Trainable and total parameter counts (PEFT's get_nb_trainable_parameters). */
  getNbTrainableParameters(): { trainable: number; total: number } {
    return { trainable: this.numParameters(true), total: this.numParameters() };
  }

  /** Writes dir/adapter_config.json and dir/adapter_model.safetensors as PEFT's save_pretrained. */
  async savePretrained(dir: string): Promise<void> {
    await makeDir(dir);
    await saveSafetensors(joinPath(dir, ADAPTER_SAFE_WEIGHTS_NAME), this.adapterStateDict(), { format: 'pt' });
    // PEFT writes the config as used for inference
    await writeJson(joinPath(dir, ADAPTER_CONFIG_NAME), loraConfigToDict({ ...this.peftConfig, inferenceMode: true }));
  }

  /** savePretrained, named as the rest of this API (applyLora, saveAdapter, loadAdapter). */
  saveAdapter(dir: string): Promise<void> {
    return this.savePretrained(dir);
  }

  /** Merges every update into its base weight and returns the plain model (PEFT's merge_and_unload). */
  mergeAndUnload(): M {
    return this.base_model.unloadAndOptionallyMerge(true);
  }

  /** Removes the LoRA layers without merging and returns the plain model (PEFT's unload). */
  unload(): M {
    return this.base_model.unloadAndOptionallyMerge(false);
  }

  /**
   * Loads an adapter (adapter_config.json + adapter_model.safetensors, as PEFT writes them) onto `model`, from a folder,
   * a URL or a set of files. The result is in eval mode and frozen unless `isTrainable`.
   */
  static async fromPretrained<M extends ForwardModule>(model: M, dir: ModelSourceLike, opts: PeftModelOptions & { isTrainable?: boolean } = {}): Promise<PeftModel<M>> {
    const src = modelSource(dir);
    const configPath = src.describe(ADAPTER_CONFIG_NAME);
    const weightsPath = src.describe(ADAPTER_SAFE_WEIGHTS_NAME);
    const where = typeof dir === 'string' ? dir : String(dir instanceof URL ? dir : 'the given files');
    for (const f of [ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME]) if ((await src.size(f)) === null) throw new Error(`no LoRA adapter in ${where} (${f} not found)`);
    const config = loraConfigFromDict(await readJsonFile(src, ADAPTER_CONFIG_NAME), configPath);
    const peft = new PeftModel(model, { ...config, inferenceMode: !opts.isTrainable }, opts);
    const file = await openSafetensors(await src.open(ADAPTER_SAFE_WEIGHTS_NAME));
    try {
      const tensors = new Map<string, Tensor>();
      for (const n of file.names) tensors.set(n, await file.get(n));
      setPeftModelStateDict(peft, tensors, weightsPath);
    } catch (e) {
      peft.base_model.restoreOriginalModules(); // a file that does not fit leaves the model as it was
      throw e;
    } finally {
      await file.close();
    }
    if (!opts.isTrainable) {
      peft.requiresGrad_(false);
      peft.eval();
    }
    return peft;
  }
}

/** Wraps a model with a new LoRA adapter, as PEFT's get_peft_model (for SEQ_CLS, 'classifier' and 'score' are saved in full). */
export function getPeftModel<M extends ForwardModule>(model: M, config: LoraConfig, opts: PeftModelOptions = {}): PeftModel<M> {
  let c = config;
  if (c.taskType === 'SEQ_CLS') c = { ...c, modulesToSave: [...new Set([...(c.modulesToSave ?? []), ...CLASSIFIER_MODULE_NAMES])] };
  return new PeftModel(model, c, opts);
}

/** LoRA options by their camelCase names; the rest of LoraConfig takes PEFT's defaults. */
export type LoraOptions = Partial<Omit<LoraConfig, 'peftType' | 'extra'>> & { generator?: Generator; adapterName?: string };

/** getPeftModel with a LoRA config built from options: applyLora(model, { r: 8, loraAlpha: 16, targetModules: ['q_proj', 'v_proj'] }). */
export function applyLora<M extends ForwardModule>(model: M, options: LoraOptions): PeftModel<M> {
  const { generator, adapterName, ...fields } = options;
  return getPeftModel(model, loraConfig(fields), { generator, adapterName });
}

/**
 * Loads a PEFT adapter folder onto a model, ready to train further or to take gradients of (PeftModel.fromPretrained
 * with isTrainable defaulting to true; the model's train/eval mode is left as it was).
 */
export function loadAdapter<M extends ForwardModule>(model: M, dir: string, opts: PeftModelOptions & { isTrainable?: boolean } = {}): Promise<PeftModel<M>> {
  return PeftModel.fromPretrained(model, dir, { isTrainable: true, ...opts });
}
