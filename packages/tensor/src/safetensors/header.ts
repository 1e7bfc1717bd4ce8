// Parsing and validating a safetensors header, as strictly as the reference implementation
// (huggingface/safetensors, safetensors/src/tensor.rs: read_metadata + Metadata::validate), plus duplicate-name
// detection, which the reference's serde HashMap does not do.
//
// Layout: bytes 0..8 = N (u64 little-endian); bytes 8..8+N = UTF-8 JSON object; bytes 8+N.. = data buffer.
import { SafetensorsError, type SafetensorsRule } from './errors.js';
import { FILE_DTYPES, type FileDtype } from './format.js';
import { JsonError, isJsonNumber, isJsonObject, jsonTypeName, parseJson, type JsonValue } from './json.js';

/** The reference's limit on N. */
export const MAX_HEADER_SIZE = 100_000_000;

/** What the header says about one tensor. */
export interface TensorInfo {
  /** The dtype as written in the file, e.g. 'BF16'. */
  readonly dtype: string;
  readonly shape: number[];
  /** end - begin. */
  readonly byteLength: number;
  /** [begin, end], relative to the start of the data buffer. */
  readonly dataOffsets: [number, number];
}

export interface ParsedHeader {
  /** N, the header's length in bytes (without the 8 length bytes). */
  readonly headerLength: number;
  /** File offset of the data buffer: 8 + N. */
  readonly dataStart: number;
  /** Tensor names in data order (sorted by data_offsets; ties keep header order). */
  readonly names: string[];
  readonly tensors: Map<string, TensorInfo & { readonly fileDtype: FileDtype }>;
  /** __metadata__, or null when absent. */
  readonly metadata: Record<string, string> | null;
}

/**
 * Reads N from the first 8 bytes and checks it against the limit and the file size.
 * `first8` may be shorter than 8 when the file is.
 */
