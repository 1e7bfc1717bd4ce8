// File access for fromPretrained, behind one small module so the model code itself stays browser-safe.

/** Joins path parts with '/', without node:path. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

async function fs(): Promise<typeof import('node:fs/promises')> {
  try {
    return await import('node:fs/promises');
  } catch {
    throw new Error('fromPretrained(dir) reads files and needs Node.js; in a browser, load tensors with openSafetensors() from bytes instead');
  }
}

/** Whether a file exists. */
export async function fileExists(path: string): Promise<boolean> {
  try {
    await (await fs()).access(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads and parses a JSON file, naming the file in every error. */
export async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await (await fs()).readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Writes a JSON file with 2-space indentation. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await (await fs()).writeFile(path, JSON.stringify(value, null, 2) + '\n');
}
