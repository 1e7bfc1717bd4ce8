// The Nemotron golden cases on the WebGPU device: forward outputs, losses, gradients and generation must match
// Hugging Face's values with the same tolerances as on the CPU. Skipped with one line when no adapter exists,
// unless TENSORZOO_REQUIRE_WEBGPU is set (CI), where a missing adapter fails.
import { describe, expect, it } from 'vitest';
import { describeWebGPU } from './webgpu-suite.js';
import { noGrad, stack, type Tensor } from '@tensorzoo/tensor';
import { AutoModel, NemotronForCausalLM } from '@tensorzoo/nemotron';
import { assertClose, cases, io, type Case } from './nemotron.helpers.js';


const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function args(c: Case, t: Map<string, Tensor>): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  for (const name of c.call.inputs) a[camel(name)] = t.get(name);
  for (const [k, v] of Object.entries(c.call.kwargs ?? {})) a[camel(k)] = v;
  return a;
}

describeWebGPU('Nemotron golden cases on WebGPU', () => {
  const all = cases();
  for (const c of all.filter((x) => x.call.method === 'forward' || x.call.method === 'forward+backward')) {
    it(`${c.name}: ${c.model_class}.${c.call.method} on webgpu`, async () => {
      const t = await io(c);
      const model = await AutoModel.fromPretrained(c.dir);
      model.to('webgpu');
      const grad = c.call.method === 'forward+backward';
      if (grad) model.requiresGrad_(true);
      const run = () => (model as unknown as { forward(a: unknown): Record<string, unknown> }).forward(args(c, t));
      const out = grad ? run() : noGrad(run);
      if (t.has('expected.last_hidden_state') && !out.lastHiddenState) {
        out.lastHiddenState = noGrad(() => model.baseModel.forward(args(c, t) as never).lastHiddenState);
      }
      for (const [name, v] of t) {
        if (!name.startsWith('expected.')) continue;
        const got = out[camel(name.slice('expected.'.length))];
        const actual = Array.isArray(got) ? stack(got as Tensor[]) : (got as Tensor);
        expect(actual.device).toBe('webgpu');
        assertClose(`${name} (webgpu)`, await actual.cpu(), v, c.tolerance.per_tensor[name] ?? c.tolerance.default);
      }
      if (grad) {
        (out.loss as Tensor).backward();
        const g = await io(c, c.grads!.file);
        const params = new Map(model.namedParameters());
        const sd = model.stateDict();
        for (const [name, expected] of g) {
          const key = name.slice('grad.'.length);
          const p = params.get(key) ?? [...params.values()].find((q) => q.storage === sd.get(key)?.storage)!;
          assertClose(`${name} (webgpu)`, await p.grad!.cpu(), expected, c.grads!.tolerance);
        }
      }
    });
  }
  for (const c of all.filter((x) => x.call.method === 'generate')) {
    it(`${c.name}: greedy generate() on webgpu equals HF's sequences`, async () => {
      const t = await io(c);
      const model = await NemotronForCausalLM.fromPretrained(c.dir);
      model.to('webgpu');
      const kw = c.call.kwargs as { max_new_tokens: number };
      const seq = await model.generate(t.get('input_ids')!, { maxNewTokens: kw.max_new_tokens });
      expect(seq.tolist()).toEqual(t.get('expected.sequences')!.int().tolist());
    });
  }
});
