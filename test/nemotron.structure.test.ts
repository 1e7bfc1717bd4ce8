// The shape of the package: the MLP runs the activation config.json names (against a float64 reference written
// here), unknown activations are refused when the config is parsed, every class is a NemotronPreTrainedModel that
// saves and loads through the one generic PreTrainedModel, and generation needs only the CausalLM interface.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator, noGrad, randn, tensor, zeros, type Tensor } from '@tensorzoo/tensor';
import {
  NemotronConfig, NemotronForCausalLM, NemotronForQuestionAnswering, NemotronForSequenceClassification, NemotronForTokenClassification,
  NemotronMLP, NemotronModel, NemotronPreTrainedModel, PreTrainedModel, generate, type CausalLM, type DecoderInputs,
} from '@tensorzoo/nemotron';

const SMALL = { vocab_size: 32, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 64 };

/** transformers' ACT2FN semantics in float64, written out independently of the library. */
const REFERENCE: Record<string, (x: number) => number> = {
  gelu_pytorch_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  silu: (x) => x / (1 + Math.exp(-x)),
  relu2: (x) => Math.max(x, 0) ** 2,
};

/** down(act(up(x))) in float64 with plain loops; x [n, hidden], weights [out, in] as Linear stores them. */
function mlpReference(x: Float64Array, n: number, up: Float64Array, down: Float64Array, hidden: number, inter: number, act: (v: number) => number): Float64Array {
  const out = new Float64Array(n * hidden);
  for (let r = 0; r < n; r++) {
    const a = new Float64Array(inter);
    for (let j = 0; j < inter; j++) {
      let s = 0;
      for (let k = 0; k < hidden; k++) s += up[j * hidden + k]! * x[r * hidden + k]!;
      a[j] = act(s);
    }
    for (let i = 0; i < hidden; i++) {
      let s = 0;
      for (let j = 0; j < inter; j++) s += down[i * inter + j]! * a[j]!;
      out[r * hidden + i] = s;
    }
  }
  return out;
}

const f64 = (t: Tensor) => Float64Array.from(t.dataSync());

