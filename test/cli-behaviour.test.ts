// End-to-end behaviour of the `tensorzoo` CLI at its edges: the context limit, non-finite checkpoints, Ctrl-C,
// defaults from generation_config.json, prefill progress, config errors and train-head data files.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { full, Generator, openSafetensors, saveSafetensors, type Tensor } from '@tensorzoo/tensor';
import { NemotronForSequenceClassification } from '@tensorzoo/nemotron';
import { CLI, runCli, tinyConfig, writeTinyCausalLM, writeTokenizer, type Run } from './cli.helpers.js';

const work = mkdtempSync(join(tmpdir(), 'tz-cli-behaviour-'));
const short = join(work, 'short'); // max_position_embeddings 32
const long = join(work, 'long'); // 2048 positions and no EOS: generates until stopped
const nan = join(work, 'nan'); // 3 layers; layer 1's MLP weights are NaN
const clf = join(work, 'clf'); // a sequence classifier with 24 positions

function tz(...args: string[]): Run {
  return runCli(work, args);
}

function oneErrorLine(r: Run, code: number, re: RegExp): void {
  expect(r.code, r.err).toBe(code);
  expect(r.err.trim().split('\n'), r.err).toHaveLength(1);
  expect(r.err).toMatch(re);
}

beforeAll(async () => {
  await writeTinyCausalLM(short, { max_position_embeddings: 32 });
  await writeTinyCausalLM(long, { max_position_embeddings: 2048, eos_token_id: null });
  await writeTinyCausalLM(nan, { num_hidden_layers: 3 });
  const f = await openSafetensors(join(nan, 'model.safetensors'));
  const tensors: Record<string, Tensor> = {};
  for (const n of f.names) tensors[n] = n === 'model.layers.1.mlp.up_proj.weight' ? full((await f.get(n)).shape, NaN) : await f.get(n);
  await f.close();
  await saveSafetensors(join(nan, 'model.safetensors'), tensors);
  const seqCls = new NemotronForSequenceClassification(tinyConfig({ max_position_embeddings: 24, id2label: { 0: 'x', 1: 'y' } }), { generator: new Generator(1) });
  await seqCls.savePretrained(clf);
  writeTokenizer(clf);
  writeFileSync(join(work, 'text.txt'), 'The quick brown fox jumps over the lazy dog. '.repeat(4));
}, 60_000);

describe('tensorzoo CLI: the context limit', () => {
  const longPrompt = 'In the beginning God created the heaven and the earth. '.repeat(8);

  it('a prompt longer than the context is an error naming both numbers; --truncate cuts it', () => {
    const r = tz('generate', '--model', short, '--prompt', longPrompt, '--max-new-tokens', '4');
    oneErrorLine(r, 2, /generate: the prompt is \d+ tokens, the model's context is 32 positions \(max_position_embeddings\).*--truncate left\|right/);
    expect(r.out).toBe('');
    const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 97 + 13) % 256));
    oneErrorLine(runCli(work, ['generate', '--model', short], { input: binary }), 2, /the prompt is \d+ tokens, the model's context is 32 positions/);
    for (const side of ['left', 'right']) {
      const t = tz('generate', '--model', short, '--prompt', longPrompt, '--max-new-tokens', '4', '--temperature', '0', '--truncate', side);
      expect(t.code, t.err).toBe(0);
      expect(t.err).toMatch(new RegExp(`generate: prompt cut from \\d+ to 28 tokens \\(--truncate ${side}; context 32 positions\\)`));
    }
  });

  it('generation stops at the limit and says so', () => {
    const r = tz('generate', '--model', short, '--prompt', 'In the beginning', '--temperature', '0', '--max-new-tokens', '1e9');
    expect(r.code, r.err).toBe(0);
    const m = /generate: stopped at the context limit: (\d+) prompt \+ (\d+) new tokens = 32 positions \(max_position_embeddings\); 1000000000 were asked for/.exec(r.err);
    expect(m, r.err).not.toBeNull();
    expect(Number(m![1]) + Number(m![2])).toBe(32);
    expect(r.err).toMatch(new RegExp(`^${m![2]} tokens in `, 'm'));
  });

  it('bench and eval stay inside the context; classify errors or truncates a long text', () => {
    const b = tz('bench', '--model', short, '--tokens', '8', '--repeats', '2');
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/prefill\s+24 tokens/);
    expect(b.out).toMatch(/measured: batch 1, random token ids, cpu; one warm-up run, then 2 timed runs of each/);
    const e = tz('eval', '--model', short, '--data', 'text.txt');
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/perplexity [\d.]+ over \d+ tokens/);
    const c = tz('classify', '--model', clf, '--text', longPrompt);
    oneErrorLine(c, 2, /classify: the text is \d+ tokens, longer than the model's context of 24 positions \(max_position_embeddings\)/);
    const ct = tz('classify', '--model', clf, '--text', longPrompt, '--truncate', 'right');
    expect(ct.code, ct.err).toBe(0);
    expect(ct.out).toMatch(/^[xy]\tx=[\d.]+ y=[\d.]+\t/);
  });
});

