// safetensors I/O: https://github.com/huggingface/safetensors (format, validation rules and write order follow the
// reference implementation). Browser-safe: node:fs / node:path are imported dynamically, only for file paths.
export { SafetensorsError, type SafetensorsRule } from './errors.js';
export { MAX_HEADER_SIZE, type TensorInfo } from './header.js';
export { FILE_DTYPES, SAVE_DTYPE, type FileDtype } from './format.js';
export { type ByteSource } from './sources.js';
export { openSafetensors, loadSafetensors, type SafetensorsFile, type LoadOptions } from './reader.js';
export { saveSafetensors, serializeSafetensors, type TensorDict } from './writer.js';
export { openShardedSafetensors, loadShardedSafetensors, SHARDED_INDEX_NAME, type ShardedSafetensors } from './sharded.js';
