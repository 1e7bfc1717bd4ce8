// safetensors I/O: https://github.com/huggingface/safetensors (format, validation rules and write order follow the
// reference implementation). Browser-safe: node:fs / node:path are imported dynamically, only for file paths.
export { SafetensorsError, type SafetensorsRule } from './errors.js';
export { MAX_HEADER_SIZE as SAFETENSORS_MAX_HEADER_SIZE, type TensorInfo as SafetensorsTensorInfo } from './header.js';
export { FILE_DTYPES as SAFETENSORS_DTYPES, type FileDtype as SafetensorsDtype } from './format.js';
export { type ByteSource } from './sources.js';
export { openSafetensors, loadSafetensors, type SafetensorsFile, type LoadOptions as SafetensorsLoadOptions } from './reader.js';
export { saveSafetensors, serializeSafetensors, type TensorDict } from './writer.js';
export { openShardedSafetensors, loadShardedSafetensors, SHARDED_INDEX_NAME, type ShardedSafetensors, type ShardedFiles } from './sharded.js';
