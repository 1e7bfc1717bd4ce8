// End-to-end runs of the `tensorzoo` CLI on a tiny model built here (random weights, the fixture tokenizer).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { NemotronForCausalLM, NemotronForSequenceClassification } from '@tensorzoo/nemotron';
import { AutoTokenizer } from '@tensorzoo/tokenizer';
import { CLI, runCli, writeTinyCausalLM } from './cli.helpers.js';

const work = mkdtempSync(join(tmpdir(), 'tz-cli-'));
const modelDir = join(work, 'model');

function tz(...args: string[]): { code: number; out: string; err: string } {
  return runCli(work, args);
}

beforeAll(async () => {
  await writeTinyCausalLM(modelDir);
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) {
    lines.push(JSON.stringify({ text: `the red house number ${i} is red`, label: 'red' }));
    lines.push(JSON.stringify({ text: `a blue sky ${i} over blue water`, label: 'blue' }));
  }
  writeFileSync(join(work, 'colors.jsonl'), lines.join('\n') + '\n');
  writeFileSync(join(work, 'bad.jsonl'), `${lines[0]}\n${lines[1]}\n{"text": "x", "label": \n`);
  writeFileSync(join(work, 'unknown.jsonl'), `${lines[0]}\n{"text": "y", "label": "green"}\n`);
  writeFileSync(join(work, 'text.txt'), 'The quick brown fox jumps over the lazy dog. '.repeat(20));
}, 60_000);