describe('NemotronMLP runs config.hidden_act', () => {
  for (const act of Object.keys(REFERENCE)) {
    it(`${act}: matches a float64 down(act(up(x)))`, () => {
      // through config.json parsing and the full model, so the wiring from the config to the layer is what is tested
      const model = new NemotronModel(NemotronConfig.fromDict({ ...SMALL, hidden_act: act }));
      const mlp = model.layers.at(1).mlp;
      expect(mlp).toBeInstanceOf(NemotronMLP);
      const x = randn([5, SMALL.hidden_size], { generator: new Generator(7) }).mul(2);
      const got = f64(noGrad(() => mlp.forward(x)));
      const want = mlpReference(f64(x), 5, f64(mlp.up_proj.weight), f64(mlp.down_proj.weight), SMALL.hidden_size, SMALL.intermediate_size, REFERENCE[act]!);
      const scale = Math.max(...want.map(Math.abs));
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * scale + 1e-6);
      // the same weights under another activation give another result, so the comparison above can tell them apart
      const relu2 = mlpReference(f64(x), 5, f64(mlp.up_proj.weight), f64(mlp.down_proj.weight), SMALL.hidden_size, SMALL.intermediate_size, REFERENCE.relu2!);
      if (act !== 'relu2') expect(Math.max(...want.map((v, i) => Math.abs(v - relu2[i]!)))).toBeGreaterThan(1e-2 * scale);
    });
  }

  it('an unknown hidden_act is refused when the config is parsed, naming the value and the allowed names', async () => {
    const allowed = /allowed: .*\brelu2\b.*\bgelu\b.*\bgelu_new\b.*\bgelu_pytorch_tanh\b.*\bsilu\b.*\btanh\b.*\bsigmoid\b/;
    expect(() => NemotronConfig.fromDict({ ...SMALL, hidden_act: 'swiglu' })).toThrow(/hidden_act "swiglu" is not a supported activation/);
    expect(() => NemotronConfig.fromDict({ ...SMALL, hidden_act: 'swiglu' })).toThrow(allowed);
    expect(() => new NemotronConfig({ ...SMALL, hidden_act: 'toString' })).toThrow(/hidden_act "toString"/);
    const dir = mkdtempSync(join(tmpdir(), 'tz-act-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...SMALL, hidden_act: 'quick_gelu' }));
    await expect(NemotronForCausalLM.fromPretrained(dir)).rejects.toThrow(/config\.json: NemotronConfig: hidden_act "quick_gelu"/);
  });
});

describe('class hierarchy and save / load', () => {
  const config = new NemotronConfig({ ...SMALL, id2label: { 0: 'neg', 1: 'neutral', 2: 'pos' }, pad_token_id: 0 });
  const classes = [NemotronModel, NemotronForCausalLM, NemotronForSequenceClassification, NemotronForTokenClassification, NemotronForQuestionAnswering];

  it('NemotronModel and every head are NemotronPreTrainedModel (and the generic PreTrainedModel)', () => {
    for (const C of classes) {
      const m = new C(config);
      expect(m).toBeInstanceOf(NemotronPreTrainedModel);
      expect(m).toBeInstanceOf(PreTrainedModel);
      expect(m.baseModel).toBeInstanceOf(NemotronModel);
    }
    const bare = new NemotronModel(config);
    expect(bare.baseModel).toBe(bare);
  });

  async function roundTrip<M extends NemotronPreTrainedModel>(model: M, load: (dir: string) => Promise<M & { loadingInfo: { newlyInitialized: string[]; ignored: string[] } }>): Promise<M> {
    const dir = mkdtempSync(join(tmpdir(), 'tz-rt-'));
    await model.savePretrained(dir);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(saved.architectures).toEqual([model.constructor.name]);
    const loaded = await load(dir);
    expect(loaded.constructor).toBe(model.constructor);
    expect(loaded.loadingInfo).toEqual({ newlyInitialized: [], ignored: [] });
    expect({ ...loaded.config.toDict(), architectures: null }).toEqual({ ...model.config.toDict(), architectures: null });
    const want = model.stateDict();
    const got = loaded.stateDict();
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [k, v] of want) expect(Array.from(got.get(k)!.dataSync()), k).toEqual(Array.from(v.dataSync()));
    return loaded;
  }

  it('NemotronModel round-trips through savePretrained / fromPretrained', async () => {
    await roundTrip(new NemotronModel(config), (d) => NemotronModel.fromPretrained(d));
  });

  it('a classification head round-trips, labels included', async () => {
    const loaded = await roundTrip(new NemotronForSequenceClassification(config), (d) => NemotronForSequenceClassification.fromPretrained(d));
    expect(loaded.config.id2label).toEqual({ 0: 'neg', 1: 'neutral', 2: 'pos' });
    expect(loaded.score.weight.shape).toEqual([3, SMALL.hidden_size]);
  });

  it('a causal LM with tied embeddings round-trips with its generation config', async () => {
    const model = new NemotronForCausalLM(new NemotronConfig({ ...SMALL, tie_word_embeddings: true }));
    model.generationConfig = { maxNewTokens: 3, eosTokenId: 5 };
    const loaded = await roundTrip(model, (d) => NemotronForCausalLM.fromPretrained(d));
    expect(loaded.lm_head.weight).toBe(loaded.model.embed_tokens.weight);
    expect(loaded.generationConfig).toMatchObject({ maxNewTokens: 3, eosTokenId: 5 });
  });
});

describe('generation is model-agnostic', () => {
  it('generate() drives any CausalLM: a counting model with a cache continues n -> n + 1', async () => {
    const V = 10;
    const fed: number[] = [];
    const model: CausalLM = {
      config: { num_hidden_layers: 1, vocab_size: V },
      generationConfig: { eosTokenId: null },
      forward(inputs: DecoderInputs & { logitsToKeep?: number }) {
        const rows = inputs.inputIds as number[][];
        fed.push(rows[0]!.length);
        const kv = zeros([rows.length, 1, rows[0]!.length, 1]);
        inputs.pastKeyValues!.update(kv, kv, 0);
        const logits = rows.map((r) => [Array.from({ length: V }, (_, v) => (v === (r[r.length - 1]! + 1) % V ? 1 : 0))]);
        return { logits: tensor(logits) };
      },
    };
    const out = await generate(model, [[3, 4], [8, 9]], { maxNewTokens: 4 });
    expect(out.tolist()).toEqual([[3, 4, 5, 6, 7, 8], [8, 9, 0, 1, 2, 3]]);
    expect(fed).toEqual([2, 1, 1, 1]); // the prompt once, then one token per step: the cache carries the rest
  });
});
