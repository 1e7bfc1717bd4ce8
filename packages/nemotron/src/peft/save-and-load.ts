// The adapter's tensors under PEFT's on-disk names (utils/save_and_load.py): get_peft_model_state_dict keeps the
// lora_ tensors and the modules_to_save copies and drops the adapter name; set_peft_model_state_dict puts it back.
import type { Tensor } from '@tensorzoo/tensor';
import type { Module } from '@tensorzoo/nn';

/** What the name rules need of a PeftModel: its state dict and where its modules_to_save wrappers sit. */
export interface AdapterHolder extends Module {
  readonly adapterName: string;
  /** Qualified names (from the PeftModel, e.g. 'base_model.model.score') of the modules_to_save wrappers. */
  savedModuleNames(): string[];
}

/** The tensors PEFT saves for an adapter (bias 'none'), by their file names, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight. */
export function getPeftModelStateDict(model: AdapterHolder): Map<string, Tensor> {
  const state = model.stateDict();
  const name = model.adapterName;
  const out = new Map<string, Tensor>();
  for (const [k, v] of state) if (k.includes('lora_')) out.set(k, v);
  for (const w of model.savedModuleNames()) {
    const prefix = `${w}.modules_to_save.${name}.`;
    for (const [k, v] of state) if (k.startsWith(prefix)) out.set(`${w}.${k.slice(prefix.length)}`, v);
  }
  // PEFT's k.replace(f".{adapter_name}", ""): every occurrence goes
  return new Map([...out].map(([k, v]) => [k.split(`.${name}`).join(''), v]));
}

/** The model's name of a file key: the adapter name put back after lora_A / lora_B, or under a wrapper's modules_to_save. */
function modelKey(key: string, name: string, wrappers: readonly string[]): string | null {
  const at = key.indexOf('lora_');
  if (at >= 0) {
    const suffix = key.slice(at + 'lora_'.length);
    const dot = suffix.indexOf('.');
    // set_peft_model_state_dict: 'q_proj.lora_A.weight' -> 'q_proj.lora_A.default.weight'
    return dot < 0 ? `${key}.${name}` : `${key.slice(0, at + 'lora_'.length + dot)}.${name}${suffix.slice(dot)}`;
  }
  const w = wrappers.find((p) => key.startsWith(`${p}.`));
  return w === undefined ? null : `${w}.modules_to_save.${name}.${key.slice(w.length + 1)}`;
}

/**
 * Loads adapter tensors named as in the file into the model. Every adapter tensor of the model must be given and
 * every given tensor must belong to the adapter; shapes must match. `source` names the file in errors.
 */
export function setPeftModelStateDict(model: AdapterHolder, tensors: Map<string, Tensor>, source: string): void {
  const wrappers = model.savedModuleNames();
  const mapped = new Map<string, Tensor>();
  const unexpected: string[] = [];
  const own = new Set(getPeftModelStateDict(model).keys());
  for (const [k, v] of tensors) {
    const mk = own.has(k) ? modelKey(k, model.adapterName, wrappers) : null;
    if (mk === null) unexpected.push(k);
    else mapped.set(mk, v);
  }
  const missing = [...own].filter((k) => !tensors.has(k));
  const problems = [
    missing.length ? `missing adapter keys: ${missing.join(', ')}` : '',
    unexpected.length ? `unexpected keys (not in this model's adapter): ${unexpected.join(', ')}` : '',
  ].filter(Boolean);
  if (problems.length) throw new Error(`${source} does not match the adapted model:\n  ${problems.join('\n  ')}`);
  model.loadStateDict(mapped, { strict: false });
}
