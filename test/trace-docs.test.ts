// Runs the ```ts blocks of the README's "For porters" section from the repository root.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## For porters'), readme.indexOf('\n## ', readme.indexOf('## For porters') + 3));
const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const out = join(root, 'test', '.readme-blocks');

describe('README For porters examples', () => {
  it('the hooks example prints what its comment says', async () => {
    expect(blocks).toHaveLength(1);
    mkdirSync(out, { recursive: true });
    const file = join(out, 'porters-1.ts');
    writeFileSync(file, `${blocks[0]}\nexport {};\n`);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const cwd = process.cwd();
    process.chdir(root);
    try {
      await import(pathToFileURL(file).href);
    } finally {
      process.chdir(cwd);
    }
    const printed = log.mock.calls.map((c) => [...c]);
    log.mockRestore();
    expect(printed).toEqual([[[['model.layers.0.mlp', [1, 4, 24]], ['model.layers.1.mlp', [1, 4, 24]]]]]);
  });
});
