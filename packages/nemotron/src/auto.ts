// AutoModel: picks the Nemotron class named by config.json's `architectures`.
import { NemotronForCausalLM, NemotronForQuestionAnswering, NemotronForSequenceClassification, NemotronForTokenClassification } from './heads.js';
import { NemotronModel } from './model.js';
import { loadConfig, loadPretrained, type FromPretrainedOptions, type LoadingInfo } from './pretrained.js';

/** Every class AutoModel can build, by architecture name. */
export const ARCHITECTURES = {
  NemotronModel,
  NemotronForCausalLM,
  NemotronForSequenceClassification,
  NemotronForTokenClassification,
  NemotronForQuestionAnswering,
} as const;

/** Any Nemotron model class instance. */
export type AnyNemotronModel = InstanceType<(typeof ARCHITECTURES)[keyof typeof ARCHITECTURES]>;

/** Chooses the class from config.json. */
export const AutoModel = {
  /** Loads `dir` into the class its config.json names in `architectures` (NemotronModel when absent). */
  async fromPretrained(dir: string, opts: FromPretrainedOptions = {}): Promise<AnyNemotronModel & { loadingInfo: LoadingInfo }> {
    const config = await loadConfig(dir);
    const name = config.architectures?.[0] ?? 'NemotronModel';
    const ctor = (ARCHITECTURES as Record<string, unknown>)[name];
    if (!ctor) throw new Error(`AutoModel: unknown architecture '${name}' in ${dir}/config.json; known: ${Object.keys(ARCHITECTURES).join(', ')}`);
    return loadPretrained(ctor as typeof NemotronModel, dir, opts) as Promise<AnyNemotronModel & { loadingInfo: LoadingInfo }>;
  },
};
