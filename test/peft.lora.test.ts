// LoRA on the Nemotron models through the PEFT-shaped API (applyLora / getPeftModel, PeftModel.savePretrained,
// loadAdapter, mergeAndUnload), on the tiny golden checkpoints of test/fixtures/nemotron. Expected on-disk names
// and config fields are written here from PEFT's rules (utils/save_and_load.py, tuners/lora/config.py).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, noGrad, openSafetensors, tensor, type Tensor } from '@tensorzoo/tensor';
import { AdamW, init, Linear, LoraLinear } from '@tensorzoo/nn';
import {
  applyLora, getPeftModel, loadAdapter, loraConfig, loraConfigFromDict, loraConfigToDict, ModulesToSaveWrapper, NemotronForCausalLM, NemotronForSequenceClassification, PeftModel,
} from '@tensorzoo/nemotron';
import { FIXTURES, io } from './nemotron.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tensorzoo-peft-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ALL_PROJ = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'];

/** The fixture case's inputs. */
async function inputs(name: string): Promise<{ ids: Tensor; mask: Tensor; labels: Tensor }> {
  const t = await io({ dir: join(FIXTURES, name) } as Parameters<typeof io>[0]);
  return { ids: t.get('input_ids')!, mask: t.get('attention_mask')!, labels: t.get('labels')! };
}

