// tensorzoo conformance: the project's golden suite (test/fixtures/nemotron, computed with Hugging Face transformers in
// float64) exported in a language-neutral layout (--out), tensorzoo's own run of it (--run), and the scoring of
// another implementation's results file, keys <case>/<output> (--check).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openSafetensors, type SafetensorsFile } from '@tensorzoo/tensor';
import { UsageError, type Command } from './args.js';
import { compareTensors } from './compare.js';
import { exportSuite } from './conformance-export.js';
import { readSuite } from './conformance-layout.js';
import { runSuite } from './conformance-run.js';

/** One case's verdict. */
export interface CaseVerdict {
  name: string;
  pass: boolean;
  /** Why it failed: one line per failing output ('<output>: ...'); empty when it passed. */
  problems: string[];
  outputs: number;
  /** No results key names this case at all. */
  notRun: boolean;
}

/** Scores a results file (keys <case>/<output>) against an exported suite. */
export async function checkSuite(dir: string, results: SafetensorsFile): Promise<{ verdicts: CaseVerdict[]; unknownKeys: string[] }> {
  const suite = readSuite(dir);
  const verdicts: CaseVerdict[] = [];
  const known = new Set<string>();
  for (const { dir: caseDir, case: c } of suite) {
    const problems: string[] = [];
    const expected = await openSafetensors(join(caseDir, c.outputs.file));
    const names = Object.keys(c.outputs.tensors);
    try {
      for (const o of names) {
        const key = `${c.name}/${o}`;
        known.add(key);
        const entry = c.outputs.tensors[o]!;
        if (!results.has(key)) {
          problems.push(`${o}: missing from the results (key ${key})`);
          continue;
        }
        const shape = results.info(key).shape;
        if (shape.join(',') !== entry.shape.join(',')) {
          problems.push(`${o}: shape [${shape.join(',')}], expected [${entry.shape.join(',')}]`);
          continue;
        }
        const exact = 'exact' in entry.tolerance;
        const tol = 'exact' in entry.tolerance ? { atol: 0, rtol: 0 } : entry.tolerance;
        const r = compareTensors(o, await expected.get(o), await results.get(key), tol, exact);
        if (!r.ok) {
          const w = r.worst!;
          const rule = exact ? 'expected exactly' : `beyond atol ${tol.atol} + rtol ${tol.rtol} |expected|`;
          problems.push(`${o}: element ${w.index} is ${w.b}, expected ${w.a} (${rule}; max abs error ${r.maxAbs.toExponential(2)})`);
        }
      }
    } finally {
      await expected.close();
    }
    const notRun = names.every((o) => !results.has(`${c.name}/${o}`));
    verdicts.push({ name: c.name, pass: problems.length === 0, problems, outputs: names.length, notRun });
  }
  return { verdicts, unknownKeys: results.names.filter((k) => !known.has(k)) };
}

export const conformanceCommand: Command = {
  name: 'conformance',
  summary: 'export the golden suite for other implementations (--out), run it (--run) or score results (--check)',
  options: {
    out: { type: 'string', arg: 'DIR', help: 'write the suite here: per case case.json, config, weights, inputs, expected outputs, tolerances' },
    check: { type: 'string', arg: 'DIR', help: 'score --results against the suite in DIR' },
    run: { type: 'string', arg: 'DIR', help: 'run the suite in DIR with tensorzoo and write --results' },
    results: { type: 'string', arg: 'FILE.safetensors', help: 'results, keys <case>/<output> (with --check or --run)' },
  },
  async run(o) {
    const modes = (['out', 'check', 'run'] as const).filter((m) => o[m] !== undefined);
    if (modes.length !== 1) throw new UsageError('conformance: give exactly one of --out DIR, --check DIR and --run DIR');
    const mode = modes[0]!;
    const dir = o[mode] as string;
    const results = o.results as string | undefined;
    if (mode === 'out') {
      if (results !== undefined) throw new UsageError('conformance: --results goes with --check or --run, not --out');
      const cases = await exportSuite(dir);
      console.log(`wrote ${cases.length} cases to ${dir} (case.json schema: ${join(dir, 'case.schema.json')})`);
      return 0;
    }
    if (results === undefined) throw new UsageError(`conformance: --${mode} needs --results FILE.safetensors`);
    if (mode === 'run') {
      readSuite(dir);
      const n = await runSuite(dir, results, (name) => process.stderr.write(`ran ${name}\n`));
      console.log(`wrote tensorzoo's results of ${n} cases to ${results}`);
      return 0;
    }
    if (!existsSync(results)) throw new UsageError(`conformance: ${results} does not exist`);
    readSuite(dir);
    const file = await openSafetensors(results);
    try {
      const { verdicts, unknownKeys } = await checkSuite(dir, file);
      const width = Math.max(...verdicts.map((v) => v.name.length));
      for (const v of verdicts) {
        if (v.pass) console.log(`PASS  ${v.name.padEnd(width)}  ${v.outputs} output${v.outputs === 1 ? '' : 's'}`);
        else if (v.notRun) console.log(`FAIL  ${v.name.padEnd(width)}  not run (no results key ${v.name}/...)`);
        else for (const p of v.problems) console.log(`FAIL  ${v.name.padEnd(width)}  ${p}`);
      }
      if (unknownKeys.length) console.log(`\nkeys of no case output (${unknownKeys.length}): ${unknownKeys.join(', ')}`);
      const passed = verdicts.filter((v) => v.pass).length;
      console.log(`\n${passed} of ${verdicts.length} cases pass`);
      return passed === verdicts.length ? 0 : 1;
    } finally {
      await file.close();
    }
  },
};
