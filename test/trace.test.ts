// tensorzoo trace: a trace of each golden model holds its golden hidden states, attention maps and logits under
// Hugging Face's module names (float32 at the goldens' tolerance, float64 tighter); with --grad the gradients are
// those of loss.backward() through the API; the CLI end to end (keys in execution order, metadata, usage errors).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors, openSafetensors, stack, type DType, type Tensor } from '@tensorzoo/tensor';
import { AutoModel, lastNonPadIndex, NemotronForCausalLM, type AnyNemotronModel } from '@tensorzoo/nemotron';
import { traceModel } from '../packages/nemotron/dist/cli/trace.js';
import { SafetensorsStreamWriter } from '../packages/nemotron/dist/cli/trace-writer.js';
import { runCli, writeTinyCausalLM } from './cli.helpers.js';
import { assertClose, cases, FIXTURES, io, type Case, type Tolerance } from './nemotron.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tz-trace-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * A float64 run, 100 times tighter than the goldens' float32 tolerance: the goldens are float64 results rounded to
 * float32 whose attention softmax ran in float32 (HF's eager attention upcasts to float32, which in a float64 model
 * rounds), which leaves differences up to about 1.5e-7.
 */
const FLOAT64_TOL: Tolerance = { atol: 1e-6, rtol: 1e-6 };

/** Traces through the streaming writer into a file and reads it back. */
async function traceFile(model: AnyNemotronModel, inputs: Parameters<typeof traceModel>[1], file: string, opts: Parameters<typeof traceModel>[3] = {}) {
  const w = new SafetensorsStreamWriter(file);
  traceModel(model, inputs, (n, t) => w.add(n, t), opts);
  w.close({ format: 'pt' });
  return loadSafetensors(file);
}

/** The golden tensors a trace must reproduce: expected name -> the traced value it corresponds to. */
function goldenPairs(c: Case, t: Map<string, Tensor>, tr: Map<string, Tensor>, model: AnyNemotronModel): [string, Tensor, Tensor][] {
  const base = c.model_class === 'NemotronModel' ? '' : `${model.basePrefix}.`;
  const get = (k: string) => {
    const v = tr.get(k);
    if (!v) throw new Error(`trace has no ${k}`);
    return v;
  };
  const L = model.config.num_hidden_layers;
  const pairs: [string, Tensor, Tensor][] = [];
  for (const [name, e] of t) {
    if (!name.startsWith('expected.')) continue;
    const field = name.slice('expected.'.length);
    if (field === 'hidden_states') {
      const hs = [get(`${base}embed_tokens`), ...Array.from({ length: L - 1 }, (_, i) => get(`${base}layers.${i}`)), get(`${base}norm`)];
      pairs.push([name, stack(hs), e]);
    } else if (field === 'attentions') {
      pairs.push([name, stack(Array.from({ length: L }, (_, i) => get(`${base}layers.${i}.self_attn.attn_weights`))), e]);
    } else if (field === 'last_hidden_state') {
      pairs.push([name, get(`${base}norm`), e]);
    } else if (field === 'logits') {
      if (c.model_class === 'NemotronForCausalLM') pairs.push([name, get('lm_head'), e]);
      else if (c.model_class === 'NemotronForTokenClassification') pairs.push([name, get('score'), e]);
      else if (c.model_class === 'NemotronForSequenceClassification') {
        const idx = lastNonPadIndex(t.get('input_ids')!.int(), model.config.pad_token_id).tolist() as number[];
        const all = get('score');
        pairs.push([name, stack(idx.map((p, b) => all.select(0, b).select(0, p))), e]);
      }
    } else if (field === 'start_logits' || field === 'end_logits') {
      pairs.push([name, get('qa_outputs').select(-1, field === 'start_logits' ? 0 : 1), e]);
    }
  }
  return pairs;
}

const forwardCases = cases().filter((c) => c.call.method.startsWith('forward'));

