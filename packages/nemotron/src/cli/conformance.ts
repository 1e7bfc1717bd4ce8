// tensorzoo conformance: the project's golden suite (test/fixtures/nemotron, computed with Hugging Face transformers in
// float64) exported in a language-neutral layout, tensorzoo's own run of it, and the scoring of another
// implementation's results file (keys <case>/<output>).
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noGrad, openSafetensors, stack, Tensor, type SafetensorsFile } from '@tensorzoo/tensor';
import { AutoModel, NemotronForCausalLM, NemotronForSequenceClassification, type AnyNemotronModel } from '../index.js';
import { UsageError, type Command } from './args.js';
import { compareTensors } from './compare.js';
import { CASE_SCHEMA, type ConformanceCase, type TensorEntry, type Tolerance } from './conformance-schema.js';
import { SafetensorsStreamWriter } from './trace-writer.js';
import { tensorzooVersion } from './version.js';

/** The repository's golden fixtures, seen from packages/nemotron/dist/cli/. */
const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/nemotron/', import.meta.url));

const INPUTS_FILE = 'inputs.safetensors';
const EXPECTED_FILE = 'expected.safetensors';
const INTEGER_DTYPES = new Set(['I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']);

/** The fixture's case.json, as far as the export reads it. */
interface FixtureCase {
  name: string;
  model_class: string;
  description: string;
  checks?: string[];
  notes?: string[];
  call: { method: ConformanceCase['method']; inputs: string[]; kwargs?: Record<string, unknown> };
  weights: { files: string[]; storage_dtype: string };
  tensors: Record<string, { role: string; dtype: string; shape: number[]; description?: string }>;
  tolerance: { default: { atol: number; rtol: number }; per_tensor: Record<string, { atol: number; rtol: number }> };
  grads?: { file: string; description?: string; tolerance: { atol: number; rtol: number } };
  info?: Record<string, unknown>;
}

/** Every tensor of a safetensors file with its header entry and raw bytes, in file order. */
async function* rawTensors(path: string): AsyncGenerator<{ name: string; dtype: string; shape: number[]; bytes: Uint8Array }> {
  const f = await openSafetensors(path);
  const fd = openSync(path, 'r');
  try {
    const n = Buffer.alloc(8);
    readSync(fd, n, 0, 8, 0);
    const dataStart = 8 + Number(n.readBigUInt64LE(0));
    for (const name of f.names) {
      const info = f.info(name);
      const bytes = new Uint8Array(info.byteLength);
      if (info.byteLength > 0) readSync(fd, bytes, 0, info.byteLength, dataStart + info.dataOffsets[0]);
      yield { name, dtype: info.dtype, shape: info.shape, bytes };
    }
  } finally {
    closeSync(fd);
    await f.close();
  }
}

/** Writes one fixture case in the neutral layout under `out`. */
async function exportCase(src: string, out: string): Promise<ConformanceCase> {
  const fc = JSON.parse(readFileSync(join(src, 'case.json'), 'utf8')) as FixtureCase;
  mkdirSync(out, { recursive: true });
  const copied = ['config.json', ...fc.weights.files, ...(existsSync(join(src, 'generation_config.json')) ? ['generation_config.json'] : [])];
  for (const f of copied) copyFileSync(join(src, f), join(out, f));

  const inputs = new SafetensorsStreamWriter(join(out, INPUTS_FILE));
  const expected = new SafetensorsStreamWriter(join(out, EXPECTED_FILE));
  const inputEntries: Record<string, TensorEntry> = {};
  const outputEntries: ConformanceCase['outputs']['tensors'] = {};
  const tolOf = (name: string, dtype: string): Tolerance => (INTEGER_DTYPES.has(dtype) ? { exact: true } : fc.tolerance.per_tensor[name] ?? fc.tolerance.default);
  const plain = (t: { atol: number; rtol: number }): Tolerance => ({ atol: t.atol, rtol: t.rtol });
  for await (const t of rawTensors(join(src, 'io.safetensors'))) {
    const meta = fc.tensors[t.name];
    const description = meta?.description ?? '';
    if (fc.call.inputs.includes(t.name)) {
      inputs.addBytes(t.name, t.dtype, t.shape, t.bytes);
      inputEntries[t.name] = { dtype: t.dtype, shape: t.shape, description };
    } else if (meta?.role === 'expected') {
      const name = t.name.slice('expected.'.length);
      expected.addBytes(name, t.dtype, t.shape, t.bytes);
      const tol = tolOf(t.name, t.dtype);
      outputEntries[name] = { dtype: t.dtype, shape: t.shape, description, tolerance: 'exact' in tol ? tol : plain(tol) };
    }
  }
  if (fc.grads) {
    for await (const t of rawTensors(join(src, fc.grads.file))) {
      expected.addBytes(t.name, t.dtype, t.shape, t.bytes);
      outputEntries[t.name] = { dtype: t.dtype, shape: t.shape, description: fc.grads.description ?? 'd(loss)/d(tensor)', tolerance: plain(fc.grads.tolerance) };
    }
  }
  inputs.close({ format: 'pt' });
  expected.close({ format: 'pt' });
  const c: ConformanceCase = {
    schema: 'tensorzoo-conformance-case/1',
    name: fc.name,
    description: fc.description,
    model_class: fc.model_class,
    method: fc.call.method,
    config: 'config.json',
    ...(copied.includes('generation_config.json') ? { generation_config: 'generation_config.json' } : {}),
    weights: { files: fc.weights.files, storage_dtype: fc.weights.storage_dtype },
    inputs: { file: INPUTS_FILE, tensors: inputEntries },
    arguments: fc.call.kwargs ?? {},
    outputs: { file: EXPECTED_FILE, tensors: outputEntries },
    checks: fc.checks ?? [],
    notes: fc.notes ?? [],
    ...(fc.info ? { info: fc.info } : {}),
  };
  writeFileSync(join(out, 'case.json'), `${JSON.stringify(c, null, 2)}\n`);
  return c;
}

