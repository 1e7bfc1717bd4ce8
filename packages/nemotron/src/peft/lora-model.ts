// PEFT's LoraModel (tuners/lora/model.py + BaseTuner.inject_adapter): replaces each targeted Linear of any module
// tree, found by qualified name, with a LoraLinear; wraps modules_to_save; freezes everything else; merges and
// unloads again. Model-agnostic: it only walks namedModules().
import { Generator } from '@tensorzoo/tensor';
import { Linear, LoraLinear, Module } from '@tensorzoo/nn';
import type { LoraConfig } from './config.js';
import { ModulesToSaveWrapper } from './modules-to-save.js';
import { allLinearTargets, checkTargetModuleExists, isModuleToSave, rankAndAlpha } from './tuners-utils.js';

/** A model with LoRA layers injected in place; `model` is the (now adapted) model that was given. */
export class LoraModel<M extends Module = Module> extends Module {
  readonly model: M;

  constructor(model: M, readonly config: LoraConfig, readonly adapterName = 'default', opts: { generator?: Generator } = {}) {
    super();
    this.model = this.registerModule('model', model);
    this.inject(opts.generator);
  }

  private inject(generator: Generator | undefined): void {
    const c = this.config;
    if (c.targetModules === null) throw new Error('LoraModel: target_modules is required (e.g. ["q_proj", "v_proj"] or "all-linear")');
    const targets = c.targetModules === 'all-linear' ? allLinearTargets(this.model) : c.targetModules;
    const all = [...this.model.namedModules()].filter(([name]) => name !== '');
    const toSave: string[] = [];
    const toAdapt: [string, Linear][] = [];
    for (const [name, m] of all) {
      if (isModuleToSave(c.modulesToSave, name)) {
        // only the outermost match is wrapped (its children travel with it)
        if (!toSave.some((s) => name.startsWith(`${s}.`))) toSave.push(name);
        continue;
      }
      if (toSave.some((s) => name.startsWith(`${s}.`)) || !checkTargetModuleExists(targets, name)) continue;
      if (c.excludeModules !== null && checkTargetModuleExists(c.excludeModules, name)) continue;
      if (m instanceof LoraLinear) throw new Error(`LoraModel: '${name}' already has a LoRA adapter`);
      if (!(m instanceof Linear)) {
        throw new Error(`LoraModel: target module '${name}' is a ${m.constructor.name}; only Linear layers can be adapted`);
      }
      toAdapt.push([name, m]);
    }
    if (toAdapt.length === 0) {
      throw new Error(`LoraModel: target modules ${JSON.stringify(c.targetModules)} not found in the base model; its Linear layers are: ${[...new Set(all.filter(([, m]) => m instanceof Linear).map(([n]) => n.split('.').pop()))].join(', ')}`);
    }
    // as PEFT's _set_trainable: names that match nothing are fine (SEQ_CLS adds both 'classifier' and 'score'), none at all is not
    if (c.modulesToSave?.length && toSave.length === 0) throw new Error(`LoraModel: modules_to_save ${JSON.stringify(c.modulesToSave)} not found in the base model`);
    // PEFT's _mark_only_adapters_as_trainable (bias 'none'): everything frozen, then the new layers train
    this.model.requiresGrad_(false);
    for (const [name, m] of toAdapt) {
      const lora = new LoraLinear(m, { ...rankAndAlpha(c, name), loraDropout: c.loraDropout, useRslora: c.useRslora, initLoraWeights: c.initLoraWeights, adapterName: this.adapterName, generator });
      lora.train(m.training); // its lora_dropout follows the layer it replaces
      this.model.setSubmodule(name, lora);
    }
    for (const name of toSave) {
      const original = all.find(([n]) => n === name)![1];
      const wrapper = new ModulesToSaveWrapper(original, this.adapterName, name);
      wrapper.train(original.training);
      this.model.setSubmodule(name, wrapper);
    }
  }

  /** The LoRA layers with their qualified names inside `model`. */
  loraLayers(): [string, LoraLinear][] {
    return [...this.model.namedModules()].filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
  }

  /** The modules_to_save wrappers with their qualified names inside `model`. */
  savedModules(): [string, ModulesToSaveWrapper][] {
    return [...this.model.namedModules()].filter((e): e is [string, ModulesToSaveWrapper] => e[1] instanceof ModulesToSaveWrapper);
  }

  /** Adds every update into its base weight (forward then costs what the base model's does). */
  merge(): void {
    for (const [, l] of this.loraLayers()) l.merge();
  }

  /** Takes merged updates out of the base weights again. */
  unmerge(): void {
    for (const [, l] of this.loraLayers()) l.unmerge();
  }

  /**
   * Puts plain modules back, as PEFT's _unload_and_optionally_merge: each LoraLinear becomes its base layer (with
   * the update merged in when `merge`), each modules_to_save wrapper its trained copy. Returns the model.
   */
  unloadAndOptionallyMerge(merge: boolean): M {
    for (const [name, l] of this.loraLayers()) {
      if (merge) l.merge();
      this.model.setSubmodule(name, l.base_layer);
    }
    for (const [name, w] of this.savedModules()) this.model.setSubmodule(name, w.active);
    return this.model;
  }

  /** Undoes the injection: every original module back in place, its weights untouched (they stay frozen). */
  restoreOriginalModules(): M {
    for (const [name, l] of this.loraLayers()) {
      l.unmerge();
      this.model.setSubmodule(name, l.base_layer);
    }
    for (const [name, w] of this.savedModules()) this.model.setSubmodule(name, w.original_module);
    return this.model;
  }
}
