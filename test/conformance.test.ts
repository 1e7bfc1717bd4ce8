// tensorzoo conformance: the export holds every golden case in the neutral layout (case.json valid against the
// written schema, inputs and expected outputs equal to the fixtures'), tensorzoo's own results pass every case,
// and a perturbed results file fails naming the case and the tensor.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors, tensor, type Tensor } from '@tensorzoo/tensor';
import { runCli } from './cli.helpers.js';
import { cases, io } from './nemotron.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tz-conformance-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const suite = join(tmp, 'suite');
const results = join(tmp, 'results.safetensors');

type Schema = {
  type?: string; required?: string[]; properties?: Record<string, Schema>; additionalProperties?: boolean | Schema; items?: Schema;
  enum?: unknown[]; const?: unknown; minimum?: number; minItems?: number; oneOf?: Schema[];
};

/** Validates `v` against the subset of JSON Schema that case.schema.json uses; returns the violations. */
function validate(v: unknown, s: Schema, at = '$'): string[] {
  const errs: string[] = [];
  const kind = Array.isArray(v) ? 'array' : v === null ? 'null' : Number.isInteger(v) ? 'integer' : typeof v;
  if (s.type && !(s.type === kind || (s.type === 'number' && kind === 'integer'))) return [`${at}: expected ${s.type}, got ${kind}`];
  if (s.const !== undefined && v !== s.const) errs.push(`${at}: expected ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.includes(v)) errs.push(`${at}: ${JSON.stringify(v)} not in enum`);
  if (s.minimum !== undefined && (v as number) < s.minimum) errs.push(`${at}: below ${s.minimum}`);
  if (s.minItems !== undefined && (v as unknown[]).length < s.minItems) errs.push(`${at}: fewer than ${s.minItems} items`);
  if (s.items) (v as unknown[]).forEach((x, i) => errs.push(...validate(x, s.items!, `${at}[${i}]`)));
  if (s.oneOf && s.oneOf.filter((o) => validate(v, o, at).length === 0).length !== 1) errs.push(`${at}: matches not exactly one of oneOf`);
  if (kind === 'object' && (s.properties || s.required || s.additionalProperties !== undefined)) {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) errs.push(`${at}: missing ${r}`);
    for (const [k, x] of Object.entries(o)) {
      const p = s.properties?.[k];
      if (p) errs.push(...validate(x, p, `${at}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${at}: unexpected ${k}`);
      else if (typeof s.additionalProperties === 'object') errs.push(...validate(x, s.additionalProperties, `${at}.${k}`));
    }
  }
  return errs;
}

beforeAll(() => {
  const r = runCli(tmp, ['conformance', '--out', suite]);
  expect(r.code, r.err).toBe(0);
  expect(r.out).toContain('wrote 24 cases to');
  const run = runCli(tmp, ['conformance', '--run', suite, '--results', results]);
  expect(run.code, run.err).toBe(0);
});

const check = (file: string) => runCli(tmp, ['conformance', '--check', suite, '--results', file]);

describe('tensorzoo conformance', () => {
  it('exports every golden case with a case.json that the written schema accepts', () => {
    const schema = JSON.parse(readFileSync(join(suite, 'case.schema.json'), 'utf8')) as Schema & { $schema: string };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const names = readdirSync(join(suite, 'cases')).sort();
    expect(names).toEqual(cases().map((c) => c.name));
    for (const n of names) {
      const c = JSON.parse(readFileSync(join(suite, 'cases', n, 'case.json'), 'utf8')) as Record<string, unknown>;
      expect(validate(c, schema), n).toEqual([]);
      for (const f of [c.config as string, ...(c.weights as { files: string[] }).files]) expect(readdirSync(join(suite, 'cases', n))).toContain(f);
    }
    // the validator itself rejects what the schema forbids
    const bad = JSON.parse(readFileSync(join(suite, 'cases', 'causal_lm', 'case.json'), 'utf8')) as Record<string, unknown>;
    expect(validate({ ...bad, method: 'backward', extra: 1 }, schema)).toEqual(['$.method: "backward" not in enum', '$: unexpected extra']);
  });

  it('exports the fixtures\' inputs and expected outputs unchanged, with their tolerances', async () => {
    for (const c of cases()) {
      const t = await io(c);
      const dir = join(suite, 'cases', c.name);
      const exported = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { outputs: { tensors: Record<string, { tolerance: object }> } };
      const inputs = await loadSafetensors(join(dir, 'inputs.safetensors'));
      const expected = await loadSafetensors(join(dir, 'expected.safetensors'));
      expect([...inputs.keys()].sort()).toEqual([...c.call.inputs].sort());
      for (const [k, v] of inputs) expect(v.tolist(), `${c.name} ${k}`).toEqual(t.get(k)!.tolist());
      for (const [k, v] of t) {
        if (!k.startsWith('expected.')) continue;
        const name = k.slice('expected.'.length);
        expect(expected.get(name)!.tolist(), `${c.name} ${name}`).toEqual(v.tolist());
        expect(exported.outputs.tensors[name]!.tolerance).toEqual(name === 'sequences' ? { exact: true } : { atol: c.tolerance.default.atol, rtol: c.tolerance.default.rtol });
      }
      if (c.grads) {
        const g = await io(c, c.grads.file);
        for (const [k, v] of g) {
          expect(expected.get(k)!.tolist()).toEqual(v.tolist());
          expect(exported.outputs.tensors[k]!.tolerance).toEqual({ atol: c.grads.tolerance.atol, rtol: c.grads.tolerance.rtol });
        }
      }
    }
  });

  it('tensorzoo\'s own results pass every case', () => {
    const r = check(results);
    expect(r.code, r.out).toBe(0);
    expect(r.out.match(/^PASS /gm)).toHaveLength(24);
    expect(r.out).toMatch(/^PASS {2}grads_causal_lm {2,}38 outputs$/m);
    expect(r.out).toMatch(/\n24 of 24 cases pass\n$/);
  });

  it('a perturbed results file fails naming the case and the tensor', async () => {
    const res = await loadSafetensors(results);
    const perturb = (key: string, index: number, delta: number): Tensor => {
      const t = res.get(key)!;
      const d = Float32Array.from(t.float().dataSync());
      d[index]! += delta;
      return tensor(d).reshape(...t.shape);
    };
    res.set('causal_lm/logits', perturb('causal_lm/logits', 17, 0.01));
    res.set('grads_causal_lm/grad.model.layers.1.mlp.up_proj.weight', perturb('grads_causal_lm/grad.model.layers.1.mlp.up_proj.weight', 3, 1e-3));
    res.set('causal_lm_generate/sequences', perturb('causal_lm_generate/sequences', 6, 1).int());
    res.set('gqa/last_hidden_state', res.get('gqa/last_hidden_state')!.narrow(1, 0, 2));
    res.delete('mqa/loss');
    for (const k of [...res.keys()]) if (k.startsWith('tied_embeddings/')) res.delete(k);
    res.set('no_such_case/logits', tensor([1]));
    const file = join(tmp, 'perturbed.safetensors');
    await saveSafetensors(file, res);
    const r = check(file);
    expect(r.code).toBe(1);
    const fail = r.out.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(fail).toHaveLength(6);
    expect(r.out).toMatch(/^FAIL {2}causal_lm {2,}logits: element 17 is [-\d.e]+, expected [-\d.e]+ \(beyond atol 0\.0001 \+ rtol 0\.0001 \|expected\|; max abs error 1\.00e-2\)$/m);
    expect(r.out).toMatch(/^FAIL {2}grads_causal_lm {2,}grad\.model\.layers\.1\.mlp\.up_proj\.weight: element 3 is .* \(beyond atol 0\.00001 \+ rtol 0\.001 \|expected\|;/m);
    expect(r.out).toMatch(/^FAIL {2}causal_lm_generate {2,}sequences: element 6 is \d+, expected \d+ \(expected exactly;/m);
    expect(r.out).toMatch(/^FAIL {2}gqa {2,}last_hidden_state: shape \[2,2,24\], expected \[2,\d+,24\]$/m);
    expect(r.out).toMatch(/^FAIL {2}mqa {2,}loss: missing from the results \(key mqa\/loss\)$/m);
    expect(r.out).toMatch(/^FAIL {2}tied_embeddings {2,}not run \(no results key tied_embeddings\/\.\.\.\)$/m);
    expect(r.out).toContain('keys of no case output (1): no_such_case/logits');
    expect(r.out).toMatch(/\n18 of 24 cases pass\n$/);
  });

  it('usage errors exit 2 with one line', () => {
    const bad: [string[], RegExp][] = [
      [[], /give exactly one of --out DIR, --check DIR and --run DIR/],
      [['--out', join(tmp, 'x'), '--check', suite], /give exactly one of/],
      [['--check', suite], /--check needs --results FILE.safetensors/],
      [['--out', join(tmp, 'y'), '--results', results], /--results goes with --check or --run/],
      [['--check', suite, '--results', join(tmp, 'nope.safetensors')], /nope\.safetensors does not exist/],
      [['--check', tmp, '--results', results], /is not an exported suite \(no cases\/ folder\)/],
    ];
    for (const [args, msg] of bad) {
      const r = runCli(tmp, ['conformance', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });
});