describe('tensorzoo CLI: failures and signals', () => {
  it('non-finite logits are an error naming the first module whose output is not finite', () => {
    const g = tz('generate', '--model', nan, '--prompt', 'In the beginning', '--max-new-tokens', '4');
    oneErrorLine(g, 1, /generate: the model's logits are not finite \(NaN or infinite\), from model\.layers\.1 \(the first module whose output is not finite\); the checkpoint's model\.layers\.1\.mlp\.up_proj\.weight holds NaN or infinite values/);
    expect(g.out).toBe('');
    const e = tz('eval', '--model', nan, '--data', 'text.txt');
    oneErrorLine(e, 1, /eval: the model's log-probabilities are not finite .* from model\.layers\.1 /);
    expect(e.out).not.toMatch(/perplexity/);
  });

  it('Ctrl-C during generate prints the text so far and the tokens/s summary, exit 130', async () => {
    const child = spawn(process.execPath, [CLI, 'generate', '--model', long, '--prompt', 'In the beginning', '--temperature', '0', '--max-new-tokens', '2000'], { cwd: work });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        if (out === '') setTimeout(() => child.kill('SIGINT'), 50);
        out += d.toString();
      });
      child.on('close', (c) => resolve(c));
    });
    expect(code, err).toBe(130);
    expect(out.startsWith('In the beginning')).toBe(true);
    expect(err).toMatch(/^\d+ tokens in [\d.]+ s: [\d.]+ tokens\/s \(decode [\d.]+ tokens\/s\)\ngenerate: interrupted\n$/);
    expect(Number(/^(\d+) tokens/.exec(err)![1])).toBeLessThan(2000);
  });

  it('a config that does not fit its checkpoint is one short line', () => {
    const bad = join(work, 'bad-config');
    mkdirSync(bad);
    const cfg = JSON.parse(readFileSync(join(short, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...cfg, hidden_size: 34 })); // not 2 heads x head_dim 16
    writeFileSync(join(bad, 'model.safetensors'), readFileSync(join(short, 'model.safetensors')));
    writeTokenizer(bad);
    const r = tz('info', '--model', bad);
    oneErrorLine(r, 1, /does not match NemotronForCausalLM \(config\.json\): wrong shapes: model\.embed_tokens\.weight: checkpoint \[8000,32\], model \[8000,34\]; .*\.\.\. \(\d+ more\)/);
    expect(r.err.length).toBeLessThan(400);
  });
});

describe('tensorzoo CLI: defaults, version, progress', () => {
  it('--version prints the package version', () => {
    const r = tz('--version');
    const pkg = JSON.parse(readFileSync(join(CLI, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(r.code).toBe(0);
    expect(r.out).toBe(`tensorzoo ${pkg.version}\n`);
  });

  it('--max-new-tokens defaults to generation_config.json, else 60', () => {
    const r = tz('generate', '--model', long, '--prompt', 'In the beginning', '--temperature', '0');
    expect(r.err).toMatch(/^60 tokens in /);
    writeFileSync(join(long, 'generation_config.json'), JSON.stringify({ max_new_tokens: 7 }));
    const g = tz('generate', '--model', long, '--prompt', 'In the beginning', '--temperature', '0');
    expect(g.err).toMatch(/^7 tokens in /);
    writeFileSync(join(long, 'generation_config.json'), JSON.stringify({ max_length: 12 }));
    const l = tz('generate', '--model', long, '--prompt', 'In the beginning', '--temperature', '0');
    expect(l.err).toMatch(/^\d+ tokens in /);
    expect(Number(/^(\d+) tokens/.exec(l.err)![1])).toBeLessThan(12);
    writeFileSync(join(long, 'generation_config.json'), JSON.stringify({}));
  });

  it('a long prefill reports progress on stderr', () => {
    const prompt = 'In the beginning God created the heaven and the earth. '.repeat(20);
    const r = runCli(work, ['generate', '--model', long, '--prompt', prompt, '--max-new-tokens', '2'], { env: { TENSORZOO_PROGRESS_AFTER_MS: '0' } });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/prefill \[[#.]+\] \d+\/\d+ [\d.]+ tokens\/s/);
  });
});

describe('tensorzoo CLI: train-head data files', () => {
  it('CSV through an RFC 4180 parser: multi-line quoted fields work, an unterminated quote names its line', () => {
    const rows = ['text,label'];
    for (let i = 0; i < 6; i++) rows.push(`"the red house, number ${i}\nis ""red""",red`, `a blue sky ${i},blue`);
    writeFileSync(join(work, 'multi.csv'), rows.join('\n') + '\n');
    const r = tz('train-head', '--model', short, '--data', 'multi.csv', '--labels', 'red,blue', '--out', join(work, 'csv-clf'), '--epochs', '2');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/validation accuracy [\d.]+% \(2 texts, 2 labels/);
    writeFileSync(join(work, 'open.csv'), 'text,label\na,red\n\n"never closed,blue\nb,red\n');
    oneErrorLine(tz('train-head', '--model', short, '--data', 'open.csv', '--labels', 'red,blue'), 2, /open\.csv:4: a quoted field is never closed/);
    writeFileSync(join(work, 'three.csv'), 'text,label\na,red,extra\n');
    oneErrorLine(tz('train-head', '--model', short, '--data', 'three.csv', '--labels', 'red,blue'), 2, /three\.csv:2: expected 2 fields \(text,label\), got 3/);
  });

  it('JSONL errors name the missing field and the line', () => {
    writeFileSync(join(work, 'nolabel.jsonl'), '{"text": "a", "label": "red"}\n{"text": "b"}\n');
    oneErrorLine(tz('train-head', '--model', short, '--data', 'nolabel.jsonl', '--labels', 'red,blue'), 2, /nolabel\.jsonl:2: missing "label"/);
    writeFileSync(join(work, 'notext.jsonl'), '{"label": "red"}\n');
    oneErrorLine(tz('train-head', '--model', short, '--data', 'notext.jsonl', '--labels', 'red,blue'), 2, /notext\.jsonl:1: missing "text"/);
  });
});