export function parseHeaderLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || first8.length < 8) {
    throw new SafetensorsError(file, null, 'header-too-small', `file is ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
  }
  const n64 = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_SIZE)) {
    throw new SafetensorsError(file, null, 'header-too-large', `header length ${n64} exceeds the limit of ${MAX_HEADER_SIZE} bytes`);
  }
  const n = Number(n64);
  if (8 + n > fileSize) {
    throw new SafetensorsError(file, null, 'invalid-header-length', `header length ${n} runs past the end of the file (8 + ${n} > ${fileSize} bytes)`);
  }
  return n;
}

/** Parses and validates the N header bytes of a file of `fileSize` bytes. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const n = headerBytes.length;
  const dataStart = 8 + n;
  const err = (tensor: string | null, rule: SafetensorsRule, detail: string): never => {
    throw new SafetensorsError(file, tensor, rule, detail);
  };

  let text: string;
  try {
    // ignoreBOM: keep a BOM so that it is rejected as JSON, as the reference does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    return err(null, 'invalid-utf8', 'header is not valid UTF-8');
  }

  let root: JsonValue;
  try {
    root = parseJson(text);
  } catch (e) {
    if (e instanceof JsonError && e.duplicate) {
      const { key, path } = e.duplicate;
      if (path.length === 0) return err(key, 'duplicate-key', 'tensor name appears more than once in the header');
      if (path[0] === '__metadata__' && path.length === 1) return err(null, 'duplicate-key', `__metadata__ key ${JSON.stringify(key)} appears more than once`);
      return err(path[0]!, 'duplicate-key', `field ${JSON.stringify(key)} appears more than once`);
    }
    return err(null, 'invalid-json', `header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isJsonObject(root)) return err(null, 'not-an-object', `header must be a JSON object, got ${jsonTypeName(root)}`);

  const dataLength = fileSize - dataStart;
  let metadata: Record<string, string> | null = null;
  const entries: { name: string; info: TensorInfo & { fileDtype: FileDtype }; order: number }[] = [];

  const offsetInt = (name: string, what: string, v: JsonValue | undefined): number => {
    if (v === undefined || !isJsonNumber(v) || !v.integer || v.value < 0 || v.text.startsWith('-') && v.value !== 0) {
      return err(name, 'invalid-offsets', `${what} must be a non-negative integer, got ${v === undefined ? 'nothing' : isJsonNumber(v) ? v.text : jsonTypeName(v)}`);
    }
    if (!Number.isSafeInteger(v.value)) return err(name, 'offset-out-of-bounds', `${what} ${v.text} is beyond the data buffer (${dataLength} bytes)`);
    return v.value;
  };

  for (const [name, v] of root) {
    if (name === '__metadata__') {
      if (v === null) continue; // serde: Option<HashMap> accepts null as None
      if (!isJsonObject(v)) return err(null, 'invalid-metadata', `__metadata__ must be an object of strings, got ${jsonTypeName(v)}`);
      const md: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [k, s] of v) {
        if (typeof s !== 'string') return err(null, 'invalid-metadata', `__metadata__[${JSON.stringify(k)}] must be a string, got ${jsonTypeName(s)}`);
        md[k] = s;
      }
      metadata = md;
      continue;
    }
    if (!isJsonObject(v)) return err(name, 'invalid-tensor-info', `entry must be an object with dtype, shape and data_offsets, got ${jsonTypeName(v)}`);
    // Unknown fields are ignored, as serde does for the reference's TensorInfo.
    const dt = v.get('dtype');
    if (dt === undefined) return err(name, 'invalid-tensor-info', 'missing field "dtype"');
    if (typeof dt !== 'string') return err(name, 'invalid-tensor-info', `dtype must be a string, got ${jsonTypeName(dt)}`);
    const fd = FILE_DTYPES.get(dt);
    if (!fd) return err(name, 'unknown-dtype', `unknown dtype ${JSON.stringify(dt)} (known: ${[...FILE_DTYPES.keys()].join(', ')})`);

    const sh = v.get('shape');
    if (sh === undefined) return err(name, 'invalid-tensor-info', 'missing field "shape"');
    if (!Array.isArray(sh)) return err(name, 'invalid-shape', `shape must be a list of non-negative integers, got ${jsonTypeName(sh)}`);
    const shape: number[] = [];
    for (const d of sh) {
      if (!isJsonNumber(d) || !d.integer || d.value < 0 || !Number.isSafeInteger(d.value) || (d.text.startsWith('-') && d.value !== 0)) {
        return err(name, 'invalid-shape', `shape entries must be non-negative safe integers, got ${isJsonNumber(d) ? d.text : jsonTypeName(d)}`);
      }
      shape.push(d.value);
    }

    const off = v.get('data_offsets');
    if (off === undefined) return err(name, 'invalid-tensor-info', 'missing field "data_offsets"');
    if (!Array.isArray(off) || off.length !== 2) {
      return err(name, 'invalid-offsets', `data_offsets must be [begin, end], got ${Array.isArray(off) ? `a list of ${off.length}` : jsonTypeName(off)}`);
    }
    const begin = offsetInt(name, 'data_offsets begin', off[0]);
    const end = offsetInt(name, 'data_offsets end', off[1]);
    if (begin > end) return err(name, 'invalid-offsets', `data_offsets [${begin}, ${end}]: begin is after end`);

    // Byte count with overflow checks (the reference uses checked usize arithmetic).
    let nel = 1;
    for (const d of shape) {
      nel *= d;
      if (!Number.isSafeInteger(nel)) return err(name, 'overflow', `the product of shape [${shape.join(', ')}] overflows`);
    }
    const bits = nel * fd.bits;
    if (!Number.isSafeInteger(bits)) return err(name, 'overflow', `shape [${shape.join(', ')}] of ${dt} overflows when computing its byte size`);
    if (bits % 8 !== 0) return err(name, 'misaligned-size', `shape [${shape.join(', ')}] of ${dt} is ${bits} bits, not a whole number of bytes`);
    const bytes = bits / 8;
    if (end - begin !== bytes) {
      return err(name, 'size-mismatch', `data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] of ${dt} needs ${bytes}`);
    }
    if (end > dataLength) {
      return err(name, 'offset-out-of-bounds', `data_offsets [${begin}, ${end}] run past the data buffer (${dataLength} bytes after the ${n}-byte header)`);
    }
    entries.push({ name, info: { dtype: dt, shape, byteLength: bytes, dataOffsets: [begin, end], fileDtype: fd }, order: entries.length });
  }

  // Sorted by begin (then end, then header order): each tensor must start where the previous ended, from 0.
  entries.sort((a, b) => a.info.dataOffsets[0] - b.info.dataOffsets[0] || a.info.dataOffsets[1] - b.info.dataOffsets[1] || a.order - b.order);
  let pos = 0;
  let prev: string | null = null;
  for (const { name, info } of entries) {
    const [b, e] = info.dataOffsets;
    if (b !== pos) {
      const what = prev === null
        ? `the first tensor's data must start at offset 0, but data_offsets are [${b}, ${e}]`
        : b > pos
          ? `gap: data_offsets [${b}, ${e}] start at ${b} but the previous tensor ${JSON.stringify(prev)} ends at ${pos}`
          : `overlap: data_offsets [${b}, ${e}] start at ${b} inside the previous tensor ${JSON.stringify(prev)}, which ends at ${pos}`;
      return err(name, 'offsets-not-contiguous', what);
    }
    pos = e;
    prev = name;
  }
  if (pos !== dataLength) {
    return err(null, 'incomplete-buffer', `tensor data ends at byte ${pos} of the data buffer but the file has ${dataLength} data bytes (the data must end exactly at the end of the file)`);
  }

  return {
    headerLength: n,
    dataStart,
    names: entries.map((x) => x.name),
    tensors: new Map(entries.map((x) => [x.name, x.info])),
    metadata,
  };
}
