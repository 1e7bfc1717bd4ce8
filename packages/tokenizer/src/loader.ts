// The `#fs` import's Node variant: the file system behind model sources given as a path. Browser bundles get
// ./loader-browser.ts instead (package.json "imports"), so they never see node:fs.
import type { RangeReader } from './model-source.js';

/** Whether plain strings name files on disk (true here; false in a browser, where they are URLs). */
export const hasFileSystem = true;

async function fs(): Promise<typeof import('node:fs/promises')> {
  return import('node:fs/promises');
}

/** Size of a regular file in bytes, or null when there is none at `path`. */
export async function fileSize(path: string): Promise<number | null> {
  try {
    const st = await (await fs()).stat(path);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

/** Reads a whole file. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const buf = await (await fs()).readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Opens a file for positioned reads, so a big file is never read whole. */
export async function openFile(path: string): Promise<RangeReader> {
  const fh = await (await fs()).open(path, 'r');
  const size = (await fh.stat()).size;
  const readInto = async (offset: number, out: Uint8Array) => {
    // One read is capped at 2 GiB - 1, and reads may come back short: loop.
    let done = 0;
    while (done < out.byteLength) {
      const { bytesRead } = await fh.read(out, done, Math.min(out.byteLength - done, 1 << 30), offset + done);
      if (bytesRead === 0) throw new Error(`${path}: unexpected end of file`);
      done += bytesRead;
    }
  };
  return {
    name: path,
    size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      await readInto(offset, out);
      return out;
    },
    readInto,
    close: () => fh.close(),
  };
}

/** Reads a whole file as UTF-8 text. */
export async function readFileText(path: string): Promise<string> {
  return (await fs()).readFile(path, 'utf8');
}
