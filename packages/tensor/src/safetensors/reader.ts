// Reading safetensors: a lazy handle that parses and validates the header up front and reads each tensor's
// bytes on demand with one positioned read, plus loadSafetensors() built on it. A tensor whose file bytes are its
// in-memory bytes (F32, F16, BF16, I32 on a little-endian host) is read straight into its final storage where the
// device's backend offers one (Backend.fillStorage: the CPU's WebAssembly heap, where the kernels read it in place):
// no copy beyond a bounded read buffer. A weight quantized on load (LoadOptions.quantize) streams through the
// backend's slice buffers into its final blocks (Backend.quantizeFrom).
import type { Device } from '../backend.js';
import { getBackend } from '../backend.js';
import { fromBits, tensor } from '../creation.js';
import { blockBytes, isQuantized, QK, type DType, type QuantDType } from '../dtype.js';
import { numel } from '../shape.js';
import { fromBlocks, quantize } from '../quant.js';
import { wrap } from '../ops/util.js';
import type { Tensor } from '../tensor.js';
import { SafetensorsError } from './errors.js';
import { decodeElements, HOST_LITTLE_ENDIAN, type FileDtype } from './format.js';
import { parseHeader, parseHeaderLength, type ParsedHeader, type TensorInfo } from './header.js';
import { allocBytes, openSource, readChunksInto, readExact, readExactInto, type ByteSource, type OpenedSource } from './sources.js';

/** Tensors up to this size are read through one reused scratch buffer (fresh memory is costly to fault in). */
const SCRATCH_MAX = 256 * 2 ** 20;
/** Largest read into a heap storage from a source without readInto (what the source hands back is copied in). */
const DIRECT_CHUNK = 64 * 2 ** 20;
/** File dtypes whose little-endian bytes are the storage's bytes. */
const VERBATIM = new Set(['F32', 'F16', 'BF16', 'I32']);

export interface LoadOptions {
  /** Where the tensors are created (default: the host device). */
  device?: Device;
  /**
   * Read a U8 [..., n * block bytes] tensor as the blocks of this quantized dtype, giving [..., n * 32] (the layout
   * saveSafetensors writes quantized tensors in).
   */
  quantized?: QuantDType;
  /**
   * Quantize a 2-D float weight to this block format as it loads (as quantize() would, bit for bit). A BF16 or F32
   * tensor read to the CPU streams through small buffers into its blocks with no full-size copy; anything else is
   * read, then quantized.
   */
  quantize?: QuantDType;
}

/** An open safetensors file: names, dtypes and shapes without reading any tensor data. */
export interface SafetensorsFile {
  /** The path, or '<buffer>' / '<source>'. */
  readonly file: string;
  /** Tensor names in file (data) order. */
  readonly names: readonly string[];
  /** `__metadata__`, or an empty object when the file has none. */
  readonly metadata: Readonly<Record<string, string>>;
  has(name: string): boolean;
  /** What the header says about one tensor (throws for an unknown name). */
  info(name: string): TensorInfo;
  /** Reads and decodes one tensor (only its bytes are read). */
  get(name: string, opts?: LoadOptions): Promise<Tensor>;
  /** Releases the file; later get() calls throw. */
  close(): Promise<void>;
}

