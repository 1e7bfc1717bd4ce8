// Byte sources: what the reader reads from. A source knows its size and serves positioned reads,
// so a handle never needs the whole file in memory.
import { SafetensorsError } from './errors.js';
import { nodeFs } from '#fs';

/** Anything that can serve byte ranges: a file, an in-memory buffer, HTTP range requests, a Blob... */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes starting at `offset` (offset + length <= size). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: fills `target` with the bytes at `offset` (lets the reader reuse one scratch buffer). */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /** Optional: the file's name or URL, used in errors. */
  readonly name?: string;
  /** Optional: releases the source (a file handle, a connection); called when the safetensors file is closed. */
  close?(): Promise<void>;
}

/** A source, its display name for errors, and how to release it. */
export interface OpenedSource {
  readonly source: ByteSource;
  readonly name: string;
  close(): Promise<void>;
}

/** n bytes, not zero-filled where the platform allows it (Node's Buffer.allocUnsafeSlow), at byte offset 0 of their own buffer. */
export function allocBytes(n: number): Uint8Array {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  return B ? new Uint8Array(B.allocUnsafeSlow(n).buffer, 0, n) : new Uint8Array(n);
}

/** A Uint8Array as a source: reads are zero-copy subarrays. */
export function bufferSource(buf: Uint8Array): ByteSource {
  return {
    size: buf.byteLength,
    read: async (offset, length) => buf.subarray(offset, offset + length),
  };
}

/** Opens a file for positioned reads (Node only; node:fs is imported on first use). */
export async function openFileSource(path: string): Promise<OpenedSource> {
  const fs = await nodeFs();
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    throw new SafetensorsError(path, null, 'io', `cannot open: ${e instanceof Error ? e.message : String(e)}`);
  }
  let size: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw new SafetensorsError(path, null, 'io', `cannot stat: ${e instanceof Error ? e.message : String(e)}`);
  }
  let closed = false;
  const readInto = async (offset: number, out: Uint8Array) => {
    if (closed) throw new Error('read after close()');
    const length = out.byteLength;
    // Node caps one read at 2 GiB - 1; loop in chunks, and over short reads.
    const CHUNK = 1 << 30;
    let done = 0;
    while (done < length) {
      const want = Math.min(CHUNK, length - done);
      const { bytesRead } = await fh.read(out, done, want, offset + done);
      if (bytesRead === 0) throw new Error('unexpected end of file (did the file change while open?)');
      done += bytesRead;
    }
  };
  const source: ByteSource = {
    size,
    async read(offset, length) {
      // Unpooled and not zero-filled (every byte is overwritten); offset 0, so typed views are aligned.
      const out = allocBytes(length);
      await readInto(offset, out);
      return out;
    },
    readInto,
  };
  return {
    source,
    name: path,
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

/** Resolves the three accepted kinds of input to an opened source. */
export async function openSource(src: string | Uint8Array | ByteSource): Promise<OpenedSource> {
  if (typeof src === 'string') return openFileSource(src);
  if (src instanceof Uint8Array) return { source: bufferSource(src), name: '<buffer>', close: async () => undefined };
  if (src && typeof src === 'object' && typeof src.size === 'number' && typeof src.read === 'function') {
    if (!Number.isSafeInteger(src.size) || src.size < 0) throw new SafetensorsError('<source>', null, 'invalid-argument', `source size must be a non-negative integer, got ${src.size}`);
    return { source: src, name: src.name ?? '<source>', close: async () => src.close?.() };
  }
  throw new SafetensorsError('<source>', null, 'invalid-argument', 'expected a file path, a Uint8Array or { size, read(offset, length) }');
}

/** Fills `target` from the source (readInto when it has one), with the same checks and errors as readExact. */
export async function readExactInto(s: OpenedSource, offset: number, target: Uint8Array, tensor: string | null = null): Promise<void> {
  if (!s.source.readInto) {
    target.set(await readExact(s, offset, target.byteLength, tensor));
    return;
  }
  try {
    await s.source.readInto(offset, target);
  } catch (e) {
    throw new SafetensorsError(s.name, tensor, 'io', `read of ${target.byteLength} bytes at offset ${offset} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Bytes per read when a big tensor is read in pieces (several in flight: see readChunksInto). */
let READ_CHUNK = 8 * 2 ** 20;

/** Test knob: the bytes per read of readChunksInto, so that small tensors take the several-pieces path. */
export function setReadChunkBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 1) throw new RangeError(`setReadChunkBytes: expected a positive integer, got ${bytes}`);
  READ_CHUNK = bytes;
}
/** Reads in flight at once for one tensor. */
const READ_PARALLEL = 4;

/**
 * Fills `target` as readExactInto does, in READ_CHUNK pieces with several reads in flight where the source has
 * readInto: reading into fresh heap memory costs mostly the kernel's page faults, which then run on several cores
 * (Node's file reads run on its thread pool) instead of one.
 */
export async function readChunksInto(s: OpenedSource, offset: number, target: Uint8Array, tensor: string | null = null): Promise<void> {
  const n = target.byteLength;
  if (!s.source.readInto || n <= READ_CHUNK) return readExactInto(s, offset, target, tensor);
  let next = 0;
  const lane = async () => {
    for (let o = next; o < n; o = next) {
      next = o + READ_CHUNK;
      await readExactInto(s, offset + o, target.subarray(o, Math.min(n, o + READ_CHUNK)), tensor);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_PARALLEL, Math.ceil(n / READ_CHUNK)) }, lane));
}

/** A read that checks the source returned what was asked. */
export async function readExact(s: OpenedSource, offset: number, length: number, tensor: string | null = null): Promise<Uint8Array> {
  let out: Uint8Array;
  try {
    out = await s.source.read(offset, length);
  } catch (e) {
    throw new SafetensorsError(s.name, tensor, 'io', `read of ${length} bytes at offset ${offset} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!(out instanceof Uint8Array) || out.byteLength !== length) {
    throw new SafetensorsError(s.name, tensor, 'io', `read of ${length} bytes at offset ${offset} returned ${out instanceof Uint8Array ? out.byteLength : typeof out} bytes`);
  }
  return out;
}
