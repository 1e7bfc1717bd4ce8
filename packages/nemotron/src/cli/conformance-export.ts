// Exporting the golden fixtures (test/fixtures/nemotron) as the conformance suite: per case case.json (see
// conformance-schema.ts), config, weights, inputs and expected outputs copied byte for byte, plus a README.
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSafetensors } from '@tensorzoo/tensor';
import { UsageError } from './args.js';
import { isIntegerDtype } from './compare.js';
import { EXPECTED_FILE, INPUTS_FILE } from './conformance-layout.js';
import { CASE_SCHEMA, type ConformanceCase, type TensorEntry, type Tolerance } from './conformance-schema.js';
import { SafetensorsStreamWriter } from './trace-writer.js';
import { tensorzooVersion } from './version.js';

/** The repository's golden fixtures, seen from packages/nemotron/dist/cli/. */
const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/nemotron/', import.meta.url));

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
  const tolOf = (name: string, dtype: string): Tolerance => (isIntegerDtype(dtype) ? { exact: true } : fc.tolerance.per_tensor[name] ?? fc.tolerance.default);
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