const SUITE_README = `# tensorzoo conformance suite (Nemotron, Hugging Face transformers v4.56 semantics)

Each folder under cases/ is one case: a Hugging Face checkpoint (config.json, weights), the inputs
(${INPUTS_FILE}), the call to make (case.json: model_class, method, arguments) and the expected outputs
(${EXPECTED_FILE}) with a tolerance per output. case.schema.json is the JSON Schema of case.json.
The expected values are float64 results of the Hugging Face modeling code rounded to float32.

Run each case in your implementation and write one safetensors file whose keys are <case>/<output>
(for example causal_lm/logits, base_model/hidden_states, grads_causal_lm/grad.model.embed_tokens.weight),
any float dtype, the expected shapes. Then score it:

    tensorzoo conformance --check DIR --results RESULTS.safetensors

An output passes when every element satisfies |actual - expected| <= atol + rtol * |expected|
(integer outputs: equal); a case passes when all its outputs do. tensorzoo's own results come from
tensorzoo conformance --run DIR --results FILE.

Methods: forward (one forward pass, the model in eval mode); generate (greedy, arguments.max_new_tokens,
the full sequences); forward+backward (the loss of the forward, backpropagated: grad.<checkpoint tensor name>
for every parameter); forward+backward (head only) (the backbone without gradient, then the head on its
last_hidden_state: grad.score.weight and grad.last_hidden_state).
Outputs hidden_states and attentions are Hugging Face's tuples stacked on a new first axis.
`;

/** Exports every fixture case, the schema and a README to `out`. */
export async function exportSuite(out: string, fixtures = FIXTURES): Promise<ConformanceCase[]> {
  if (!existsSync(fixtures)) throw new UsageError(`conformance: the golden fixtures are not in this installation (expected at ${fixtures}); run it from a tensorzoo repository checkout`);
  const names = readdirSync(fixtures, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(fixtures, d.name, 'case.json'))).map((d) => d.name).sort();
  const written: ConformanceCase[] = [];
  for (const n of names) written.push(await exportCase(join(fixtures, n), join(out, 'cases', n)));
  writeFileSync(join(out, 'case.schema.json'), `${JSON.stringify(CASE_SCHEMA, null, 2)}\n`);
  writeFileSync(join(out, 'README.md'), SUITE_README);
  writeFileSync(join(out, 'suite.json'), `${JSON.stringify({ tensorzoo_version: tensorzooVersion(), cases: names }, null, 2)}\n`);
  return written;
}