describe('tensorzoo CLI', () => {
  it('prints usage and per-command help', () => {
    const r = tz('--help');
    expect(r.code).toBe(0);
    for (const c of ['generate', 'train-head', 'classify', 'eval', 'info', 'bench']) expect(r.out).toContain(c);
    const g = tz('generate', '--help');
    expect(g.code).toBe(0);
    expect(g.out).toMatch(/--max-new-tokens N\s+tokens to generate .*generation_config\.json, else 60/);
  });

  it('generate streams a deterministic continuation and reports tokens/s', () => {
    const a = tz('generate', '--model', modelDir, '--prompt', 'In the beginning', '--max-new-tokens', '8', '--seed', '3');
    const b = tz('generate', '--model', modelDir, '--prompt', 'In the beginning', '--max-new-tokens', '8', '--seed', '3');
    expect(a.code).toBe(0);
    expect(a.out.startsWith('In the beginning')).toBe(true);
    expect(a.out.length).toBeGreaterThan('In the beginning'.length);
    expect(a.out).toBe(b.out);
    expect(a.err).toMatch(/8 tokens in [\d.]+ s: [\d.]+ tokens\/s/);
    const greedy = spawnSync(process.execPath, [CLI, 'generate', '--model', modelDir, '--temperature', '0', '--max-new-tokens', '4'], { input: 'from stdin', encoding: 'utf8' });
    expect(greedy.status).toBe(0);
    expect(greedy.stdout.startsWith('from stdin')).toBe(true);
  });

  it('generate prints, piece by piece, the text that decoding the whole greedy sequence adds after the prompt', async () => {
    const shipped = fileURLToPath(new URL('../models/kjv-nemotron-mini', import.meta.url));
    const prompt = 'And God said';
    const r = tz('generate', '--model', shipped, '--prompt', prompt, '--temperature', '0', '--max-new-tokens', '80');
    expect(r.code, r.err).toBe(0);
    const [model, tok] = await Promise.all([NemotronForCausalLM.fromPretrained(shipped), AutoTokenizer.fromPretrained(shipped)]);
    const ids = tok.encode(prompt);
    const out = await model.generate([ids], { maxNewTokens: 80, doSample: false });
    const all = (out.tolist() as number[][])[0]!;
    const decoded = tok.decode(all, { skipSpecialTokens: true });
    expect(r.out).toBe(prompt + decoded.slice(tok.decode(ids, { skipSpecialTokens: true }).length) + '\n');
  });

  it('train-head trains, saves a loadable classifier, resumes, and classify uses it', async () => {
    const out = join(work, 'clf');
    const r = tz('train-head', '--model', modelDir, '--data', 'colors.jsonl', '--labels', 'red,blue', '--out', out, '--epochs', '60', '--lr', '0.05');
    expect(r.code, r.err).toBe(0);
    const acc = Number(/validation accuracy ([\d.]+)%/.exec(r.out)![1]);
    expect(acc).toBeGreaterThanOrEqual(90);
    expect(r.err).toMatch(/train \[[#.]+\] \d+\/60/);
    const clf = await NemotronForSequenceClassification.fromPretrained(out);
    expect(clf.config.id2label).toEqual({ 0: 'red', 1: 'blue' });
    expect(clf.loadingInfo.newlyInitialized).toEqual([]);
    const c = tz('classify', '--model', out, '--text', 'the red house number 7 is red');
    expect(c.code, c.err).toBe(0);
    expect(c.out.split('\t')[0]).toBe('red');
    const info = tz('info', '--model', out);
    expect(info.code, info.err).toBe(0);
    expect(info.out).toMatch(/labels\s+2: red, blue/);
    const resumed = tz('train-head', '--model', modelDir, '--data', 'colors.jsonl', '--labels', 'red,blue', '--out', out, '--epochs', '70', '--resume');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/validation accuracy/);
  });

  it('eval reports perplexity, info describes the model, bench measures it', () => {
    const e = tz('eval', '--model', modelDir, '--data', 'text.txt', '--context', '64');
    expect(e.code, e.err).toBe(0);
    const ppl = Number(/perplexity ([\d.]+)/.exec(e.out)![1]);
    expect(ppl).toBeGreaterThan(1);
    const i = tz('info', '--model', modelDir);
    expect(i.code).toBe(0);
    expect(i.out).toMatch(/class\s+NemotronForCausalLM/);
    expect(i.out).toMatch(/memory\s+bfloat16/);
    expect(i.out).not.toMatch(/labels/); // a causal LM has none (its config still carries HF's LABEL_0, LABEL_1)
    // the CLI turns Node 20's flagged relaxed SIMD on for itself; TENSORZOO_RELAXED_SIMD=0 keeps the engine's default
    expect(i.out).toMatch(/cpu\s+WebAssembly SIMD, relaxed SIMD \(fused multiply-add\), \d+ threads/);
    const plain = runCli(work, ['info', '--model', modelDir], { env: { TENSORZOO_RELAXED_SIMD: '0' } });
    expect(plain.out).toMatch(process.versions.node.startsWith('20.') ? /no relaxed SIMD/ : /cpu\s+WebAssembly SIMD/);
    const b = tz('bench', '--model', modelDir, '--prompt', '16', '--tokens', '4');
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/decode\s+4 tokens with KV cache: [\d.]+ tokens\/s \(median; range [\d.]+-[\d.]+\)/);
    expect(b.out).toMatch(/measured: .*one warm-up run, then 5 timed runs/);
  });

  it('gives one clear error line and a non-zero exit on bad input', () => {
    const cases: [string[], RegExp][] = [
      [['generate', '--model', join(work, 'nope'), '--prompt', 'x'], /no model in .*nope/],
      [['train-head', '--model', modelDir, '--data', 'bad.jsonl', '--labels', 'red,blue'], /bad\.jsonl:3: not valid JSON/],
      [['train-head', '--model', modelDir, '--data', 'unknown.jsonl', '--labels', 'red,blue'], /unknown\.jsonl:2: unknown label 'green'/],
      [['train-head', '--model', modelDir, '--data', 'missing.jsonl', '--labels', 'red,blue'], /cannot read data file missing\.jsonl/],
      [['generate', '--model', modelDir, '--prompt', 'x', '--max-new-tokens', 'ten'], /--max-new-tokens "ten" is not allowed: expected an integer >= 1/],
      [['classify', '--model', modelDir, '--text', 'x'], /no trained classification head/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, re] of cases) {
      const r = tz(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err.trim().split('\n'), r.err).toHaveLength(1);
      expect(r.err).toMatch(/^tensorzoo: /);
      expect(r.err).toMatch(re);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});
