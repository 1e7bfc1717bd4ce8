// tensorzoo trace: every module's output on one input, keyed as namedModules() (Hugging Face) names the module,
// streamed to a safetensors file in execution order, with the loss and every parameter's gradient on request.
// What a porter diffs against (tensorzoo compare) to find the first module where a port diverges.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { noGrad, Tensor } from '@tensorzoo/tensor';
import type { RemovableHandle } from '@tensorzoo/nn';
import { AutoModel, loadConfig, NemotronAttention, NemotronForCausalLM, type AnyNemotronModel, type NemotronInputs } from '../index.js';
import { toIntTensor } from '../inputs.js';
import { UsageError, type Command } from './args.js';
import { loadTokenizer, loadingProgress, resolveModelDir } from './model-dir.js';
import { SafetensorsStreamWriter } from './trace-writer.js';
import { tensorzooVersion } from './version.js';

/** Options of traceModel. */
export interface TraceOptions {
  /** Keep only the module outputs and gradients whose key (for gradients: parameter name) matches. */
  modules?: RegExp;
  /** Also the causal-LM loss of the input against itself (`loss`) and `grad.<parameter>` for every parameter. */
  grad?: boolean;
}

/**
 * The tensors a module's forward result stands for: a tensor is itself; attention gives its output and its
 * probabilities (`<name>.attn_weights`, [batch, heads, query, key]); any other result its first tensor field,
 * as Hugging Face's output[0] (a decoder layer's hidden state, a backbone's last_hidden_state).
 */
function moduleOutputs(name: string, module: unknown, out: unknown): [string, Tensor][] {
  if (out instanceof Tensor) return [[name, out]];
  if (module instanceof NemotronAttention) {
    const { output, weights } = out as { output: Tensor; weights: Tensor };
    return [[name, output], [`${name}.attn_weights`, weights]];
  }
  if (out && typeof out === 'object') {
    const first = Object.values(out).find((v) => v instanceof Tensor) as Tensor | undefined;
    if (first) return [[name, first]];
  }
  return [];
}

/**
 * Runs `model` on `inputs` and hands each traced tensor to `emit` as soon as it exists, in execution order:
 * `input_ids`, then every submodule's output (see moduleOutputs), then with `grad` the loss and the gradients.
 * Hooks are removed afterwards, whatever happens.
 */
export function traceModel(model: AnyNemotronModel, inputs: NemotronInputs, emit: (name: string, t: Tensor) => void, opts: TraceOptions = {}): void {
  const keep = (key: string) => !opts.modules || opts.modules.test(key);
  const ids = toIntTensor('input_ids', inputs.inputIds, 2);
  if (opts.grad && !(model instanceof NemotronForCausalLM)) throw new UsageError(`trace: --grad needs a causal LM (the loss is the input's causal-LM loss); this model is a ${model.constructor.name}`);
  emit('input_ids', ids);
  const handles: RemovableHandle[] = [];
  for (const [name, m] of model.namedModules()) {
    if (name === '' || typeof (m as { forward?: unknown }).forward !== 'function') continue;
    handles.push(m.registerForwardHook((mod, _, out) => {
      for (const [k, t] of moduleOutputs(name, mod, out)) if (keep(k)) emit(k, t);
    }, { name }));
  }
  try {
    if (!(opts.grad && model instanceof NemotronForCausalLM)) {
      noGrad(() => model.forward({ ...inputs, outputAttentions: true })); // attention hooks emit the weights
      return;
    }
    model.requiresGrad_(true).zeroGrad();
    const { loss } = model.forward({ ...inputs, outputAttentions: true, labels: ids });
    emit('loss', loss!.detach());
    loss!.backward();
    for (const [n, p] of model.namedParameters()) if (keep(n) && p.grad) emit(`grad.${n}`, p.grad);
    model.zeroGrad();
  } finally {
    for (const h of handles) h.remove();
  }
}

/** Parses --ids '1,2,3' into token ids within the vocabulary. */
function parseIds(text: string, vocabSize: number): number[] {
  if (!/^\s*\d+(\s*,\s*\d+)*\s*$/.test(text)) throw new UsageError(`trace: --ids ${JSON.stringify(text)} is not allowed: expected comma-separated token ids, e.g. 1,2,3`);
  const ids = text.split(',').map((s) => Number(s.trim()));
  const bad = ids.find((i) => i >= vocabSize);
  if (bad !== undefined) throw new UsageError(`trace: --ids: token id ${bad} is out of range for vocab_size ${vocabSize}`);
  return ids;
}

export const traceCommand: Command = {
  name: 'trace',
  summary: 'write every module output (and with --grad the loss and gradients) of one input to a safetensors file',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder; default: the shipped model' },
    prompt: { type: 'string', arg: 'TEXT', help: 'the input text (needs the tokenizer); or --ids' },
    ids: { type: 'string', arg: '1,2,3', help: 'the input token ids (no tokenizer needed); or --prompt' },
    dtype: { type: 'string', arg: 'float32|float64', help: 'compute dtype', default: 'float32', choices: ['float32', 'float64'] },
    grad: { type: 'boolean', help: 'also the causal-LM loss of the input against itself and grad.<parameter> for every parameter' },
    modules: { type: 'string', arg: 'REGEX', help: 'keep only the tensors whose key matches (gradients: the parameter name)' },
    out: { type: 'string', arg: 'FILE.safetensors', help: 'where to write the trace', required: true },
  },
  async run(o) {
    const prompt = o.prompt as string | undefined;
    const idsText = o.ids as string | undefined;
    if ((prompt === undefined) === (idsText === undefined)) throw new UsageError('trace: give exactly one of --prompt TEXT and --ids 1,2,3');
    let modules: RegExp | undefined;
    try {
      modules = o.modules === undefined ? undefined : new RegExp(o.modules as string);
    } catch (e) {
      throw new UsageError(`trace: --modules ${JSON.stringify(o.modules)} is not a regular expression: ${(e as Error).message}`);
    }
    const out = o.out as string;
    const outDir = dirname(out);
    if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new UsageError(`trace: --out ${out}: folder ${outDir} does not exist`);
    const dir = resolveModelDir(o.model as string | undefined);
    const config = await loadConfig(dir);
    const ids = idsText !== undefined ? parseIds(idsText, config.vocab_size) : (await loadTokenizer(dir)).encode(prompt!);
    if (ids.length === 0) throw new UsageError('trace: the input is empty');
    if (ids.length > config.max_position_embeddings) throw new UsageError(`trace: the input has ${ids.length} tokens, more than the model's max_position_embeddings (${config.max_position_embeddings})`);
    const dtype = o.dtype as 'float32' | 'float64';
    const model = await AutoModel.fromPretrained(dir, { dtype, ...loadingProgress() });
    const writer = new SafetensorsStreamWriter(out);
    try {
      traceModel(model, { inputIds: [ids] }, (name, t) => writer.add(name, t), { modules, grad: o.grad === true });
      writer.close({
        format: 'pt',
        tensorzoo_version: tensorzooVersion(),
        dtype,
        model_class: model.constructor.name,
        config: JSON.stringify(model.config.toDict()),
        input_ids: JSON.stringify([ids]),
        ...(prompt !== undefined ? { prompt } : {}),
        ...(o.grad ? { loss: 'causal-LM loss of input_ids against themselves (labels = input_ids, shifted inside the loss)' } : {}),
      });
    } catch (e) {
      writer.abort();
      throw e;
    }
    console.log(`wrote ${writer.size} tensors (${(statSync(out).size / 2 ** 20).toFixed(2)} MiB) to ${out}`);
  },
};