/** The cases of an exported suite. */
export function readSuite(dir: string): { dir: string; case: ConformanceCase }[] {
  const root = join(dir, 'cases');
  if (!existsSync(root)) throw new UsageError(`conformance: ${dir} is not an exported suite (no cases/ folder)`);
  return readdirSync(root).sort().filter((n) => existsSync(join(root, n, 'case.json')))
    .map((n) => ({ dir: join(root, n), case: JSON.parse(readFileSync(join(root, n, 'case.json'), 'utf8')) as ConformanceCase }));
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** The value of a model output field (a tuple of tensors stacked on a new first axis). */
function field(out: Record<string, unknown>, name: string): Tensor | undefined {
  const v = out[camel(name)];
  return Array.isArray(v) ? stack(v as Tensor[]) : v instanceof Tensor ? v : undefined;
}

/** The parameter tensor a checkpoint name refers to (a tied name resolves to the tensor it shares). */
function parameterOf(model: AnyNemotronModel, name: string): Tensor {
  const t = model.stateDict().get(name);
  const p = t && [...model.parameters()].find((q) => q === t || q.storage === t.storage);
  if (!p) throw new Error(`the model has no parameter ${name}`);
  return p;
}

/** Runs one case of an exported suite through tensorzoo's API: output name -> tensor. */
export async function runCase(dir: string, c: ConformanceCase): Promise<Map<string, Tensor>> {
  const inputs = new Map<string, Tensor>();
  const f = await openSafetensors(join(dir, c.inputs.file));
  for (const n of f.names) inputs.set(n, await f.get(n));
  await f.close();
  const model = await AutoModel.fromPretrained(dir);
  const results = new Map<string, Tensor>();
  const wanted = Object.keys(c.outputs.tensors);
  if (c.method === 'generate') {
    if (!(model instanceof NemotronForCausalLM)) throw new Error(`${c.name}: generate needs a causal LM`);
    const a = c.arguments as { max_new_tokens?: number; do_sample?: boolean };
    results.set('sequences', await model.generate(inputs.get('input_ids')!, { maxNewTokens: a.max_new_tokens, doSample: a.do_sample ?? false }));
    return results;
  }
  const args: Record<string, unknown> = Object.fromEntries([...Object.entries(c.arguments).map(([k, v]) => [camel(k), v]), ...[...inputs].map(([k, v]) => [camel(k), v])]);
  if (c.method === 'forward+backward (head only)') {
    if (!(model instanceof NemotronForSequenceClassification)) throw new Error(`${c.name}: head-only backward is defined for sequence classification`);
    const ids = inputs.get('input_ids')!.int();
    const base = noGrad(() => model.model.forward(args as never).lastHiddenState);
    const h = base.detach().requiresGrad_();
    model.score.requiresGrad_(true);
    const logits = model.poolAndScore(h, ids);
    const loss = model.loss(logits, inputs.get('labels')!);
    loss.backward();
    const all = new Map<string, Tensor>([['last_hidden_state', base], ['logits', logits], ['loss', loss], ['grad.score.weight', model.score.weight.grad!], ['grad.last_hidden_state', h.grad!]]);
    for (const w of wanted) if (all.has(w)) results.set(w, all.get(w)!);
    return results;
  }
  const backward = c.method === 'forward+backward';
  if (backward) model.requiresGrad_(true);
  const run = () => (model as unknown as { forward(a: unknown): Record<string, unknown> }).forward(args);
  const out = backward ? run() : noGrad(run);
  if (backward) (out.loss as Tensor).backward();
  for (const w of wanted) {
    if (w.startsWith('grad.')) {
      const g = parameterOf(model, w.slice('grad.'.length)).grad;
      if (g) results.set(w, g);
      continue;
    }
    // heads return no last_hidden_state (as in HF): it is the backbone's, as model.model(...) returns it
    const v = field(out, w) ?? (w === 'last_hidden_state' ? noGrad(() => model.baseModel.forward(args as never).lastHiddenState) : undefined);
    if (v) results.set(w, v.detach());
  }
  return results;
}

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

/** Runs every case of an exported suite with tensorzoo and writes the results file. */
export async function runSuite(dir: string, resultsPath: string, onCase?: (name: string) => void): Promise<number> {
  const w = new SafetensorsStreamWriter(resultsPath);
  let n = 0;
  try {
    for (const { dir: caseDir, case: c } of readSuite(dir)) {
      for (const [o, t] of await runCase(caseDir, c)) w.add(`${c.name}/${o}`, t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'int32' ? t : t.float());
      onCase?.(c.name);
      n++;
    }
    w.close({ format: 'pt', tensorzoo_version: tensorzooVersion(), suite: dir });
  } catch (e) {
    w.abort();
    throw e;
  }
  return n;
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
