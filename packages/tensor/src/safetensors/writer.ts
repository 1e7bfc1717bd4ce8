// Writing safetensors. Layout and ordering follow the reference's `prepare()` (huggingface/safetensors tensor.rs):
//  - tensors sorted by descending dtype alignment (the reference's Dtype enum order: F64, F32, I32, BF16, F16, BOOL
//    for the dtypes we write), then by name (byte order of the UTF-8 names, i.e. code point order);
//    data laid out contiguously in that order, header entries in the same order, `__metadata__` first;
//  - compact JSON, `{"dtype":..,"shape":[..],"data_offsets":[b,e]}` per tensor;
//  - the header padded with spaces to a multiple of 8 bytes, so the data buffer starts 8-byte aligned.
// Files written here are byte-identical to what the reference writes for the same tensors and names (metadata
// key order aside: the reference writes its HashMap in arbitrary order, we keep insertion order).
import { getBackend } from '../backend.js';
import { arrayLength, isQuantized, type DType, type TypedArray } from '../dtype.js';
import { blockBytesShape } from '../quant.js';
import { noGrad } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { SafetensorsError } from './errors.js';
import { FILE_DTYPES, SAVE_DTYPE, encodeElements } from './format.js';
import { nodeFs, nodePath } from '#fs';

export type TensorDict = Map<string, Tensor> | Record<string, Tensor>;

interface Planned {
  name: string;
  tensor: Tensor;
  dtype: DType;
  begin: number;
  end: number;
}

