// The one error type of the safetensors reader/writer: every message names the file, the tensor (when one is
// involved) and the rule that was broken, e.g.
//   safetensors <buffer>: tensor "w": data_offsets [0, 8] span 8 bytes but shape [3] of F32 needs 12 (rule: size-mismatch)

/** Which rule a file or call broke; stable strings, handy in tests and for callers that want to branch. */
export type SafetensorsRule =
  | 'header-too-small' // fewer than 8 bytes
  | 'header-too-large' // header length N > 100,000,000
  | 'invalid-header-length' // 8 + N beyond the end of the file
  | 'invalid-utf8'
  | 'invalid-json'
  | 'duplicate-key' // a key repeated in a JSON object (duplicate tensor name, duplicate field)
  | 'not-an-object'
  | 'invalid-metadata' // __metadata__ not an object of string -> string
  | 'invalid-tensor-info' // missing/ill-typed dtype, shape or data_offsets
  | 'unknown-dtype'
  | 'invalid-shape'
  | 'invalid-offsets' // data_offsets not [begin, end] with 0 <= begin <= end
  | 'overflow' // product(shape) * dtype size does not fit in a safe integer
  | 'misaligned-size' // sub-byte dtypes whose bit count is not a whole number of bytes
  | 'size-mismatch' // end - begin != product(shape) * dtype size
  | 'offset-out-of-bounds' // end beyond the data buffer
  | 'offsets-not-contiguous' // gap or overlap between consecutive tensors (sorted by begin), or first begin != 0
  | 'incomplete-buffer' // data does not end exactly at the end of the file
  | 'unsupported-dtype' // valid in the format but tensorzoo has no tensor dtype for it (F8, C64, ...)
  | 'value-out-of-range' // integer narrowing (I64/U32/U64 -> int32) lost information
  | 'invalid-bool' // a BOOL byte other than 0 or 1
  | 'unknown-tensor'
  | 'closed'
  | 'io' // short or failed read/write
  | 'invalid-argument' // bad input to the writer
  | 'invalid-index' // model.safetensors.index.json problems
  | 'missing-shard'
  | 'missing-tensor'; // weight_map names a tensor its shard does not hold

/** An error from reading or writing a safetensors file or a sharded index. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  constructor(
    /** The file path, or '<buffer>' / '<source>' for in-memory input. */
    readonly file: string,
    /** The tensor concerned, if any. */
    readonly tensor: string | null,
    readonly rule: SafetensorsRule,
    detail: string,
  ) {
    super(`safetensors ${file}: ${tensor !== null ? `tensor ${JSON.stringify(tensor)}: ` : ''}${detail} (rule: ${rule})`);
  }
}