/** Gives every lora_B (zero at init) random values, so the adapter changes the outputs. */
function randomizeB(model: PeftModel, seed = 11, std = 0.3): void {
  const g = new Generator(seed);
  for (const [, l] of model.base_model.loraLayers()) init.normal_(l.lora_B.get('default').weight, 0, std, g);
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.double().dataSync();
  const y = b.double().dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe('applyLora on a Nemotron causal LM (biases, MQA), float64', () => {
  it('injects LoraLinear layers under PEFT\'s in-memory names and freezes the base', async () => {
    const model = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'grads_causal_lm'));
    const peft = applyLora(model, { r: 2, loraAlpha: 4, targetModules: ['q_proj', 'v_proj'] });
    expect(model.model.layers.at(0).self_attn.q_proj).toBeInstanceOf(LoraLinear);
    expect(model.model.layers.at(0).self_attn.k_proj).toBeInstanceOf(Linear);
    const keys = [...peft.stateDict().keys()];
    expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight');
    expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias');
    expect(keys).toContain('base_model.model.model.layers.1.self_attn.v_proj.lora_A.default.weight');
    expect(keys).toContain('base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight');
    const trainable = [...peft.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable.sort()).toEqual([0, 1].flatMap((i) => ['q_proj', 'v_proj'].flatMap((m) => ['A', 'B'].map((ab) => `base_model.model.model.layers.${i}.self_attn.${m}.lora_${ab}.default.weight`))).sort());
    // q_proj: A [2, 16], B [16, 2]; v_proj (one kv head of 8): B [8, 2]
    expect(peft.getNbTrainableParameters().trainable).toBe(2 * (2 * 16 + 16 * 2 + 2 * 16 + 8 * 2));
  });

  for (const fixture of ['grads_causal_lm', 'gqa', 'head_dim_decoupled']) it(`forward equals the merged model's forward, and differs from the base model's (${fixture})`, async () => {
    const { ids, mask } = await inputs(fixture);
    const model = (await NemotronForCausalLM.fromPretrained(join(FIXTURES, fixture))).to('float64');
    const base = noGrad(() => model.forward({ inputIds: ids, attentionMask: mask }).logits);
    const peft = applyLora(model, { r: 3, loraAlpha: 5, targetModules: ALL_PROJ, generator: new Generator(1) });
    randomizeB(peft);
    const adapted = noGrad(() => peft.forward({ inputIds: ids, attentionMask: mask }).logits);
    const merged = peft.mergeAndUnload();
    expect(merged).toBe(model);
    expect([...merged.modules()].some((m) => m instanceof LoraLinear)).toBe(false);
    expect([...merged.stateDict().keys()].some((k) => k.includes('lora_') || k.includes('base_layer'))).toBe(false);
    const after = noGrad(() => merged.forward({ inputIds: ids, attentionMask: mask }).logits);
    expect(maxAbsDiff(adapted, after)).toBeLessThan(1e-12);
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-3);
  });

  it('sends the loss gradient to lora_A / lora_B only, equal to finite differences in float64', async () => {
    const { ids, mask, labels } = await inputs('grads_causal_lm');
    const model = (await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'grads_causal_lm'))).to('float64');
    const peft = applyLora(model, { r: 2, loraAlpha: 3, targetModules: ALL_PROJ, useRslora: true, generator: new Generator(2) });
    randomizeB(peft);
    const loss = () => peft.forward({ inputIds: ids, attentionMask: mask, labels }).loss!;
    loss().backward();
    for (const [n, p] of peft.namedParameters()) {
      if (n.includes('lora_')) expect(p.grad, n).not.toBeNull();
      else expect(p.grad, n).toBeNull();
    }
    const g = new Generator(3);
    for (const [n, p] of peft.namedParameters()) {
      if (!n.includes('lora_')) continue;
      const data = Float64Array.from(p.dataSync());
      const grad = p.grad!.dataSync();
      const set = (d: Float64Array) => noGrad(() => p.copy_(tensor(d, { dtype: 'float64' }).reshape(p.shape)));
      for (let k = 0; k < 2; k++) {
        const i = g.integer(0, data.length);
        const eps = 1e-6;
        const d = Float64Array.from(data);
        d[i] = data[i]! + eps;
        set(d);
        const up = noGrad(() => loss().item());
        d[i] = data[i]! - eps;
        set(d);
        const down = noGrad(() => loss().item());
        set(data);
        const fd = (up - down) / (2 * eps);
        expect(Math.abs(fd - grad[i]!), `${n}[${i}]: finite difference ${fd}, autograd ${grad[i]}`).toBeLessThan(1e-7 + 1e-5 * Math.abs(fd));
      }
    }
  });

  it('a few AdamW steps lower the loss and leave every base weight bit-identical', async () => {
    const { ids, mask, labels } = await inputs('grads_causal_lm');
    const model = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'grads_causal_lm'));
    const before = new Map([...model.namedParameters()].map(([n, p]) => [n, Float32Array.from(p.dataSync())]));
    const tensors = new Map([...model.namedParameters()]);
    const peft = applyLora(model, { r: 4, loraAlpha: 8, loraDropout: 0.1, targetModules: 'all-linear', generator: new Generator(4) });
    peft.train();
    const opt = new AdamW([...peft.parameters()].filter((p) => p.requiresGrad), { lr: 0.02, weightDecay: 0 });
    const losses: number[] = [];
    for (let step = 0; step < 12; step++) {
      opt.zeroGrad();
      const loss = peft.forward({ inputIds: ids, attentionMask: mask, labels }).loss!;
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    peft.eval();
    const final = noGrad(() => peft.forward({ inputIds: ids, attentionMask: mask, labels }).loss!.item());
    expect(final).toBeLessThan(0.9 * losses[0]!);
    for (const [n, t] of tensors) {
      expect(t.grad, n).toBeNull();
      expect(Buffer.from(t.dataSync().buffer).equals(Buffer.from(before.get(n)!.buffer)), `${n} changed`).toBe(true);
    }
  });

  it('adapts a bfloat16 base: float32 adapter, frozen bf16 weights, merge rounds into bf16', async () => {
    const model = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'bf16_checkpoint'));
    const q = model.model.layers.at(0).self_attn.q_proj;
    expect(q.weight.dtype).toBe('bfloat16');
    const values = Float32Array.from(q.weight.float().dataSync()); // bf16 decodes exactly to float32
    const peft = applyLora(model, { r: 2, loraAlpha: 4, targetModules: ['q_proj', 'v_proj'], generator: new Generator(6) });
    const l = peft.base_model.loraLayers()[0]![1];
    expect(l.lora_A.get('default').weight.dtype).toBe('float32');
    randomizeB(peft);
    const ids = [[2, 5, 6, 7, 8]];
    const out = peft.forward({ inputIds: ids, labels: ids });
    out.loss!.backward();
    expect(l.lora_A.get('default').weight.grad).not.toBeNull();
    expect(q.weight.grad).toBeNull();
    expect([...q.weight.float().dataSync()]).toEqual([...values]);
    const adapted = noGrad(() => peft.forward({ inputIds: ids }).logits);
    const before = q.weight.float().clone();
    // PEFT's merge: weight.data += delta.to(bf16): the update rounded to bfloat16, the sum rounded again
    const want = before.add(l.getDeltaWeight().to('bfloat16').float()).to('bfloat16');
    const merged = peft.mergeAndUnload();
    expect(q.weight.dtype).toBe('bfloat16');
    expect(maxAbsDiff(q.weight, want)).toBe(0);
    expect(maxAbsDiff(q.weight, before)).toBeGreaterThan(0);
    expect(maxAbsDiff(noGrad(() => merged.forward({ inputIds: ids }).logits), adapted)).toBeLessThan(0.05);
  });

  it('selects modules as PEFT does: name suffixes, a full-name regex, exclude_modules, all-linear without lm_head', async () => {
    const load = () => NemotronForCausalLM.fromPretrained(join(FIXTURES, 'grads_causal_lm'));
    const adapted = (p: PeftModel) => p.base_model.loraLayers().map(([n]) => n);
    expect(adapted(applyLora(await load(), { targetModules: ['self_attn.q_proj', 'down_proj'] }))).toEqual([
      'model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.down_proj',
    ]);
    expect(adapted(applyLora(await load(), { targetModules: String.raw`.*\.layers\.0\.self_attn\.(q|v)_proj` }))).toEqual([
      'model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj',
    ]);
    // a regex must match the whole name
    await expect(load().then((m) => applyLora(m, { targetModules: 'q_proj' }))).rejects.toThrow(/target modules "q_proj" not found/);
    expect(adapted(applyLora(await load(), { targetModules: ['q_proj', 'v_proj'], excludeModules: ['layers.1.self_attn.q_proj'] }))).toEqual([
      'model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.v_proj',
    ]);
    const all = adapted(applyLora(await load(), { targetModules: 'all-linear' }));
    expect(all).toHaveLength(12);
    expect(all.some((n) => n.includes('lm_head'))).toBe(false);
    await expect(load().then((m) => applyLora(m, { targetModules: ['qproj'] }))).rejects.toThrow(/target modules \["qproj"\] not found in the base model; its Linear layers are: q_proj, k_proj, v_proj, o_proj, up_proj, down_proj, lm_head/);
    await expect(load().then((m) => applyLora(m, { targetModules: ['mlp'] }))).rejects.toThrow(/'model.layers.0.mlp' is a NemotronMLP; only Linear layers can be adapted/);
  });

  it('takes PEFT\'s defaults for options not given, and per-module ranks and alphas from rank_pattern / alpha_pattern', async () => {
    const m = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'grads_causal_lm'));
    const peft = applyLora(m, { r: 2, loraAlpha: 4, targetModules: ['q_proj', 'v_proj'], rankPattern: { 'layers\\.1\\.self_attn\\.v_proj': 5 }, alphaPattern: { q_proj: 10 } });
    const byName = new Map(peft.base_model.loraLayers());
    expect(applyLora(await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'grads_causal_lm')), { targetModules: ['q_proj'], modulesToSave: undefined, useRslora: undefined }).peftConfig)
      .toMatchObject({ modulesToSave: null, useRslora: false, r: 8, loraAlpha: 8 });
    expect([byName.get('model.layers.1.self_attn.v_proj')!.r, byName.get('model.layers.0.self_attn.v_proj')!.r]).toEqual([5, 2]);
    expect([byName.get('model.layers.0.self_attn.q_proj')!.scaling, byName.get('model.layers.1.self_attn.v_proj')!.scaling]).toEqual([5, 4 / 5]);
  });
});

