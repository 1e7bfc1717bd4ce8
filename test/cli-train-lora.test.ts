// End-to-end: `tensorzoo finetune` (alias train-lora) on a tiny model writes a PEFT adapter folder that loadAdapter
// and `tensorzoo generate --adapter` use, with validation perplexity, early stopping and an exact --resume; bad
// options and data are usage errors (exit 2) before any training.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSafetensors } from '@tensorzoo/tensor';
import { loadAdapter, NemotronForCausalLM } from '@tensorzoo/nemotron';
import { runCli, writeTinyCausalLM } from './cli.helpers.js';

const work = mkdtempSync(join(tmpdir(), 'tz-lora-'));
const modelDir = join(work, 'model');
const tz = (...args: string[]) => runCli(work, args);

beforeAll(async () => {
  await writeTinyCausalLM(modelDir, { num_hidden_layers: 2 });
  const para = (i: number) => `In the beginning was the word number ${i}, and the word was with the house of the lord.`;
  writeFileSync(join(work, 'book.txt'), Array.from({ length: 12 }, (_, i) => para(i)).join('\n\n') + '\n');
  writeFileSync(join(work, 'book.jsonl'), Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: para(i) })).join('\n') + '\n');
  writeFileSync(join(work, 'bad.jsonl'), `${JSON.stringify({ text: 'ok' })}\n{"txt": "no"}\n`);
  writeFileSync(join(work, 'empty.txt'), '\n\n  \n');
  writeFileSync(join(work, 'short.txt'), para(0));
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tensorzoo train-lora', () => {
  it('trains, shows progress, and writes adapter_config.json + adapter_model.safetensors with PEFT\'s names', async () => {
    const out = join(work, 'adapter');
    const r = tz('train-lora', '--model', modelDir, '--data', 'book.txt', '--out', out, '--lora-r', '4', '--lora-alpha', '8',
      '--target-modules', 'q_proj,v_proj,down_proj', '--epochs', '4', '--lr', '0.01', '--batch-size', '4', '--max-length', '16', '--seed', '1');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/trainable params: \d+ \|\| all params: \d+ \|\| trainable%: [\d.]+/);
    expect(r.err).toMatch(/train \[[#.]+\] \d+\/\d+ [\d.]+ steps\/s ETA \S+\s+epoch 4\/4\s+loss [\d.]+\s+tokens\/s \d+\s+val ppl [\d.]+/);
    const m = /written to .*adapter \(r 4, (\d+) trainable parameters; (\d+) training and (\d+) validation blocks of up to 16 tokens; best epoch (\d): validation loss ([\d.]+), perplexity ([\d.]+); before training: perplexity ([\d.]+)\)/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    // 2 layers x (q_proj [32 -> 32], v_proj [32 -> 16], down_proj [64 -> 32]) with r 4
    expect(Number(m![1])).toBe(2 * 4 * ((32 + 32) + (32 + 16) + (64 + 32)));
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: modelDir, r: 4, lora_alpha: 8, lora_dropout: 0,
      target_modules: ['q_proj', 'v_proj', 'down_proj'], bias: 'none', modules_to_save: null, use_rslora: false, inference_mode: true,
    });
    const f = await openSafetensors(join(out, 'adapter_model.safetensors'));
    const expected = [0, 1].flatMap((i) => ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'].flatMap((p) => ['A', 'B'].map((ab) => `base_model.model.model.layers.${i}.${p}.lora_${ab}.weight`)));
    expect([...f.names].sort()).toEqual(expected.sort());
    await f.close();
    // loadAdapter reads the folder back, and the adapter changes the model's outputs
    const base = await NemotronForCausalLM.fromPretrained(modelDir);
    const peft = await loadAdapter(await NemotronForCausalLM.fromPretrained(modelDir), out);
    const ids = [[2, 100, 200, 300, 400, 500, 600, 700]];
    const differs = peft.forward({ inputIds: ids }).logits.sub(base.forward({ inputIds: ids }).logits).abs().max().item();
    expect(differs).toBeGreaterThan(0);

    const g = tz('generate', '--model', modelDir, '--adapter', out, '--prompt', 'In the beginning', '--max-new-tokens', '6', '--temperature', '0');
    expect(g.code, g.err).toBe(0);
    expect(g.out.startsWith('In the beginning')).toBe(true);
    expect(tz('generate', '--help').out).toMatch(/--adapter DIR\s+a LoRA adapter folder/);
  });

  it('reads .jsonl texts and lowers the loss over the epochs', () => {
    const out = join(work, 'adapter-jsonl');
    const r = tz('train-lora', '--model', modelDir, '--data', 'book.jsonl', '--out', out, '--target-modules', 'all-linear', '--epochs', '6', '--lr', '0.02', '--max-length', '12', '--batch-size', '2');
    expect(r.code, r.err).toBe(0);
    const losses = [...r.err.matchAll(/loss ([\d.]+)/g)].map((x) => Number(x[1]));
    expect(losses.length).toBeGreaterThan(1);
    const best = Number(/best epoch \d+: validation loss ([\d.]+)/.exec(r.out)![1]);
    expect(best).toBeLessThan(losses[0]!);
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
  });

  it('prints validation perplexity per epoch, decreasing on the shipped model with a text it has not seen', () => {
    const recipe = (i: number) => `Recipe ${i}: mix two cups of flour with one egg, add a spoon of sugar, and bake the bread for twenty minutes in a hot oven.`;
    writeFileSync(join(work, 'recipes.txt'), Array.from({ length: 30 }, (_, i) => recipe(i)).join('\n\n'));
    const r = tz('finetune', '--data', 'recipes.txt', '--out', join(work, 'recipes'), '--target-modules', 'all-linear', '--epochs', '2', '--lr', '0.01', '--max-length', '32', '--val-split', '0.2');
    expect(r.code, r.err).toBe(0);
    const ppl = [...r.err.matchAll(/^epoch (\d+): (?:train loss [\d.]+ {2})?val loss [\d.]+ {2}val perplexity ([\d.]+)$/gm)].map((x) => [Number(x[1]), Number(x[2])]);
    expect(ppl.map(([e]) => e)).toEqual([0, 1, 2]);
    expect(ppl[1]![1]).toBeLessThan(ppl[0]![1]);
    expect(ppl[2]![1]).toBeLessThan(ppl[1]![1]);
    expect(r.out).toMatch(new RegExp(`36 training and 9 validation blocks of up to 32 tokens; best epoch 2: validation loss [\\d.]+, perplexity ${ppl[2]![1].toFixed(2)}; before training: perplexity ${ppl[0]![1].toFixed(2)}`));
  }, 120_000);

  it('stops early once the validation loss has not improved for --patience epochs', () => {
    const r = tz('finetune', '--model', modelDir, '--data', 'book.txt', '--out', join(work, 'early'), '--lr', '0.5', '--epochs', '30', '--patience', '2', '--max-length', '16', '--batch-size', '4');
    expect(r.code, r.err).toBe(0);
    const val = [...r.err.matchAll(/^epoch (\d+): .*val loss ([\d.]+)/gm)].map((x) => Number(x[2]));
    const stop = Number(/early stop after epoch (\d+): no better validation loss for 2 epochs/.exec(r.err)?.[1]);
    expect(val).toHaveLength(stop + 1);
    expect(stop).toBeLessThan(30);
    const best = val.indexOf(Math.min(...val));
    expect(stop - best).toBe(2);
    expect(r.out).toContain(`best epoch ${best}:`);
  });

  it('--resume continues exactly: the same validation losses and adapter bytes as an uninterrupted run', () => {
    const args = (out: string, epochs: number) => ['finetune', '--model', modelDir, '--data', 'book.txt', '--out', join(work, out), '--lora-dropout', '0.1', '--lr', '0.02',
      '--epochs', String(epochs), '--patience', '10', '--max-length', '16', '--batch-size', '4', '--seed', '3'];
    const lines = (err: string) => [...err.matchAll(/^epoch \d+: .*$/gm)].map((x) => x[0]);
    const whole = tz(...args('whole', 4));
    expect(whole.code, whole.err).toBe(0);
    const first = tz(...args('split', 2));
    expect(first.code, first.err).toBe(0);
    const rest = tz(...args('split', 4), '--resume');
    expect(rest.code, rest.err).toBe(0);
    expect(rest.err).toMatch(/resuming after epoch 2/);
    expect(lines(whole.err)).toHaveLength(5);
    expect([...lines(first.err), ...lines(rest.err).slice(1)]).toEqual(lines(whole.err));
    for (const f of ['adapter_model.safetensors', 'adapter_config.json']) {
      expect(readFileSync(join(work, 'split', f)).equals(readFileSync(join(work, 'whole', f)))).toBe(true);
    }
    const changed = tz(...args('split', 5), '--resume', '--lora-r', '4');
    expect(changed.code).toBe(2);
    expect(changed.err).toMatch(/finetune: --resume: the saved run used --lora-r 8, not 4/);
  });

  it('rejects bad options and data with one line and exit code 2, writing nothing', () => {
    const out = join(work, 'never');
    const base = ['train-lora', '--model', modelDir, '--out', out];
    for (const [args, message] of [
      [['--data', 'book.txt', '--lora-r', '0'], /train-lora: --lora-r "0" is not allowed: expected an integer >= 1/],
      [['--data', 'book.txt', '--lora-alpha', '0'], /train-lora: --lora-alpha "0" is not allowed: expected a number > 0/],
      [['--data', 'book.txt', '--lora-dropout', '1'], /train-lora: --lora-dropout "1" is not allowed: expected a number in \[0, 1\)/],
      [['--data', 'book.txt', '--max-length', '999'], /train-lora: --max-length "999" is not allowed: expected an integer in \[2, 128\] \(the model's max_position_embeddings\)/],
      [['--data', 'book.txt', '--target-modules', 'qproj'], /train-lora: target modules \["qproj"\] not found in the base model; its Linear layers are: q_proj, k_proj, v_proj, o_proj, up_proj, down_proj, lm_head/],
      [['--data', 'book.txt', '--target-modules', ' , '], /train-lora: --target-modules needs at least one name/],
      [['--data', 'missing.txt'], /cannot read data file missing\.txt/],
      [['--data', 'bad.jsonl'], /bad\.jsonl:2: missing "text"/],
      [['--data', 'empty.txt'], /empty\.txt: no text/],
      [[], /train-lora: --data FILE is required/],
      [['--data', 'book.txt', '--val-split', '1'], /train-lora: --val-split "1" is not allowed: expected a number in \(0, 1\)/],
      [['--data', 'book.txt', '--patience', '0'], /train-lora: --patience "0" is not allowed: expected an integer >= 1/],
      [['--data', 'short.txt'], /train-lora: 1 block\(s\) of 128 tokens are too few for a training and a validation split/],
      [['--data', 'book.txt', '--resume'], /train-lora: --resume but .*never.finetune\.state\.safetensors not found/],
    ] as const) {
      const r = tz(...base, ...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    }
    expect(tz('train-lora', '--model', modelDir, '--data', 'book.txt').err).toMatch(/--out DIR is required/);
    const g = tz('generate', '--model', modelDir, '--adapter', join(work, 'nowhere'), '--prompt', 'x');
    expect(g.code).toBe(2);
    expect(g.err).toMatch(/generate: --adapter .*nowhere is not a LoRA adapter folder \(adapter_config\.json, adapter_model\.safetensors not found\)/);
  });
});
