// The first run a person sees: the README's quickstart command on the shipped model writes a passage (not one
// token), for that prompt and others, and `tensorzoo eval` on the card's multi-line held-out text gives the card's
// perplexity.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = join(ROOT, 'models', 'kjv-nemotron-mini');
const QUICKSTART = 'npx -y pnpm@10 generate --prompt "And God said"';
const MIN_TOKENS = 30;

/**
 * Runs the CLI as `pnpm <script>` does after its build step, from the repository root. Asynchronously: a worker
 * blocked for a minute misses vitest's heartbeats.
 */
function tensorzoo(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'packages', 'nemotron', 'dist', 'cli', 'main.js'), ...args], { cwd: ROOT });
  let out = '', err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

/** `generate` as the quickstart runs it (every sampling option at its default): the text and the token count it reports. */
async function generate(prompt: string): Promise<{ text: string; tokens: number }> {
  const r = await tensorzoo(['generate', '--prompt', prompt]);
  expect(r.code, r.err).toBe(0);
  const m = /(\d+) tokens in [\d.]+ s/.exec(r.err);
  expect(m, r.err).not.toBeNull();
  expect(r.out.startsWith(prompt)).toBe(true);
  return { text: r.out, tokens: Number(m![1]) };
}

describe('quickstart', () => {
  it('the README runs `pnpm generate`, which is the CLI after the build', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(QUICKSTART);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.generate).toBe('tsc -b && node packages/nemotron/dist/cli/main.js generate');
  });

  it(`writes at least ${MIN_TOKENS} tokens for the README's prompt, the same text on every run`, async () => {
    const prompt = /--prompt "([^"]+)"/.exec(QUICKSTART)![1]!;
    const a = await generate(prompt);
    expect(a.tokens).toBeGreaterThanOrEqual(MIN_TOKENS);
    expect(a.text.trim().split(/\s+/).length).toBeGreaterThanOrEqual(MIN_TOKENS / 2);
    expect((await generate(prompt)).text).toBe(a.text);
  }, 120_000);

  it.each(['Jesus wept.', 'In the beginning', 'The LORD is my shepherd'])(`writes at least ${MIN_TOKENS} tokens for "%s"`, async (prompt) => {
    expect((await generate(prompt)).tokens).toBeGreaterThanOrEqual(MIN_TOKENS);
  }, 120_000);

  it("eval on the card's multi-line held-out text agrees with the card", async () => {
    const card = readFileSync(join(MODEL, 'README.md'), 'utf8');
    const row = /^\| kjv-nemotron-mini \| ([\d.]+) \| \*\*([\d.]+)\*\* \|$/m.exec(card);
    expect(row, 'the evaluation table row of the card').not.toBeNull();
    const text = readFileSync(join(MODEL, 'heldout.txt'), 'utf8');
    expect(text.split('\n').filter(Boolean).length).toBe(622);
    const r = await tensorzoo(['eval', '--data', join(MODEL, 'heldout.txt')]);
    expect(r.code, r.err).toBe(0);
    const ppl = Number(/perplexity ([\d.]+) over/.exec(r.out)![1]);
    // the card is measured on the float32 training weights, the folder holds them in bfloat16
    expect(Math.abs(ppl / Number(row![2]) - 1)).toBeLessThan(0.01);
  }, 240_000);
});
