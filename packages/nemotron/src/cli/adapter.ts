// The --adapter option: a PEFT LoRA folder applied to a loaded model and merged in (generation then costs what
// the base model's does).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME, PeftModel, type ForwardModule } from '../index.js';
import { UsageError, type OptionSpec } from './args.js';

/** The option spec shared by the commands that take an adapter. */
export const ADAPTER: OptionSpec = { type: 'string', arg: 'DIR', help: `a LoRA adapter folder (PEFT's ${ADAPTER_CONFIG_NAME} + ${ADAPTER_SAFE_WEIGHTS_NAME}) to apply` };

/** The model with the adapter in `dir` merged in; the model itself when no adapter is given. */
export async function withAdapter<M extends ForwardModule>(command: string, model: M, dir: string | undefined): Promise<M> {
  if (dir === undefined) return model;
  const missing = [ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME].filter((f) => !existsSync(join(dir, f)));
  if (missing.length) throw new UsageError(`${command}: --adapter ${dir} is not a LoRA adapter folder (${missing.join(', ')} not found)`);
  try {
    return (await PeftModel.fromPretrained(model, dir)).mergeAndUnload();
  } catch (e) {
    throw new UsageError(`${command}: cannot apply the adapter in ${dir}: ${(e as Error).message}`);
  }
}
