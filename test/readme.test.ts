// Runs every ```ts block of README.md (from the repository root), so the documented API is the real one.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const out = join(root, 'test', '.readme-blocks');

/** What each block's comments promise about what it prints. */
const CHECKS: ((printed: unknown[][]) => void)[] = [
  (p) => {
    expect(p[0]![0]).toEqual([2, 3]);
    (p[0]![1] as number[]).forEach((v) => expect(v).toBeCloseTo(1, 6));
    expect(p[1]).toEqual([[1, 4, 2, 5, 3, 6], false]);
  },
  (p) => expect(p[0]![1] as number).toBeLessThan(0.1),
  (p) => {
    expect(p[0]![0]).toEqual(['w']);
    expect(p[0]![1]).toMatchObject({ dtype: 'BF16', shape: [1, 2] });
    expect(p[0]![2]).toEqual([[1.5, -2]]);
  },
  (p) => {
    expect((p[0]![0] as number[])[0]).toBe(2);
    expect(p[0]![1]).toEqual(['▁H', 'ell', 'o', '▁', '2', '0', '2', '6', '!']);
    expect(p[0]![2]).toBe('Hello 2026!');
  },
  (p) => {
    expect(p[0]![0]).toEqual([1, 4, 40]);
    expect(p[0]![2]).toBe(3);
    expect(p.filter((l) => l[0] === 'sampled')).toHaveLength(2);
  },
  (p) => {
    expect((p[0]![0] as string).length).toBeGreaterThan(20);
    expect(p[0]![0]).toBe(p[0]![1]);
  },
  (p) => expect(p[0]![0]).toEqual([0, 1, 0, 1]),
  (p) => {
    expect(p[0]![0]).toBeInstanceOf(Float32Array);
    const rows = p[0]![1] as number[][];
    rows.forEach((r) => expect(r[0]! + r[1]!).toBeCloseTo(1, 5));
    expect(p[0]![2]).toBeGreaterThan(0);
  },
];

let gpuMissing = '';
try {
  await (await import('@tensorzoo/tensor')).initWebGPU();
} catch (e) {
  gpuMissing = (e as Error).message;
}
const gpuSkip = gpuMissing !== '' && !process.env.TENSORZOO_REQUIRE_WEBGPU;
if (gpuSkip) console.log(`README WebGPU example skipped: ${gpuMissing}`);

describe('README examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThanOrEqual(6));
  blocks.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.startsWith('import'))?.slice(0, 60) ?? `block ${i}`;
    const needsGpu = code.includes('initWebGPU');
    (needsGpu && gpuSkip ? it.skip : it)(`block ${i + 1} runs: ${title}`, async () => {
      mkdirSync(out, { recursive: true });
      const file = join(out, `block-${i + 1}.ts`);
      writeFileSync(file, `${code}\nexport {};\n`);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const cwd = process.cwd();
      process.chdir(root);
      let printed: unknown[][];
      try {
        await import(pathToFileURL(file).href);
      } finally {
        process.chdir(cwd);
        printed = log.mock.calls.map((c) => [...c]);
        log.mockRestore();
      }
      CHECKS[i]?.(printed);
    });
  });
});
