// Which modules an adapter touches, by qualified name, with PEFT's rules (tuners/tuners_utils.py:
// check_target_module_exists, _maybe_include_all_linear_layers; utils/other.py: get_pattern_key).
import { Linear, type Module } from '@tensorzoo/nn';
import type { LoraConfig } from './config.js';

/** A Python-style re.fullmatch of a pattern against the whole name. */
function fullMatch(pattern: string, key: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(key);
}

/** Whether `key` names a module that `target` selects: a name list matches exactly or as a '.'-suffix; a string is a regex. */
export function checkTargetModuleExists(target: string[] | string, key: string): boolean {
  if (typeof target === 'string') return fullMatch(target, key);
  return target.some((t) => key === t || key.endsWith(`.${t}`));
}

/** Whether `key` is one of (or inside) the modules_to_save, matched as PEFT does: by name suffix. */
export function isModuleToSave(modulesToSave: readonly string[] | null, key: string): boolean {
  return (modulesToSave ?? []).some((m) => key === m || key.endsWith(`.${m}`));
}

/** 'all-linear' resolved: the last name part of every Linear but the output layer (lm_head). */
export function allLinearTargets(model: Module): string[] {
  const names = new Set<string>();
  for (const [name, m] of model.namedModules()) if (m instanceof Linear && name !== '') names.add(name.split('.').pop()!);
  names.delete('lm_head');
  return [...names];
}

/** The rank and alpha for one module: rank_pattern / alpha_pattern entries matched at the end of its name, else the config's. */
export function rankAndAlpha(config: LoraConfig, key: string): { r: number; loraAlpha: number } {
  const pick = (pattern: Record<string, number>, fallback: number) => {
    const hit = Object.keys(pattern).find((p) => new RegExp(`^(.*\\.)?(?:${p})$`).test(key));
    return hit === undefined ? fallback : pattern[hit]!;
  };
  return { r: pick(config.rankPattern, config.r), loraAlpha: pick(config.alphaPattern, config.loraAlpha) };
}
