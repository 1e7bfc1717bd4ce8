// tensorzoo quantize end to end: the folder it writes loads (in the API and in the CLI) and generates exactly what
// the model quantized in memory generates; usage mistakes exit 2 with one line.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NemotronForCausalLM } from '@tensorzoo/nemotron';
import { AutoTokenizer } from '@tensorzoo/tokenizer';
import { root, runCli, writeTinyCausalLM } from './cli.helpers.js';

const SHIPPED = join(root, 'models', 'kjv-nemotron-mini');
const tmp = mkdtempSync(join(tmpdir(), 'tz-quant-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Greedy continuation token ids of `prompt`. */
async function greedy(m: NemotronForCausalLM, ids: number[], n: number): Promise<number[]> {
  return ((await m.generate([ids], { maxNewTokens: n, doSample: false })).tolist() as number[][])[0]!.slice(ids.length);
}

describe('tensorzoo quantize', () => {
  it('writes a folder that loads and generates the same greedy tokens as the in-memory quantized model (shipped model, q4)', async () => {
    const out = join(tmp, 'kjv-q4');
    const r = runCli(tmp, ['quantize', '--model', SHIPPED, '--dtype', 'q4', '--out', out], { env: { TENSORZOO_PROGRESS_AFTER_MS: '0' } });
    expect(r.err).toMatch(/^quantizing \[/m);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^quantized 24 Linear weights to q4_0; left as stored: lm_head\.weight$/m);
    expect(r.out).toMatch(/^weights 7\.51 MiB -> \d\.\d\d MiB; wrote .*kjv-q4 \(model\.safetensors, config\.json, generation_config\.json, tokenizer\.model, tokenizer_config\.json, special_tokens_map\.json\)$/m);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.model', 'tokenizer_config.json']);

    const tok = await AutoTokenizer.fromPretrained(SHIPPED);
    const ids = tok.encode('And God said');
    const fromFolder = await NemotronForCausalLM.fromPretrained(out);
    const inMemory = await NemotronForCausalLM.fromPretrained(SHIPPED, { dtype: 'q4' });
    expect(await greedy(fromFolder, ids, 24)).toEqual(await greedy(inMemory, ids, 24));

    // the CLI itself: generate from the folder prints what generate --dtype q4 prints from the original
    const gen = (args: string[]) => runCli(tmp, ['generate', '--prompt', 'In the beginning', '--temperature', '0', '--max-new-tokens', '16', ...args]);
    const a = gen(['--model', out]);
    const b = gen(['--model', SHIPPED, '--dtype', 'q4']);
    expect(a.code, a.err).toBe(0);
    expect(a.out.length).toBeGreaterThan('In the beginning'.length);
    expect(a.out).toBe(b.out);
  }, 180_000); // three CLI runs

  it('quantizes an untied lm_head to q8_0 under --dtype q8 (one layer: 6 Linears, and lm_head)', async () => {
    const src = join(tmp, 'tiny');
    mkdirSync(src);
    await writeTinyCausalLM(src, { tie_word_embeddings: false });
    const out = join(tmp, 'tiny-q8');
    const r = runCli(tmp, ['quantize', '--model', src, '--dtype', 'q8', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^quantized 7 Linear weights to q8_0 \(lm_head q8_0\); left as stored: none$/m);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization_config: unknown };
    expect(config.quantization_config).toEqual({ quant_method: 'tensorzoo', format: 'q8_0', bits: 8, group_size: 32, sym: true, lm_head: 'q8_0', modules_to_not_convert: [] });
    const ids = [2, 40, 41, 42];
    expect(await greedy(await NemotronForCausalLM.fromPretrained(out), ids, 8)).toEqual(await greedy(await NemotronForCausalLM.fromPretrained(src, { dtype: 'q8' }), ids, 8));
  });

  it('usage mistakes exit 2 with one line and write nothing', () => {
    const out = join(tmp, 'never');
    const cases: [string[], RegExp][] = [
      [['--dtype', 'q2', '--out', out], /^tensorzoo: quantize: --dtype "q2" is not allowed: expected one of q8, q4\n$/],
      [['--dtype', 'q8_0', '--out', out], /^tensorzoo: quantize: --dtype "q8_0" is not allowed: expected one of q8, q4\n$/],
      [['--out', out], /^tensorzoo: quantize: --dtype q8\|q4 is required\n$/],
      [['--dtype', 'q8'], /^tensorzoo: quantize: --out DIR is required\n$/],
      [['--model', SHIPPED, '--dtype', 'q8', '--out', SHIPPED], /^tensorzoo: quantize: --out must be another folder than --model\n$/],
      [['--model', SHIPPED, '--dtype', 'q8', '--out', join(tmp, 'kjv-q4')], /^tensorzoo: quantize: --out .*kjv-q4 exists and is not an empty folder\n$/],
      [['--model', join(tmp, 'kjv-q4'), '--dtype', 'q8', '--out', out], /^tensorzoo: quantize: .*kjv-q4 is already quantized \(q4_0\)\n$/],
    ];
    for (const [args, err] of cases) {
      const r = runCli(tmp, ['quantize', ...args]);
      expect([args, r.code], r.err).toEqual([args, 2]);
      expect(r.err).toMatch(err);
      expect(r.out).toBe('');
    }
    expect(readdirSync(tmp)).not.toContain('never');
  });

  it('--help lists the options; the command is in the command list', () => {
    const r = runCli(tmp, ['quantize', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--dtype q8\|q4 .*\(required\)/);
    expect(r.out).toMatch(/--out DIR .*\(required\)/);
    expect(runCli(tmp, ['--help']).out).toMatch(/^ {2}quantize {5}write a copy of a model with int8 \(q8\) or int4 \(q4\) Linear weights$/m);
  });

  it('a folder that is not a model is a usage error; a file as --out is refused', () => {
    writeFileSync(join(tmp, 'file'), 'x');
    const r = runCli(tmp, ['quantize', '--model', SHIPPED, '--dtype', 'q4', '--out', join(tmp, 'file')]);
    expect([r.code, r.err]).toEqual([2, expect.stringMatching(/exists and is not an empty folder/)]);
    const s = runCli(tmp, ['quantize', '--model', tmp, '--dtype', 'q4', '--out', join(tmp, 'x')]);
    expect([s.code, s.err]).toEqual([2, expect.stringMatching(/^tensorzoo: no model in .* \(config\.json not found\)\n$/)]);
  });
});
