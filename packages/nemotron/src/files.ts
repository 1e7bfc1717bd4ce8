// The `#fs` import's Node variant: what savePretrained writes. Reading goes through model sources
// (@tensorzoo/tokenizer's model-source.ts); browser bundles get ./files-browser.ts instead.

/** Creates a folder and its parents. */
export async function makeDir(dir: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
}

/** Writes a JSON file with 2-space indentation. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, JSON.stringify(value, null, 2) + '\n');
}
