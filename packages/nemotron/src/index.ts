// @tensorzoo/nemotron: NVIDIA Nemotron / Minitron as transformers defines it (v4.56): config, backbone, heads,
// generation and checkpoint loading. Laid out like transformers: the model-agnostic parts (configuration-utils,
// modeling-utils, cache-utils, generation/) at the top, the model in models/nemotron/.
export { PretrainedConfig, type ConfigClass, type ConfigJson, type ProblemType } from './configuration-utils.js';
export {
  PreTrainedModel, savePretrained,
  type FromPretrainedOptions, type LoadingInfo, type PreTrainedModelClass, type SavePretrainedOptions,
} from './modeling-utils.js';
export {
  QUANT_FORMATS, LM_HEAD_FORMAT, isWeightQuantization, quantizationConfigFromDict, type QuantizationConfig, type WeightQuantization,
} from './quantization-config.js';
export { type BaseModelOutput, type HeadOutput, type QAOutput } from './modeling-outputs.js';
export { buildCausalMask, MASK_MIN } from './modeling-attn-mask-utils.js';
export { causalLmLoss, sequenceClassificationLoss, tokenClassificationLoss, questionAnsweringLoss, type LabelInput } from './loss-utils.js';
export { DynamicCache, StaticCache, type LayerCache, type StaticCacheOptions } from './cache-utils.js';
export { type DecoderInputs, type IntInput } from './inputs.js';
export { generationConfigFromDict, generationConfigToDict, type GenerationConfig } from './generation/configuration-utils.js';
export { changesScores, processScores, noRepeatNgram, minNewTokensLength, repetitionPenalty } from './generation/logits-process.js';
export { generate, streamGenerate, NonFiniteLogitsError, type CausalLM, type GenerateOptions, type GenerationStep, type StopReason } from './generation/utils.js';
export { beamSearch, BeamHypotheses } from './generation/beam-search.js';
export { StopStringCriteria, type TokenTextDecoder } from './generation/stopping-criteria.js';
export { TextStream } from './generation/streamers.js';
export { NemotronConfig, loadConfig, type NemotronConfigFields } from './models/nemotron/configuration-nemotron.js';
export { NemotronRotaryEmbedding, applyRotaryPosEmb } from './models/nemotron/rotary-nemotron.js';
export { NemotronAttention, NemotronDecoderLayer, NemotronLayerNorm1P, NemotronMLP } from './models/nemotron/layers-nemotron.js';
export {
  NemotronPreTrainedModel, NemotronModel, NemotronForCausalLM, NemotronForSequenceClassification, NemotronForTokenClassification,
  NemotronForQuestionAnswering, lastNonPadIndex, type NemotronInputs,
} from './models/nemotron/modeling-nemotron.js';
export { AutoModel, ARCHITECTURES, type AnyNemotronModel } from './models/auto/modeling-auto.js';
export {
  ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME, loraConfig, loraConfigFromDict, loraConfigToDict, type LoraConfig, type TaskType,
} from './peft/config.js';
export { checkTargetModuleExists } from './peft/tuners-utils.js';
export { ModulesToSaveWrapper } from './peft/modules-to-save.js';
export { LoraModel } from './peft/lora-model.js';
export { getPeftModelStateDict, setPeftModelStateDict } from './peft/save-and-load.js';
export { PeftModel, getPeftModel, applyLora, loadAdapter, type ForwardModule, type LoraOptions, type PeftModelOptions } from './peft/peft-model.js';
export {
  pipeline, TASKS, type PipelineTask, type PipelineByTask, type TextGenerationOptions, type TextGenerationOutput, type TextClassificationOutput,
  type TokenClassificationOutput, type QuestionAnsweringOutput, type TextGenerationPipeline, type TextClassificationPipeline,
  type TokenClassificationPipeline, type QuestionAnsweringPipeline,
} from './pipelines.js';
export {
  trainHead, shuffled, classificationMetrics, pooledFeatures, sequenceClassificationFeatures, sequenceClassificationProblem,
  type HeadProblem, type HeadEpoch, type TrainHeadOptions,
} from './head-training.js';
export { AutoTokenizer, modelSource, type ModelSource, type ModelSourceLike, type ModelSourceOptions, type FileSet, type LoadProgress } from '@tensorzoo/tokenizer';
