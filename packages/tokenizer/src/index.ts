// Public API of @tensorzoo/tokenizer.
export { SentencePieceTokenizer, type SpEncodeOptions, type SpPiece } from './sentencepiece.js';
export { parseModelProto, PieceType, type ModelProto, type TrainerSpec, type NormalizerSpec, type ModelType, type PieceTable } from './model-proto.js';
export { ProtobufError } from './protobuf.js';
export { CharsMapError } from './charsmap.js';
export { VocabError } from './vocab.js';
export { Tokenizer, type HfEncodeOptions, type HfDecodeOptions } from './hf/tokenizer.js';
export { TokenizerJsonError } from './hf/json.js';
export {
  PreTrainedTokenizer,
  sentencePieceBackend,
  tokenizerJsonBackend,
  type BatchEncodeOptions,
  type BatchEncoding,
  type DecodeOptions,
  type PaddingStrategy,
  type SpecialTokensConfig,
  type TokenizerBackend,
} from './pretrained.js';
export { AutoTokenizer, specialTokensFromConfig, type FromPretrainedOptions } from './auto.js';
export { chatTemplatesFromConfig, type ChatMessage, type ChatTemplateOptions, type ChatTemplates } from './chat-template.js';
export {
  modelSource,
  pathSource,
  urlSource,
  filesSource,
  cachedSource,
  DEFAULT_CACHE_NAME,
  withProgress,
  readJsonFile,
  readText,
  joinPath,
  type ModelSource,
  type ModelSourceLike,
  type ModelSourceOptions,
  type FileSet,
  type RangeReader,
  type LoadProgress,
  type ProgressCallback,
} from './model-source.js';
