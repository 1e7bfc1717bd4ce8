// The CLI on the GPU: every computing command runs with --device webgpu (greedy generate gives the CPU's text on a
// tiny checkpoint), and without an adapter --device webgpu is one line naming what is missing, exit 1.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeWebGPU } from './webgpu-suite.js';
import { runCli, writeTinyCausalLM, type Run } from './cli.helpers.js';


const work = mkdtempSync(join(tmpdir(), 'tz-cli-webgpu-'));
const model = join(work, 'model');
const tz = (...args: string[]): Run => runCli(work, args);

beforeAll(async () => {
  await writeTinyCausalLM(model, { eos_token_id: null });
  const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: i % 2 ? `a red house ${i}` : `the blue sky ${i}`, label: i % 2 ? 'red' : 'blue' }));
  writeFileSync(join(work, 'train.jsonl'), lines.join('\n') + '\n');
  writeFileSync(join(work, 'text.txt'), 'In the beginning God created the heaven and the earth.\nAnd the earth was without form.\n');
});

describe('tensorzoo --device webgpu without an adapter', () => {
  it('is one line naming what is missing, exit 1', () => {
    const r = runCli(work, ['generate', '--model', model, '--prompt', 'x', '--device', 'webgpu'], { env: { VK_ICD_FILENAMES: join(work, 'no-such-driver.json'), VK_DRIVER_FILES: join(work, 'no-such-driver.json') } });
    expect(r.code, r.err).toBe(1);
    // the Vulkan loader and Dawn may print their own warnings; ours is one line
    const ours = r.err.split('\n').filter((l) => l.startsWith('tensorzoo:'));
    expect(ours, r.err).toHaveLength(1);
    expect(ours[0]).toMatch(/^tensorzoo: --device webgpu: no WebGPU adapter found/);
    expect(r.out).toBe('');
  });
});

describeWebGPU('tensorzoo on webgpu', () => {
  it('generate: the same greedy text as on the cpu, and the rate line', () => {
    const args = ['generate', '--model', model, '--prompt', 'In the beginning', '--temperature', '0', '--max-new-tokens', '12'];
    const cpu = tz(...args);
    const gpu = tz(...args, '--device', 'webgpu');
    expect(cpu.code, cpu.err).toBe(0);
    expect(gpu.code, gpu.err).toBe(0);
    expect(gpu.out).toBe(cpu.out);
    expect(gpu.out.length).toBeGreaterThan('In the beginning\n'.length);
    expect(gpu.err).toMatch(/^12 tokens in [\d.]+ s/m);
  });

  it('eval, bench, train-head and classify run there', () => {
    const ev = tz('eval', '--model', model, '--data', 'text.txt', '--device', 'webgpu');
    const evCpu = tz('eval', '--model', model, '--data', 'text.txt');
    expect(ev.code, ev.err).toBe(0);
    const ppl = (r: Run) => Number(/perplexity ([\d.]+)/.exec(r.out)![1]);
    expect(Math.abs(ppl(ev) - ppl(evCpu)) / ppl(evCpu)).toBeLessThan(1e-3);
    const b = tz('bench', '--model', model, '--device', 'webgpu', '--tokens', '4', '--prompt', '8', '--repeats', '1');
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/measured: .*webgpu/);
    const out = join(work, 'clf');
    const th = tz('train-head', '--model', model, '--data', 'train.jsonl', '--labels', 'red,blue', '--out', out, '--epochs', '3', '--device', 'webgpu');
    expect(th.code, th.err).toBe(0);
    expect(th.out).toMatch(/validation accuracy/);
    const resumed = tz('train-head', '--model', model, '--data', 'train.jsonl', '--labels', 'red,blue', '--out', out, '--epochs', '5', '--resume', '--device', 'webgpu');
    expect(resumed.code, resumed.err).toBe(0);
    const cl = tz('classify', '--model', out, '--text', 'a red house', '--device', 'webgpu');
    const clCpu = tz('classify', '--model', out, '--text', 'a red house');
    expect(cl.code, cl.err).toBe(0);
    expect(cl.out.split('\t')[0]).toBe(clCpu.out.split('\t')[0]);
  });
});