describe('PEFT adapter files', () => {
  it('a sequence-classification adapter saves PEFT\'s exact key names and config, and loads back to the same outputs', async () => {
    const dir = join(FIXTURES, 'seq_cls_single_label');
    const { ids, mask } = await inputs('seq_cls_single_label');
    const model = await NemotronForSequenceClassification.fromPretrained(dir);
    const peft = getPeftModel(model, loraConfig({ taskType: 'SEQ_CLS', r: 2, loraAlpha: 6, loraDropout: 0.05, targetModules: ['q_proj', 'v_proj'], baseModelNameOrPath: dir }), { generator: new Generator(5) });
    expect(model.score).toBeInstanceOf(ModulesToSaveWrapper);
    expect([...peft.stateDict().keys()].filter((k) => k.includes('score'))).toEqual([
      'base_model.model.score.original_module.weight', 'base_model.model.score.modules_to_save.default.weight',
    ]);
    randomizeB(peft);
    const headCopy = (model.score as unknown as ModulesToSaveWrapper).active.weight;
    noGrad(() => headCopy.copy_(headCopy.mul(1.5)));
    expect(maxAbsDiff((model.score as unknown as ModulesToSaveWrapper).original_module.weight.mul(1.5), headCopy)).toBe(0);
    // fromPretrained returns eval mode, and the injected layers (their lora_dropout included) follow it
    expect([...model.modules()].every((m) => !m.training)).toBe(true);
    const adapted = noGrad(() => peft.forward({ inputIds: ids, attentionMask: mask }).logits);

    const out = join(tmp, 'seq-cls-adapter');
    await peft.savePretrained(out);
    const file = await openSafetensors(join(out, 'adapter_model.safetensors'));
    // PEFT: keep 'lora_' tensors and the modules_to_save copy, then drop '.default'
    const expected = [0, 1].flatMap((i) => ['q_proj', 'v_proj'].flatMap((m) => ['A', 'B'].map((ab) => `base_model.model.model.layers.${i}.self_attn.${m}.lora_${ab}.weight`)));
    expect([...file.names].sort()).toEqual([...expected, 'base_model.model.score.weight'].sort());
    expect(file.metadata).toEqual({ format: 'pt' });
    expect((await file.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')).shape).toEqual([2, 24]);
    expect((await file.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')).shape).toEqual([24, 2]);
    expect(maxAbsDiff(await file.get('base_model.model.score.weight'), headCopy)).toBe(0);
    await file.close();
    const raw = readFileSync(join(out, 'adapter_config.json'), 'utf8');
    const cfg = JSON.parse(raw) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      peft_type: 'LORA', task_type: 'SEQ_CLS', base_model_name_or_path: dir, r: 2, lora_alpha: 6, lora_dropout: 0.05, bias: 'none',
      target_modules: ['q_proj', 'v_proj'], modules_to_save: ['classifier', 'score'], fan_in_fan_out: false, use_rslora: false,
      use_dora: false, init_lora_weights: true, inference_mode: true, rank_pattern: {}, alpha_pattern: {}, layers_to_transform: null,
    });
    expect(Object.keys(cfg)).toEqual(Object.keys(cfg).sort());

    const fresh = await NemotronForSequenceClassification.fromPretrained(dir);
    const loaded = await PeftModel.fromPretrained(fresh, out);
    expect(loaded.peftConfig).toMatchObject({ r: 2, loraAlpha: 6, taskType: 'SEQ_CLS', modulesToSave: ['classifier', 'score'] });
    expect(loaded.getNbTrainableParameters().trainable).toBe(0); // PEFT's is_trainable=False
    const reloaded = noGrad(() => loaded.forward({ inputIds: ids, attentionMask: mask }).logits);
    expect(maxAbsDiff(adapted, reloaded)).toBe(0);
    // saving the loaded adapter writes the same tensors and config
    const again = join(tmp, 'seq-cls-adapter-again');
    await loaded.saveAdapter(again);
    expect(readFileSync(join(again, 'adapter_config.json'), 'utf8')).toBe(raw);
    expect(readFileSync(join(again, 'adapter_model.safetensors')).equals(readFileSync(join(out, 'adapter_model.safetensors')))).toBe(true);
    // merged, the classifier is the base model with the trained head in place of the original
    const merged = loaded.mergeAndUnload();
    expect(merged.score).toBeInstanceOf(Linear);
    expect(maxAbsDiff(noGrad(() => merged.forward({ inputIds: ids, attentionMask: mask }).logits), adapted)).toBeLessThan(1e-5);
  });

  it('reads the adapter_config.json a recent PEFT writes and writes it back unchanged', () => {
    // the fields of PEFT 0.19's LoraConfig as save_pretrained writes them (sorted keys, inference_mode true)
    const written = {
      alora_invocation_tokens: null, alpha_pattern: {}, arrow_config: null, auto_mapping: null, base_model_name_or_path: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
      bias: 'none', corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null, fan_in_fan_out: false, inference_mode: true,
      init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: 32, lora_bias: false,
      lora_dropout: 0.05, lora_ga_config: null, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA',
      peft_version: '0.19.1', qalora_group_size: 16, r: 16, rank_pattern: {}, revision: null,
      target_modules: ['o_proj', 'v_proj', 'gate_proj', 'down_proj', 'k_proj', 'q_proj', 'up_proj'], target_parameters: null, task_type: 'CAUSAL_LM',
      trainable_token_indices: null, use_bdlora: null, use_dora: false, use_qalora: false, use_rslora: false,
    };
    const c = loraConfigFromDict(written);
    expect(c).toMatchObject({ r: 16, loraAlpha: 32, loraDropout: 0.05, taskType: 'CAUSAL_LM', targetModules: written.target_modules, modulesToSave: null, inferenceMode: true });
    expect(JSON.stringify(loraConfigToDict(c))).toBe(JSON.stringify(written));
    // what this port writes for a fresh config has the same fields, less the version stamps of PEFT's own releases
    const ours = Object.keys(loraConfigToDict(loraConfig({ targetModules: ['q_proj'] })));
    expect(ours).toEqual(Object.keys(written).filter((k) => !['peft_version', 'lora_ga_config', 'use_bdlora'].includes(k)));
  });

  it('refuses adapter files that do not fit the model, with the reason', async () => {
    const dir = join(FIXTURES, 'grads_causal_lm');
    const peft = applyLora(await NemotronForCausalLM.fromPretrained(dir), { r: 2, targetModules: ['q_proj'] });
    const out = join(tmp, 'causal-adapter');
    await peft.savePretrained(out);
    const cfgPath = join(out, 'adapter_config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    const target = await NemotronForCausalLM.fromPretrained(dir);
    const q = target.model.layers.at(0).self_attn.q_proj;
    const withConfig = async (patch: Record<string, unknown>) => {
      writeFileSync(cfgPath, JSON.stringify({ ...cfg, ...patch }));
      try {
        return await loadAdapter(target, out);
      } finally {
        // a refused file leaves the model as it was
        expect(target.model.layers.at(0).self_attn.q_proj).toBe(q);
        expect([...target.modules()].some((m) => m instanceof LoraLinear)).toBe(false);
      }
    };
    await expect(withConfig({ r: 3 })).rejects.toThrow(/size mismatch for base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight: checkpoint \[2,16\], model \[3,16\]/);
    await expect(withConfig({ target_modules: ['q_proj', 'v_proj'] })).rejects.toThrow(/missing adapter keys: base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight/);
    await expect(withConfig({ use_dora: true })).rejects.toThrow(/adapter_config.json: use_dora = true is not supported/);
    await expect(withConfig({ peft_type: 'IA3' })).rejects.toThrow(/peft_type "IA3" is not supported/);
    await expect(withConfig({ target_modules: ['o_proj'] })).rejects.toThrow(/unexpected keys \(not in this model's adapter\): base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight/);
    writeFileSync(cfgPath, JSON.stringify(cfg));
    await expect(loadAdapter(await NemotronForCausalLM.fromPretrained(dir), join(tmp, 'nothing-here'))).rejects.toThrow(/no LoRA adapter in .*nothing-here \(adapter_config.json not found\)/);
    const ok = await loadAdapter(await NemotronForCausalLM.fromPretrained(dir), out);
    expect(ok.getNbTrainableParameters().trainable).toBe(2 * (2 * 16 + 16 * 2));
    expect((await loadAdapter(await NemotronForCausalLM.fromPretrained(dir), out, { isTrainable: false })).getNbTrainableParameters().trainable).toBe(0);
  });

  it('unload puts the original Linear layers back without merging', async () => {
    const model = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'grads_causal_lm'));
    const q = model.model.layers.at(1).self_attn.q_proj;
    const w = Float32Array.from(q.weight.dataSync());
    const peft = applyLora(model, { r: 2, targetModules: ['q_proj'] });
    randomizeB(peft);
    const plain = peft.unload();
    expect(plain.model.layers.at(1).self_attn.q_proj).toBe(q);
    expect([...q.weight.dataSync()]).toEqual([...w]);
  });
});
