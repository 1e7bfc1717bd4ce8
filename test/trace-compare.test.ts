// tensorzoo compare end to end: a perturbation planted in one weight of a checkpoint is found at that weight's
// module; float32 against float64 traces agree; missing / extra keys, shape and integer mismatches; exit codes.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors, tensor } from '@tensorzoo/tensor';
import { runCli } from './cli.helpers.js';
import { FIXTURES } from './nemotron.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tz-compare-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const IDS = '1,7,3,9,12,5';
const trace = (model: string, out: string, ...extra: string[]) => {
  const r = runCli(tmp, ['trace', '--model', model, '--ids', IDS, '--out', join(tmp, out), ...extra]);
  expect(r.code, r.err).toBe(0);
  return join(tmp, out);
};

let ref32 = '';
let ref64 = '';
let perturbed = '';

beforeAll(async () => {
  const good = join(FIXTURES, 'causal_lm');
  const bad = join(tmp, 'perturbed');
  cpSync(good, bad, { recursive: true });
  const w = await loadSafetensors(join(bad, 'model.safetensors'));
  const v = w.get('model.layers.1.self_attn.v_proj.weight')!;
  const data = Float32Array.from(v.dataSync());
  data[5]! += 0.05;
  w.set('model.layers.1.self_attn.v_proj.weight', tensor(data).reshape(...v.shape));
  await saveSafetensors(join(bad, 'model.safetensors'), w);
  ref32 = trace(good, 'ref32.safetensors');
  ref64 = trace(good, 'ref64.safetensors', '--dtype', 'float64');
  perturbed = trace(bad, 'perturbed.safetensors');
});

describe('tensorzoo compare', () => {
  it('names the module of a perturbed weight as the first divergence and exits 1', () => {
    const r = runCli(tmp, ['compare', ref32, perturbed]);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toMatch(/^ok {4}model\.layers\.1\.self_attn\.k_proj /m);
    expect(r.out).toMatch(/^FAIL {2}model\.layers\.1\.self_attn\.v_proj /m);
    expect(r.out).toMatch(/\nfirst divergence: model\.layers\.1\.self_attn\.v_proj \(max abs error [\d.e+-]+, max rel error [\d.e+-]+\); \d+ of 29 shared tensors differ\n$/);
    // everything before it agrees, in A's (execution) order
    const lines = r.out.split('\n').filter((l) => /^(ok|FAIL)/.test(l));
    expect(lines).toHaveLength(29);
    expect(lines.findIndex((l) => l.startsWith('FAIL'))).toBe(lines.findIndex((l) => l.includes('model.layers.1.self_attn.v_proj')));
  });

  it('a float32 trace agrees with a float64 one (compared as float64) and exits 0', () => {
    const r = runCli(tmp, ['compare', ref64, ref32]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('A ' + ref64 + ' (float64, 29 tensors)');
    expect(r.out).toMatch(/\nall 29 shared tensors agree\n$/);
    // and fails at the first tensor touched by rounding with no tolerance
    const strict = runCli(tmp, ['compare', ref64, ref32, '--atol', '0', '--rtol', '0']);
    expect(strict.code).toBe(1);
    expect(strict.out).toMatch(/first divergence: model\.layers\.0\.input_layernorm /);
  });

  it('lists missing and extra keys and shape mismatches; integers compare exactly', async () => {
    const a = await loadSafetensors(ref32);
    const b = new Map(a);
    b.delete('model.norm');
    b.set('model.layers.0.mlp.act_fn', a.get('model.layers.0.mlp.up_proj')!);
    b.set('lm_head', a.get('lm_head')!.narrow(1, 0, 3));
    const file = join(tmp, 'edited.safetensors');
    await saveSafetensors(file, b);
    const r = runCli(tmp, ['compare', ref32, file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('missing in B (1): model.norm\n');
    expect(r.out).toContain('extra in B (1): model.layers.0.mlp.act_fn\n');
    expect(r.out).toContain('shape mismatch: lm_head: A [1,6,40], B [1,3,40]\n');
    expect(r.out).toMatch(/first divergence: lm_head \(shapes differ\)/);

    const ids = new Map(a);
    ids.set('input_ids', tensor([[1, 7, 3, 9, 12, 6]], { dtype: 'int32' }));
    const idsFile = join(tmp, 'ids.safetensors');
    await saveSafetensors(idsFile, ids);
    const r2 = runCli(tmp, ['compare', ref32, idsFile, '--atol', '10', '--rtol', '10']);
    expect(r2.code).toBe(1);
    expect(r2.out).toMatch(/first divergence: input_ids /);
  });

  it('says so when nothing is shared', async () => {
    const file = join(tmp, 'other.safetensors');
    await saveSafetensors(file, { x: tensor([1]) });
    const r = runCli(tmp, ['compare', ref32, file]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/\nno tensor in common\n$/);
  });

  it('usage errors exit 2 with one line', () => {
    const bad: [string[], RegExp][] = [
      [[ref32], /B\.safetensors is required/],
      [[ref32, join(tmp, 'nope.safetensors')], /nope\.safetensors does not exist/],
      [[ref32, ref32, '--atol', '-1'], /--atol "-1" is not allowed: expected a number >= 0/],
      [[ref32, ref32, ref32], /unexpected argument/],
    ];
    for (const [args, msg] of bad) {
      const r = runCli(tmp, ['compare', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });
});
