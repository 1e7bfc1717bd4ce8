// Every option of the `tensorzoo` CLI is checked before the command prints or computes anything: exit code 2 and
// one line naming the option, the value and what is allowed.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeTinyCausalLM, type Run } from './cli.helpers.js';

const work = mkdtempSync(join(tmpdir(), 'tz-cli-validation-'));
const model = join(work, 'model'); // max_position_embeddings 128, vocab_size 8000

function tz(...args: string[]): Run {
  return runCli(work, args);
}

/** A usage error: exit 2, nothing on stdout, one `tensorzoo:` line on stderr matching `re`. */
function expectUsageError(r: Run, re: RegExp, what: string): void {
  expect(r.code, `${what}: ${r.err}`).toBe(2);
  expect(r.out, what).toBe('');
  expect(r.err.trim().split('\n'), what).toHaveLength(1);
  expect(r.err, what).toMatch(/^tensorzoo: /);
  expect(r.err, what).toMatch(re);
}

beforeAll(async () => {
  await writeTinyCausalLM(model);
  writeFileSync(join(work, 'data.jsonl'), Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `text ${i}`, label: i % 2 ? 'a' : 'b' })).join('\n'));
}, 60_000);

describe('tensorzoo CLI option validation', () => {
  it('generate: sampling options, seeds, counts and choices', () => {
    const gen = ['generate', '--model', model, '--prompt', 'In the beginning'];
    const cases: [string[], RegExp][] = [
      [['--top-k', '-5'], /generate: --top-k "-5" is not allowed: expected an integer >= 0/],
      [['--top-k', '2.5'], /--top-k "2\.5" is not allowed: expected an integer/],
      [['--top-k', '1e9'], /--top-k "1000000000" is not allowed: expected an integer in \[0, 8000\] \(the model's vocab_size\)/],
      [['--top-p', '2'], /--top-p "2" is not allowed: expected a number in \(0, 1\]/],
      [['--top-p', '0'], /--top-p "0" is not allowed: expected a number in \(0, 1\]/],
      [['--seed', '1.5'], /--seed "1\.5" is not allowed: expected an integer in \[0, 2\^53 - 1\]/],
      [['--seed', '-1'], /--seed "-1" is not allowed/],
      [['--seed', '9007199254740993'], /--seed "9007199254740993" is not allowed/],
      [['--temperature', '-1'], /--temperature "-1" is not allowed: expected a number >= 0/],
      [['--temperature', 'NaN'], /--temperature "NaN" is not allowed/],
      [['--max-new-tokens', '0'], /--max-new-tokens "0" is not allowed: expected an integer >= 1/],
      [['--max-new-tokens', '0x10'], /--max-new-tokens "0x10" is not allowed/],
      [['--max-new-tokens'], /--max-new-tokens needs a value \(an integer >= 1\)/],
      [['--truncate', 'middle'], /--truncate "middle" is not allowed: expected one of left, right/],
      [['--device', 'tpu'], /--device "tpu" is not allowed: expected one of cpu, webgpu/],
      [['--frobnicate', '1'], /unknown option --frobnicate/],
    ];
    for (const [args, re] of cases) expectUsageError(tz(...gen, ...args), re, args.join(' '));
  });

  it('bench: --tokens and --prompt against the model context', () => {
    const cases: [string[], RegExp][] = [
      [['--tokens', '-5'], /bench: --tokens "-5" is not allowed: expected an integer >= 1/],
      [['--tokens', '600'], /--tokens "600" is not allowed: expected an integer in \[1, 127\] \(the model's max_position_embeddings - 1\)/],
      [['--prompt', '0'], /--prompt "0" is not allowed: expected an integer >= 1/],
      [['--prompt', '100', '--tokens', '40'], /--prompt 100 \+ --tokens 40 = 140 positions, more than the model's context of 128 \(max_position_embeddings\)/],
      [['--repeats', '0'], /--repeats "0" is not allowed/],
    ];
    for (const [args, re] of cases) expectUsageError(tz('bench', '--model', model, ...args), re, args.join(' '));
  });

  it('train-head: split, epochs, lengths, batch size, learning rate; --resume needs a saved state', () => {
    const th = ['train-head', '--model', model, '--data', 'data.jsonl', '--labels', 'a,b', '--out', join(work, 'clf')];
    const cases: [string[], RegExp][] = [
      [['--val-split', '0'], /train-head: --val-split "0" is not allowed: expected a number in \(0, 1\)/],
      [['--val-split', '1'], /--val-split "1" is not allowed/],
      [['--epochs', '0'], /--epochs "0" is not allowed: expected an integer >= 1/],
      [['--max-length', '0'], /--max-length "0" is not allowed: expected an integer >= 1/],
      [['--max-length', '129'], /--max-length "129" is not allowed: expected an integer in \[1, 128\] \(the model's max_position_embeddings\)/],
      [['--batch-size', '0'], /--batch-size "0" is not allowed: expected an integer >= 1/],
      [['--lr', '0'], /--lr "0" is not allowed: expected a number > 0/],
      [['--patience', '-1'], /--patience "-1" is not allowed/],
      [['--resume=yes'], /--resume "yes" is not allowed: expected true or false/],
      [['--resume'], /--resume but .*clf holds no saved training state/],
    ];
    for (const [args, re] of cases) expectUsageError(tz(...th, ...args), re, args.join(' '));
    expect(existsSync(join(work, 'clf')), 'no work was done before the --resume check').toBe(false);
    expectUsageError(tz('train-head', '--model', model, '--labels', 'a,b'), /train-head: --data FILE is required/, 'no --data');
  });

  it('eval and classify: window length and required options', () => {
    expectUsageError(tz('eval', '--model', model, '--data', 'x.txt', '--context', '1'), /eval: --context "1" is not allowed: expected an integer >= 2/, 'context 1');
    expectUsageError(tz('eval', '--model', model, '--data', 'x.txt', '--context', '129'), /--context "129" is not allowed: expected an integer in \[2, 128\]/, 'context 129');
    expectUsageError(tz('eval', '--model', model), /eval: --data FILE is required/, 'no --data');
    expectUsageError(tz('classify', '--text', 'x'), /classify: --model DIR is required/, 'no --model');
  });
});
