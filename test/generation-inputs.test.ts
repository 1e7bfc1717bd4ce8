// Inputs on the model's device: every golden forward case with all its inputs (ids, mask, positions, labels,
// start/end positions) as webgpu tensors gives exactly what host inputs give (and HF's values); generate() takes
// device ids and returns the sequences there; token ids out of range fail loudly through the device-side check.
import { describe, expect, it } from 'vitest';
import { describeWebGPU } from './webgpu-suite.js';
import { noGrad, tensor, type Tensor } from '@tensorzoo/tensor';
import { AutoModel, NemotronForCausalLM } from '@tensorzoo/nemotron';
import { assertClose, cases, io, type Case } from './nemotron.helpers.js';


const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function args(c: Case, t: Map<string, Tensor>, place: (x: Tensor) => Tensor): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  for (const name of c.call.inputs) a[camel(name)] = place(t.get(name)!);
  for (const [k, v] of Object.entries(c.call.kwargs ?? {})) a[camel(k)] = v;
  return a;
}

describeWebGPU('inputs on the webgpu device', () => {
  for (const c of cases().filter((x) => x.call.method === 'forward')) {
    it(`${c.name}: device inputs give the host inputs' outputs`, async () => {
      const t = await io(c);
      const model = await AutoModel.fromPretrained(c.dir, { device: 'webgpu' });
      const run = (place: (x: Tensor) => Tensor) => noGrad(() => (model as unknown as { forward(a: unknown): Record<string, unknown> }).forward(args(c, t, place)));
      const host = run((x) => x);
      const dev = run((x) => x.to('webgpu'));
      for (const [name, v] of t) {
        if (!name.startsWith('expected.')) continue;
        const key = camel(name.slice('expected.'.length));
        const pick = (o: Record<string, unknown>) => (Array.isArray(o[key]) ? (o[key] as Tensor[]).at(-1)! : (o[key] as Tensor | undefined));
        const a = pick(dev);
        if (!a) continue; // last_hidden_state of a head: checked by the golden tests
        expect(Array.from(await a.data()), name).toEqual(Array.from(await pick(host)!.data()));
        if (!Array.isArray(dev[key])) assertClose(`${name} (device inputs)`, await a.cpu(), v, c.tolerance.per_tensor[name] ?? c.tolerance.default);
      }
    });
  }

  it("generate() takes ids on the device and returns HF's sequences there", async () => {
    const c = cases().find((x) => x.name === 'causal_lm_generate')!;
    const t = await io(c);
    const model = await NemotronForCausalLM.fromPretrained(c.dir, { device: 'webgpu' });
    const seq = await model.generate(t.get('input_ids')!.to('webgpu'), { maxNewTokens: 8, prefillChunkSize: 2 });
    expect(seq.device).toBe('webgpu');
    expect((await seq.cpu()).tolist()).toEqual(t.get('expected.sequences')!.int().tolist());
  });

  it('token ids out of range fail at the next read (device-side check), and on the host before any work', async () => {
    const c = cases().find((x) => x.name === 'causal_lm')!;
    const model = await NemotronForCausalLM.fromPretrained(c.dir, { device: 'webgpu' });
    const V = model.config.vocab_size;
    const bad = tensor([[1, V + 7, 2]], { dtype: 'int32', device: 'webgpu' });
    const logits = noGrad(() => model.forward({ inputIds: bad }).logits);
    await expect(logits.data()).rejects.toThrow(new RegExp(`^gather: index ${V + 7} is out of range for a dimension of size ${V} .*device-side check`));
    expect((await noGrad(() => model.forward({ inputIds: [[1, 2, 3]] }).logits).data()).length).toBe(3 * V); // the flag was cleared
    await expect(model.generate(bad, { maxNewTokens: 2 })).rejects.toThrow(new RegExp(`input_ids: token id ${V + 7} at \\[0, 1\\] is out of range for vocab_size ${V}`));
    expect(() => model.forward({ inputIds: [[1, -1]] })).toThrow(/input_ids: token id -1 at \[0, 1\] is out of range/);
  });
});
