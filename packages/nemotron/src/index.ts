// @tensorzoo/nemotron: NVIDIA Nemotron / Minitron as transformers defines it (v4.56): config, backbone, heads,
// generation and checkpoint loading.
export { NemotronConfig, type ConfigJson, type ProblemType } from './config.js';
export { NemotronModel, buildCausalMask, MASK_MIN, type NemotronInputs, type BaseModelOutput } from './model.js';
export {
  NemotronPreTrainedModel, NemotronForCausalLM, NemotronForSequenceClassification, NemotronForTokenClassification, NemotronForQuestionAnswering,
  causalLmLoss, lastNonPadIndex, type HeadOutput, type QAOutput, type LabelInput,
} from './heads.js';
export { NemotronAttention, NemotronDecoderLayer, NemotronLayerNorm1P, NemotronMLP, type LayerCache } from './layers.js';
export { NemotronRotaryEmbedding, applyRotaryPosEmb } from './rotary.js';
export { DynamicCache } from './cache.js';
export { AutoModel, ARCHITECTURES, type AnyNemotronModel } from './auto.js';
export { loadConfig, savePretrained, type FromPretrainedOptions, type LoadingInfo } from './pretrained.js';
export { type IntInput } from './inputs.js';
export { generate, streamGenerate, processScores, generationConfigFromDict, generationConfigToDict, type GenerateOptions, type GenerationConfig, type GenerationStep } from './generation.js';
