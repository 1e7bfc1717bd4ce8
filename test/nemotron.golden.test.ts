// Every golden case of ../shared/fixtures/nemotron (copied to test/fixtures/nemotron) through the public API.
import { describe, expect, it } from 'vitest';
import { noGrad, stack, type Tensor } from '@tensorzoo/tensor';
import { AutoModel, NemotronForCausalLM, NemotronForSequenceClassification, lastNonPadIndex, type NemotronModel } from '@tensorzoo/nemotron';
import { assertClose, cases, excess, io, type Case } from './nemotron.helpers.js';

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Builds the forward() argument from the case's inputs and kwargs. */
function forwardArgs(c: Case, t: Map<string, Tensor>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const name of c.call.inputs) args[camel(name)] = t.get(name);
  for (const [k, v] of Object.entries(c.call.kwargs ?? {})) args[camel(k)] = v;
  return args;
}

/** The model output that an `expected.<field>` tensor describes. */
function actualOf(out: Record<string, unknown>, field: string): Tensor {
  const v = out[camel(field)];
  if (Array.isArray(v)) return stack(v as Tensor[]);
  if (!v) throw new Error(`the model returned no ${camel(field)}`);
  return v as Tensor;
}

function tolFor(c: Case, name: string) {
  return c.tolerance.per_tensor[name] ?? c.tolerance.default;
}

const all = cases();

describe('Nemotron golden cases (Hugging Face transformers v4.56, float64 truth)', () => {
  it('has all 24 cases', () => expect(all.length).toBe(24));

  for (const c of all.filter((x) => x.call.method === 'forward' || x.call.method === 'forward+backward')) {
    it(`${c.name}: ${c.model_class}.${c.call.method}`, async () => {
      const t = await io(c);
      const model = await AutoModel.fromPretrained(c.dir);
      expect(model.constructor.name).toBe(c.model_class);
      const grad = c.call.method === 'forward+backward';
      if (grad) model.train(false).requiresGrad_(true);
      const run = () => (model as unknown as { forward(a: unknown): Record<string, unknown> }).forward(forwardArgs(c, t));
      const out = grad ? run() : noGrad(run);
      let checked = 0;
      // Head classes return no last_hidden_state (as in HF); those cases take it from the backbone, as model.model(...) does.
      if (t.has('expected.last_hidden_state') && !out.lastHiddenState) {
        out.lastHiddenState = noGrad(() => model.baseModel.forward(forwardArgs(c, t) as never).lastHiddenState);
      }
      for (const [name, v] of t) {
        if (name.startsWith('expected.')) {
          assertClose(name, actualOf(out, name.slice('expected.'.length)), v, tolFor(c, name));
          checked++;
        } else if (name.startsWith('diagnostic.')) {
          // a common mistake's output: we must not reproduce it
          expect(excess(actualOf(out, 'logits'), v, tolFor(c, name)).worst).toBeGreaterThan(0);
        } else if (name === 'aux.pooled_index') {
          expect(Array.from(lastNonPadIndex(t.get('input_ids')!.int(), model.config.pad_token_id).dataSync())).toEqual(Array.from(v.dataSync()));
        }
      }
      expect(checked).toBeGreaterThan(0);
      if (grad) {
        (out.loss as Tensor).backward();
        const g = await io(c, c.grads!.file);
        const params = new Map(model.stateDict());
        for (const [name, expected] of g) {
          const p = [...model.namedParameters()].find(([n]) => n === name.slice('grad.'.length));
          const tensorOf = p?.[1] ?? params.get(name.slice('grad.'.length));
          expect(tensorOf, name).toBeDefined();
          const shared = [...model.namedParameters()].find(([, q]) => q === tensorOf)![1];
          assertClose(name, shared.grad!, expected, c.grads!.tolerance);
        }
        expect(g.size).toBe(c.info!.num_parameters_with_grad as number);
      }
    });
  }

  for (const c of all.filter((x) => x.call.method === 'generate')) {
    it(`${c.name}: greedy generate() equals HF's sequences`, async () => {
      const t = await io(c);
      const model = await NemotronForCausalLM.fromPretrained(c.dir);
      expect(model.generationConfig?.eosTokenId).toBe(c.info!.eos_token_id);
      const kw = c.call.kwargs as { max_new_tokens: number; do_sample: boolean };
      const streamed: number[] = [];
      const seq = await model.generate(t.get('input_ids')!, { maxNewTokens: kw.max_new_tokens, doSample: kw.do_sample, onToken: (tk) => streamed.push(tk[0]!) });
      const expected = t.get('expected.sequences')!;
      expect(seq.tolist()).toEqual(expected.int().tolist());
      expect(streamed).toEqual((expected.int().tolist() as number[][])[0]!.slice(t.get('input_ids')!.shape[1]));
      expect(streamed.length).toBe(c.info!.generated_tokens);
    });
  }

  const head = all.find((x) => x.name === 'grads_seq_cls_head')!;
  it('grads_seq_cls_head: a head trained on a frozen backbone gets HF gradients', async () => {
    const t = await io(head);
    const model = await NemotronForSequenceClassification.fromPretrained(head.dir);
    const ids = t.get('input_ids')!.int();
    const base = noGrad(() => (model.model as NemotronModel).forward({ inputIds: ids, attentionMask: t.get('attention_mask') }).lastHiddenState);
    const h = base.detach().requiresGrad_();
    model.score.requiresGrad_(true);
    const logits = model.poolAndScore(h, ids);
    const loss = model.loss(logits, t.get('labels')!.int());
    loss.backward();
    assertClose('expected.last_hidden_state', base, t.get('expected.last_hidden_state')!, head.tolerance.default);
    assertClose('expected.logits', logits, t.get('expected.logits')!, head.tolerance.default);
    assertClose('expected.loss', loss, t.get('expected.loss')!, head.tolerance.default);
    const g = await io(head, 'grads.safetensors');
    assertClose('grad.score.weight', model.score.weight.grad!, g.get('grad.score.weight')!, head.grads!.tolerance);
    assertClose('grad.last_hidden_state', h.grad!, g.get('grad.last_hidden_state')!, head.grads!.tolerance);
  });
});
