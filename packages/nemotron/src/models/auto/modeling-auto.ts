// AutoModel (transformers' models/auto/modeling_auto.py): picks the class that config.json's `architectures` names.
import { modelSource, readJsonFile, type ModelSourceLike } from '@tensorzoo/tokenizer';
import { loadPretrained, type FromPretrainedOptions, type LoadingInfo } from '../../modeling-utils.js';
import {
  NemotronForCausalLM, NemotronForQuestionAnswering, NemotronForSequenceClassification, NemotronForTokenClassification, NemotronModel,
} from '../nemotron/modeling-nemotron.js';

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
  /** Loads a folder, URL or files into the class its config.json names in `architectures` (NemotronModel when absent). */
  async fromPretrained(source: ModelSourceLike, opts: FromPretrainedOptions = {}): Promise<AnyNemotronModel & { loadingInfo: LoadingInfo }> {
    const src = modelSource(source, opts);
    const { architectures } = await readJsonFile(src, 'config.json');
    const name = Array.isArray(architectures) && architectures.length ? String(architectures[0]) : 'NemotronModel';
    if (!Object.hasOwn(ARCHITECTURES, name)) throw new Error(`AutoModel: unknown architecture '${name}' in ${src.describe('config.json')}; known: ${Object.keys(ARCHITECTURES).join(', ')}`);
    return loadPretrained<AnyNemotronModel>(ARCHITECTURES[name as keyof typeof ARCHITECTURES], src, opts);
  },
};