describe('trace of the golden models', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const c of forwardCases) {
      it(`${c.name} (${dtype}): traced hidden states, attentions and logits equal the goldens`, async () => {
        const t = await io(c);
        const model = await AutoModel.fromPretrained(c.dir, { dtype });
        const inputs = { inputIds: t.get('input_ids')!, attentionMask: t.get('attention_mask'), positionIds: t.get('position_ids') };
        const tr = await traceFile(model, inputs, join(tmp, `${c.name}-${dtype}.safetensors`));
        expect([...tr.keys()][0]).toBe('input_ids');
        const pairs = goldenPairs(c, t, tr, model);
        expect(pairs.length).toBeGreaterThan(0);
        for (const [name, actual, expected] of pairs) {
          expect(actual.dtype).toBe(dtype);
          assertClose(name, actual, expected, dtype === 'float64' ? FLOAT64_TOL : c.tolerance.per_tensor[name] ?? c.tolerance.default);
        }
      });
    }
  }

  it('keys follow namedModules(), in execution order, one per module output, plus attention probabilities', async () => {
    const c = forwardCases.find((x) => x.name === 'causal_lm')!;
    const model = await AutoModel.fromPretrained(c.dir);
    const file = join(tmp, 'order.safetensors');
    const w = new SafetensorsStreamWriter(file);
    traceModel(model, { inputIds: [[1, 2, 3]] }, (n, t) => w.add(n, t));
    w.close({});
    const f = await openSafetensors(file);
    const layer = (i: number) => [
      'input_layernorm', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'self_attn', 'self_attn.attn_weights',
      'post_attention_layernorm', 'mlp.up_proj', 'mlp.down_proj', 'mlp', '',
    ].map((s) => (s ? `model.layers.${i}.${s}` : `model.layers.${i}`));
    expect(f.names).toEqual(['input_ids', 'model.embed_tokens', ...layer(0), ...layer(1), 'model.norm', 'model', 'lm_head']);
    expect(f.info('model.layers.1.self_attn.attn_weights').shape).toEqual([1, 3, 3, 3]);
    expect(f.info('input_ids').dtype).toBe('I32');
    await f.close();
  });

  it('streams: each tensor is on disk when the next one is computed, and nothing is left behind', async () => {
    const c = forwardCases.find((x) => x.name === 'causal_lm')!;
    const model = await AutoModel.fromPretrained(c.dir);
    const dir = join(tmp, 'stream');
    mkdirSync(dir);
    const w = new SafetensorsStreamWriter(join(dir, 'trace.safetensors'));
    const onDisk = () => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    let written = 0;
    traceModel(model, { inputIds: [[1, 2, 3]] }, (n, t) => {
      expect(onDisk(), n).toBe(written);
      w.add(n, t);
      written += t.numel() * 4;
    });
    expect(onDisk()).toBe(written);
    w.close({});
    expect(readdirSync(dir)).toEqual(['trace.safetensors']);
  });

  it('--modules keeps the matching keys; hooks are gone afterwards', async () => {
    const c = forwardCases.find((x) => x.name === 'causal_lm')!;
    const model = await AutoModel.fromPretrained(c.dir);
    const keys: string[] = [];
    traceModel(model, { inputIds: [[1, 2, 3]] }, (n) => keys.push(n), { modules: /^model\.layers\.1\.mlp/ });
    expect(keys).toEqual(['input_ids', 'model.layers.1.mlp.up_proj', 'model.layers.1.mlp.down_proj', 'model.layers.1.mlp']);
    for (const m of model.modules()) expect(Object.hasOwn(m, 'forward')).toBe(false);
  });

  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`--grad (${dtype}): loss and every parameter's gradient equal loss.backward() through the API`, async () => {
      const c = forwardCases.find((x) => x.name === 'grads_causal_lm')!;
      const ids = ((await io(c)).get('input_ids')!.int().tolist() as number[][]).slice(0, 1);
      const tr = await traceFile(await AutoModel.fromPretrained(c.dir, { dtype }), { inputIds: ids }, join(tmp, `grad-${dtype}.safetensors`), { grad: true });
      const api = await NemotronForCausalLM.fromPretrained(c.dir, { dtype });
      api.requiresGrad_(true);
      const { loss } = api.forward({ inputIds: ids, labels: ids });
      loss!.backward();
      const exact: Tolerance = { atol: 0, rtol: 0 };
      assertClose('loss', tr.get('loss')!, loss!, exact);
      const params = [...api.namedParameters()];
      expect([...tr.keys()].filter((k) => k.startsWith('grad.'))).toEqual(params.map(([n]) => `grad.${n}`));
      for (const [n, p] of params) assertClose(`grad.${n}`, tr.get(`grad.${n}`)!, p.grad!, exact);
      expect([...tr.keys()].indexOf('loss')).toBe([...tr.keys()].indexOf('lm_head') + 1);
    });
  }
});

