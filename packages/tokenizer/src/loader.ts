// File access for Node, kept out of the core modules so they also run in a
// browser: node:fs is imported lazily, only when a path is actually read.

/** Reads a whole file as bytes (Node only). */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const fs = await import('node:fs/promises');
  const buf = await fs.readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Reads a whole file as UTF-8 text (Node only). */
export async function readFileText(path: string): Promise<string> {
  const fs = await import('node:fs/promises');
  return fs.readFile(path, 'utf8');
}

/** True when the file exists (Node only). */
export async function fileExists(path: string): Promise<boolean> {
  const fs = await import('node:fs/promises');
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

/** Joins a directory and a file name with '/', which Node accepts on every platform. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}
