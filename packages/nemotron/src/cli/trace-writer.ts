// A safetensors file written one tensor at a time, in the order the tensors are added (a trace's execution order),
// holding none of them: the data goes to a side file as each tensor arrives, and close() writes the header (which
// must list every tensor first) followed by the data copied over in chunks, then renames the result into place.
import { closeSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Tensor } from '@tensorzoo/tensor';

/** safetensors dtype names of the dtypes a trace holds (activations in float32/float64, token ids in int32). */
const FILE_DTYPE = { float32: 'F32', float64: 'F64', int32: 'I32' } as const;

const COPY_CHUNK = 64 * 2 ** 20;

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** A safetensors file being written tensor by tensor (Node; CPU tensors). */
export class SafetensorsStreamWriter {
  private readonly entries: string[] = [];
  private readonly names = new Set<string>();
  private readonly dataPath: string;
  private dataFd: number | null;
  private offset = 0;

  constructor(readonly path: string) {
    this.dataPath = join(dirname(path), `.${basename(path)}.${process.pid}.data.tmp`);
    this.dataFd = openSync(this.dataPath, 'w');
  }

  /** Number of tensors added so far. */
  get size(): number {
    return this.names.size;
  }

  /** Appends a tensor's values (the tensor is not kept). */
  add(name: string, t: Tensor): void {
    const dtype = FILE_DTYPE[t.dtype as keyof typeof FILE_DTYPE];
    if (!dtype) throw new Error(`${this.path}: '${name}' has dtype ${t.dtype}, which this writer does not store`);
    // typed arrays hold the platform's byte order, little-endian on every platform Node runs on, as the format wants
    const data = t.dataSync();
    this.addBytes(name, dtype, t.shape, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** Appends a tensor given as its file dtype ('F32', 'I64', ...), shape and little-endian bytes, copied as they are. */
  addBytes(name: string, dtype: string, shape: readonly number[], bytes: Uint8Array): void {
    if (this.dataFd === null) throw new Error(`${this.path}: add() after close()`);
    if (name === '__metadata__' || this.names.has(name)) throw new Error(`${this.path}: tensor name '${name}' is reserved or already written`);
    writeAll(this.dataFd, bytes);
    this.entries.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${this.offset},${this.offset + bytes.byteLength}]}`);
    this.offset += bytes.byteLength;
    this.names.add(name);
  }

  /** Writes the header and the data to `path` (atomically: a temporary name renamed into place). */
  close(metadata: Record<string, string>): void {
    if (this.dataFd === null) throw new Error(`${this.path}: close() twice`);
    closeSync(this.dataFd);
    this.dataFd = null;
    const json = new TextEncoder().encode(`{"__metadata__":${JSON.stringify(metadata)}${this.entries.map((e) => `,${e}`).join('')}}`);
    const padded = Math.ceil(json.length / 8) * 8;
    const header = new Uint8Array(8 + padded).fill(0x20);
    new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
    header.set(json, 8);
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    const out = openSync(tmp, 'w');
    const src = openSync(this.dataPath, 'r');
    try {
      writeAll(out, header);
      const chunk = new Uint8Array(Math.min(COPY_CHUNK, Math.max(this.offset, 1)));
      for (let pos = 0; pos < this.offset; ) {
        const n = readSync(src, chunk, 0, Math.min(chunk.length, this.offset - pos), pos);
        if (n <= 0) throw new Error(`${this.dataPath}: short read`);
        writeAll(out, chunk.subarray(0, n));
        pos += n;
      }
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    } finally {
      closeSync(out);
      closeSync(src);
      rmSync(this.dataPath, { force: true });
    }
    renameSync(tmp, this.path);
  }

  /** Drops everything written (after an error). */
  abort(): void {
    if (this.dataFd !== null) closeSync(this.dataFd);
    this.dataFd = null;
    rmSync(this.dataPath, { force: true });
  }
}