describe('tensorzoo trace (CLI)', () => {
  const c = forwardCases.find((x) => x.name === 'causal_lm')!;

  it('--ids on a folder without a tokenizer: the first row of the golden batch, with metadata', async () => {
    const t = await io(c);
    const row = (t.get('input_ids')!.int().tolist() as number[][])[0]!;
    const out = join(tmp, 'cli.safetensors');
    const r = runCli(tmp, ['trace', '--model', c.dir, '--ids', row.join(','), '--dtype', 'float64', '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote 29 tensors \([\d.]+ MiB\) to .*cli\.safetensors\n$/);
    const f = await openSafetensors(out);
    expect(f.metadata.dtype).toBe('float64');
    expect(f.metadata.tensorzoo_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(JSON.parse(f.metadata.input_ids!)).toEqual([row]);
    expect(JSON.parse(f.metadata.config!).num_hidden_layers).toBe(2);
    expect(f.metadata.model_class).toBe('NemotronForCausalLM');
    await f.close();
    const tr = await loadSafetensors(out);
    assertClose('logits[0]', tr.get('lm_head')!.select(0, 0), t.get('expected.logits')!.select(0, 0), FLOAT64_TOL);
    const hs = t.get('expected.hidden_states')!;
    assertClose('hidden_states[1][0]', tr.get('model.layers.0')!.select(0, 0), hs.select(0, 1).select(0, 0), FLOAT64_TOL);
  });

  it('--prompt tokenizes with the model folder\'s tokenizer and records the prompt', async () => {
    const dir = join(tmp, 'tiny');
    await writeTinyCausalLM(dir);
    const out = join(tmp, 'prompt.safetensors');
    const r = runCli(tmp, ['trace', '--model', dir, '--prompt', 'Hello world', '--grad', '--out', out]);
    expect(r.code, r.err).toBe(0);
    const f = await openSafetensors(out);
    expect(f.metadata.prompt).toBe('Hello world');
    expect(f.names).toContain('loss');
    expect(f.names).toContain('grad.model.embed_tokens.weight');
    await f.close();
  });

  it('usage errors exit 2 with one line, before loading anything', () => {
    const out = join(tmp, 'x.safetensors');
    const cases: [string[], RegExp][] = [
      [['--model', c.dir, '--out', out], /give exactly one of --prompt TEXT and --ids/],
      [['--model', c.dir, '--ids', '1,2', '--prompt', 'a', '--out', out], /give exactly one of/],
      [['--model', c.dir, '--ids', '1,x', '--out', out], /--ids "1,x" is not allowed/],
      [['--model', c.dir, '--ids', '1,40', '--out', out], /token id 40 is out of range for vocab_size 40/],
      [['--model', c.dir, '--ids', '1', '--modules', '(', '--out', out], /--modules "\(" is not a regular expression/],
      [['--model', c.dir, '--ids', '1', '--dtype', 'float16', '--out', out], /--dtype "float16" is not allowed/],
      [['--model', c.dir, '--ids', '1'], /--out FILE.safetensors is required/],
      [['--model', c.dir, '--ids', '1', '--out', join(tmp, 'nope', 'x.safetensors')], /folder .*nope does not exist/],
      [['--model', join(FIXTURES, 'base_model'), '--ids', '1', '--grad', '--out', out], /--grad needs a causal LM/],
    ];
    for (const [args, msg] of cases) {
      const r = runCli(tmp, ['trace', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });
});

