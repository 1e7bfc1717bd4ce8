// Non-finite outputs are an error: a diagnostic forward with every hidden state finds the first module whose output
// went NaN or infinite, and whether that module's own weights already hold such values (a broken checkpoint).
import { noGrad, tidy } from '@tensorzoo/tensor';
import type { NemotronPreTrainedModel } from '../index.js';

/** A model output that is NaN or infinite: a failure of the checkpoint or the arithmetic, exit code 1. */
export class NonFiniteError extends Error {}

/** True when every value of `values` is finite. */
export function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}

async function firstNonFiniteParameter(model: NemotronPreTrainedModel, prefixes: readonly string[]): Promise<string | null> {
  for (const [name, p] of model.namedParameters()) {
    if (prefixes.some((q) => name.startsWith(q)) && !allFinite(await p.data())) return name;
  }
  return null;
}

/**
 * The error for non-finite `what` (e.g. 'logits') computed from `inputIds`: reruns the backbone with its hidden
 * states and names the first module whose output is not finite.
 */
export async function nonFiniteError(command: string, what: string, model: NemotronPreTrainedModel, inputIds: number[][]): Promise<NonFiniteError> {
  const base = model.basePrefix;
  const L = model.config.num_hidden_layers;
  const states = tidy(() => noGrad(() => model.baseModel.forward({ inputIds, outputHiddenStates: true }).hiddenStates!));
  // hiddenStates: embeddings, the outputs of layers 0..L-2, then the final norm applied to layer L-1's output
  const modules: [string, string[]][] = [
    [`${base}.embed_tokens`, [`${base}.embed_tokens.`]],
    ...Array.from({ length: L - 1 }, (_, i): [string, string[]] => [`${base}.layers.${i}`, [`${base}.layers.${i}.`]]),
    [`${base}.layers.${L - 1} or ${base}.norm`, [`${base}.layers.${L - 1}.`, `${base}.norm.`]],
  ];
  let bad = -1;
  for (let i = 0; i < states.length && bad < 0; i++) if (!allFinite(await states[i]!.data())) bad = i;
  for (const h of states) h.dispose();
  const [where, prefixes] = bad < 0 ? ['the head (its input is finite)', ['lm_head.', 'score.', 'qa_outputs.']] : [`${modules[bad]![0]} (the first module whose output is not finite)`, modules[bad]![1]];
  const weight = await firstNonFiniteParameter(model, prefixes);
  const why = weight ? `; the checkpoint's ${weight} holds NaN or infinite values` : '';
  return new NonFiniteError(`${command}: the model's ${what} are not finite (NaN or infinite), from ${where}${why}`);
}
