// What models return (transformers' modeling_outputs.py), camelCased.
import type { Tensor } from '@tensorzoo/tensor';
import type { DynamicCache } from './cache-utils.js';

/** transformers' BaseModelOutputWithPast. */
export interface BaseModelOutput {
  lastHiddenState: Tensor;
  /** L + 1 entries: embeddings, layer outputs 1..L-1, and the final-norm output. */
  hiddenStates?: Tensor[];
  /** L entries of [batch, heads, seq, past + seq]. */
  attentions?: Tensor[];
  pastKeyValues?: DynamicCache;
}

/** The backbone's outputs a head passes on (all but the last hidden state). */
export type PassedOnOutputs = Omit<BaseModelOutput, 'lastHiddenState'>;

/** Outputs of the causal-LM and classification heads (CausalLMOutputWithPast, SequenceClassifierOutputWithPast, TokenClassifierOutput). */
export interface HeadOutput extends PassedOnOutputs {
  loss?: Tensor;
  logits: Tensor;
}

/** Outputs of extractive question answering (QuestionAnsweringModelOutput). */
export interface QAOutput extends PassedOnOutputs {
  loss?: Tensor;
  startLogits: Tensor;
  endLogits: Tensor;
}

/** The backbone outputs a head passes on. */
export function passedOn(o: BaseModelOutput): PassedOnOutputs {
  const { lastHiddenState: _h, ...rest } = o;
  return rest;
}