function codePointCompare(a: string, b: string): number {
  // UTF-16 order differs from UTF-8 byte order only between astral characters and U+E000..U+FFFF.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

/** Validates the inputs, orders the tensors and builds the padded header. */
function plan(file: string, tensors: TensorDict, metadata: Record<string, string> | undefined): { header: Uint8Array; items: Planned[]; dataLength: number } {
  const entries: [string, unknown][] = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const items: Planned[] = [];
  for (const [name, t] of entries) {
    if (typeof name !== 'string') throw new SafetensorsError(file, String(name), 'invalid-argument', 'tensor names must be strings');
    if (name === '__metadata__') throw new SafetensorsError(file, name, 'invalid-argument', 'the name "__metadata__" is reserved for the metadata');
    if (!isWellFormed(name)) throw new SafetensorsError(file, name, 'invalid-argument', 'tensor name is not well-formed Unicode (lone surrogate)');
    if (!(t instanceof Tensor)) throw new SafetensorsError(file, name, 'invalid-argument', `expected a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (!Object.hasOwn(SAVE_DTYPE, t.dtype)) throw new SafetensorsError(file, name, 'invalid-argument', `dtype ${t.dtype} has no safetensors encoding here`);
    if (t.storage.disposed) throw new SafetensorsError(file, name, 'invalid-argument', 'tensor has been disposed');
    items.push({ name, tensor: t, dtype: t.dtype, begin: 0, end: 0 });
  }
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object') throw new SafetensorsError(file, null, 'invalid-metadata', 'metadata must be an object of string -> string');
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(file, null, 'invalid-metadata', `metadata[${JSON.stringify(k)}] must be a string, got ${typeof v}`);
      if (!isWellFormed(k) || !isWellFormed(v)) throw new SafetensorsError(file, null, 'invalid-metadata', `metadata[${JSON.stringify(k)}] is not well-formed Unicode`);
    }
  }
  const rank = (d: DType) => FILE_DTYPES.get(SAVE_DTYPE[d]!)!.rank;
  items.sort((a, b) => rank(b.dtype) - rank(a.dtype) || codePointCompare(a.name, b.name));

  let offset = 0;
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(Object.fromEntries(Object.entries(metadata)))}`);
  for (const it of items) {
    // A quantized tensor is written as the U8 bytes of its blocks, [..., in] -> [..., in / 32 * block bytes].
    const shape = isQuantized(it.dtype) ? blockBytesShape(it.dtype, it.tensor.shape) : it.tensor.shape;
    const bytes = arrayLength(it.dtype, it.tensor.numel()) * FILE_DTYPES.get(SAVE_DTYPE[it.dtype]!)!.bits / 8;
    it.begin = offset;
    it.end = offset + bytes;
    offset = it.end;
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${SAVE_DTYPE[it.dtype]}","shape":[${shape.join(',')}],"data_offsets":[${it.begin},${it.end}]}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, items, dataLength: offset };
}

/** Bytes saveSafetensors copies and writes at a time. */
const WRITE_CHUNK = 16 * 2 ** 20;

/** The contiguous storage elements of a tensor, and a cleanup for any copy made. */
function contiguousOf(t: Tensor): { view: Tensor; release: () => void } {
  if (t.isContiguous()) return { view: t, release: () => undefined };
  const c = noGrad(() => t.contiguous());
  return { view: c, release: () => c.dispose() };
}

/** The part of a storage array that a contiguous view covers (whole blocks of bytes for quantized dtypes). */
function storageRange(all: TypedArray, view: Tensor): TypedArray {
  return all.subarray(arrayLength(view.dtype, view.offset), arrayLength(view.dtype, view.offset + view.numel()));
}

function elementsSync(t: Tensor): { data: TypedArray; release: () => void } {
  const { view, release } = contiguousOf(t);
  const b = getBackend(view.device);
  if (!b.readSync) throw new Error(`safetensors: tensors on '${view.device}' can only be read asynchronously`);
  const all = b.readSync(view.storage);
  return { data: storageRange(all, view), release };
}

async function elementsAsync(t: Tensor): Promise<{ data: TypedArray; release: () => void; live: () => boolean }> {
  const { view, release } = contiguousOf(t);
  const b = getBackend(view.device);
  // readSync hands out the storage's own array, alive only while the storage is; read, a copy of its own
  if (b.readSync) return { data: storageRange(b.readSync(view.storage), view), release, live: () => !view.storage.disposed };
  return { data: storageRange(await b.read(view.storage), view), release, live: () => true };
}

/**
 * Serializes tensors (CPU tensors; `saveSafetensors` also takes device tensors) to the bytes of a safetensors file.
 * `metadata` becomes `__metadata__` (string -> string).
 */
export function serializeSafetensors(tensors: TensorDict, metadata?: Record<string, string>): Uint8Array {
  const { header, items, dataLength } = plan('<buffer>', tensors, metadata);
  const out = new Uint8Array(header.length + dataLength);
  out.set(header, 0);
  for (const it of items) {
    if (!getBackend(it.tensor.device).readSync) {
      throw new SafetensorsError('<buffer>', it.name, 'invalid-argument', `serializeSafetensors reads synchronously and needs CPU tensors; this one is on '${it.tensor.device}' (use saveSafetensors, or move it to the CPU)`);
    }
    const { data, release } = elementsSync(it.tensor);
    try {
      out.set(encodeElements(data, it.dtype), header.length + it.begin);
    } finally {
      release();
    }
  }
  return out;
}

/**
 * Writes tensors to a safetensors file (Node). Tensors are written one by one, so the file may be larger than
 * any single buffer; the file is written under a temporary name and renamed into place when complete.
 */
export async function saveSafetensors(path: string, tensors: TensorDict, metadata?: Record<string, string>): Promise<void> {
  const { header, items } = plan(path, tensors, metadata);
  const fs = await nodeFs();
  const { dirname, basename, join } = await nodePath();
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fh: import('node:fs/promises').FileHandle | null = null;
  try {
    fh = await fs.open(tmp, 'w');
    const writeAll = async (bytes: Uint8Array, position: number) => {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh!.write(bytes, done, Math.min(bytes.length - done, 1 << 30), position + done);
        if (bytesWritten <= 0) throw new Error('write made no progress');
        done += bytesWritten;
      }
    };
    await writeAll(header, 0);
    let staging: Uint8Array | null = null;
    for (const it of items) {
      const { data, release, live } = await elementsAsync(it.tensor);
      try {
        // A CPU tensor's bytes are its storage's array: one disposed while the file is written may hand that array
        // to a new tensor (the CPU backend reuses disposed arrays), so each piece is copied while the storage is
        // known to be alive, and a tensor disposed mid-save fails the save instead of writing someone else's bytes.
        const bytes = encodeElements(data, it.dtype);
        for (let o = 0; o < bytes.length; o += WRITE_CHUNK) {
          if (!live()) throw new SafetensorsError(path, it.name, 'invalid-argument', 'the tensor was disposed while it was being saved');
          const n = Math.min(WRITE_CHUNK, bytes.length - o);
          if (!staging || staging.length < n) staging = new Uint8Array(n); // reused: fresh memory costs its page faults
          staging.set(bytes.subarray(o, o + n));
          await writeAll(staging.subarray(0, n), header.length + it.begin + o);
        }
      } finally {
        release();
      }
    }
    await fh.close();
    fh = null;
    await fs.rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(path, null, 'io', `write failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
