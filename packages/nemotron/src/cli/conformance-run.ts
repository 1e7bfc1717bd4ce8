// tensorzoo's own run of the exported conformance suite: each case through the public API, as another
// implementation would run it, written as a results file (keys <case>/<output>).
import { join } from 'node:path';
import { noGrad, openSafetensors, stack, Tensor } from '@tensorzoo/tensor';
import { AutoModel, NemotronForCausalLM, NemotronForSequenceClassification, type AnyNemotronModel } from '../index.js';
import { readSuite } from './conformance-layout.js';
import type { ConformanceCase } from './conformance-schema.js';
import { SafetensorsStreamWriter } from './trace-writer.js';
import { tensorzooVersion } from './version.js';

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