class SafetensorsFileImpl implements SafetensorsFile {
  private closed = false;
  private scratch: Uint8Array | null = null;
  private scratchBusy = false;
  readonly names: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  constructor(
    private readonly src: OpenedSource,
    private readonly header: ParsedHeader,
  ) {
    this.names = Object.freeze([...header.names]);
    this.metadata = Object.freeze({ ...(header.metadata ?? {}) });
  }
  get file(): string {
    return this.src.name;
  }
  has(name: string): boolean {
    return this.header.tensors.has(name);
  }
  private entry(name: string) {
    const e = this.header.tensors.get(name);
    if (!e) throw new SafetensorsError(this.file, name, 'unknown-tensor', `no such tensor in this file (it has ${this.names.length})`);
    return e;
  }
  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: [...e.shape], byteLength: e.byteLength, dataOffsets: [e.dataOffsets[0], e.dataOffsets[1]] };
  }
  async get(name: string, opts: LoadOptions = {}): Promise<Tensor> {
    if (this.closed) throw new SafetensorsError(this.file, name, 'closed', 'get() after close()');
    const e = this.entry(name);
    const td = e.fileDtype.tensorDtype;
    if (opts.quantized && (e.dtype !== 'U8' || e.shape.length === 0 || e.shape[e.shape.length - 1]! % blockBytes(opts.quantized) !== 0)) {
      throw new SafetensorsError(this.file, name, 'unsupported-dtype', `${e.dtype} [${e.shape.join(', ')}] is not the U8 block bytes of a ${opts.quantized} tensor`);
    }
    if (td === null) throw new SafetensorsError(this.file, name, 'unsupported-dtype', `dtype ${e.dtype} is valid safetensors but tensorzoo has no tensor dtype for it`);
    const at = this.header.dataStart + e.dataOffsets[0];
    if (opts.quantize) {
      const { quantize: q, ...rest } = opts;
      const streamed = await this.readQuantized(name, e.fileDtype, at, e.shape, q, rest);
      if (streamed) return streamed;
      const t = await this.get(name, rest);
      const out = quantize(t, q);
      if (out !== t) t.dispose();
      return out;
    }
    // quantized blocks: the U8 bytes are the storage's bytes, of [..., blocks * 32] elements
    const shape = opts.quantized ? [...e.shape.slice(0, -1), (e.shape[e.shape.length - 1]! / blockBytes(opts.quantized)) * QK] : e.shape;
    const direct = await this.readDirect(name, e.fileDtype, opts.quantized ?? td, at, e.byteLength, shape, opts);
    if (direct) return direct;
    const useScratch = this.src.source.readInto !== undefined && !this.scratchBusy && e.byteLength <= SCRATCH_MAX;
    if (!useScratch) return this.build(name, td, await readExact(this.src, at, e.byteLength, name), opts);
    // The decoded data may be a view of the scratch; tensor()/fromBits() copy it before the scratch is reused.
    this.scratchBusy = true;
    try {
      if (!this.scratch || this.scratch.byteLength < e.byteLength) {
        this.scratch = allocBytes(Math.max(e.byteLength, 1 << 16));
      }
      const bytes = this.scratch.subarray(0, e.byteLength);
      await readExactInto(this.src, at, bytes, name);
      return this.build(name, td, bytes, opts);
    } finally {
      this.scratchBusy = false;
    }
  }
  /**
   * Reads a tensor straight into its storage (Backend.fillStorage: readInto the storage's bytes, or bounded chunks
   * copied in); null when it does not apply (the file dtype is not the storage's bytes, a big-endian host, a backend
   * without it or without room), and the caller decodes instead.
   */
  private async readDirect(name: string, fd: FileDtype, td: DType, at: number, bytes: number, shape: readonly number[], opts: LoadOptions): Promise<Tensor | null> {
    const verbatim = VERBATIM.has(fd.name) || (fd.name === 'U8' && isQuantized(td));
    const backend = getBackend(opts.device);
    if (!HOST_LITTLE_ENDIAN || !verbatim || bytes === 0 || !backend.fillStorage) return null;
    const s = await backend.fillStorage(td, numel(shape), async (dst) => {
      if (this.src.source.readInto) await readChunksInto(this.src, at, dst, name);
      else for (let o = 0; o < bytes; o += DIRECT_CHUNK) dst.set(await readExact(this.src, at + o, Math.min(DIRECT_CHUNK, bytes - o), name), o);
    });
    return s && wrap(s, shape);
  }
  /**
   * Reads a BF16 / F32 2-D weight slice by slice into the backend's buffers, which quantize each slice to q8_0 / q4_0
   * while the next one is read (Backend.quantizeFrom); null when it does not apply (and nothing was read).
   */
  private async readQuantized(name: string, fd: FileDtype, at: number, shape: readonly number[], q: QuantDType, opts: LoadOptions): Promise<Tensor | null> {
    const source = fd.name === 'BF16' ? 'bfloat16' : fd.name === 'F32' ? 'float32' : null;
    const n = shape.reduce((a, b) => a * b, 1);
    const backend = getBackend(opts.device);
    if (!source || !HOST_LITTLE_ENDIAN || shape.length !== 2 || shape[1]! % QK !== 0 || n === 0 || !backend.quantizeFrom) return null;
    const blockSrc = source === 'bfloat16' ? 64 : 128;
    const s = await backend.quantizeFrom(q, source, n, (b, bytes) => readChunksInto(this.src, at + b * blockSrc, bytes, name));
    return s && wrap(s, shape);
  }
  private build(name: string, td: NonNullable<FileDtype['tensorDtype']>, bytes: Uint8Array, opts: LoadOptions): Tensor {
    const e = this.entry(name);
    const device = opts.device;
    if (opts.quantized) {
      const blocks = e.shape[e.shape.length - 1]! / blockBytes(opts.quantized);
      return fromBlocks(bytes, opts.quantized, [...e.shape.slice(0, -1), blocks * QK], { device });
    }
    const n = e.byteLength === 0 ? 0 : (e.byteLength * 8) / e.fileDtype.bits;
    const data = decodeElements(bytes, e.fileDtype, n, { file: this.file, tensor: name });
    if (td === 'float16' || td === 'bfloat16') return fromBits(data as Uint16Array, e.shape, td, { device });
    return tensor(data, { dtype: td, shape: e.shape, device });
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scratch = null;
    await this.src.close();
  }
}

/** Reads and validates the header of an opened source. */
async function readHeader(src: OpenedSource): Promise<ParsedHeader> {
  const size = src.source.size;
  const first8 = size >= 8 ? await readExact(src, 0, 8) : new Uint8Array(0);
  const n = parseHeaderLength(first8, size, src.name);
  const headerBytes = await readExact(src, 8, n);
  return parseHeader(headerBytes, size, src.name);
}

/**
 * Opens a safetensors file lazily: a path (Node: positioned reads through a FileHandle, never the whole file),
 * a Uint8Array, or any `{ size, read(offset, length) }` source. The header is fully validated here.
 */
export async function openSafetensors(source: string | Uint8Array | ByteSource): Promise<SafetensorsFile> {
  const src = await openSource(source);
  try {
    return new SafetensorsFileImpl(src, await readHeader(src));
  } catch (e) {
    await src.close().catch(() => undefined);
    throw e;
  }
}

/** Loads every tensor of a safetensors file into a Map, in file order. */
export async function loadSafetensors(source: string | Uint8Array | ByteSource, opts: LoadOptions = {}): Promise<Map<string, Tensor>> {
  const f = await openSafetensors(source);
  try {
    const out = new Map<string, Tensor>();
    for (const name of f.names) out.set(name, await f.get(name, opts));
    return out;
  } finally {
    await f.close();
  }
}
