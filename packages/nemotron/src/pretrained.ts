// fromPretrained: config.json + model.safetensors (or shards) -> a model, with HF's naming rules:
// class prefixes ('model.', 'transformer.', none), tied embeddings, strict key checks, storage dtypes kept.
import { noGrad, zeros, saveSafetensors, openSafetensors, openShardedSafetensors, SHARDED_INDEX_NAME, type Device, type DType, type Tensor } from '@tensorzoo/tensor';
import { init, type Module } from '@tensorzoo/nn';
import { NemotronConfig, type ConfigJson } from './config.js';
import { fileExists, joinPath, readJson, writeJson } from './files.js';
import type { NemotronPreTrainedModel } from './heads.js';
import { NemotronModel } from './model.js';
import { generationConfigFromDict, generationConfigToDict, type GenerationConfig } from './generation.js';

/** Options of fromPretrained. */
export interface FromPretrainedOptions {
  device?: Device;
  /**
   * Dtype to hold the weights in. Default: as stored (a bfloat16 checkpoint stays bfloat16 in memory and is decoded
   * inside the kernels; compute is float32 either way). 'float32' upcasts, as HF's from_pretrained does by default.
   */
  dtype?: DType;
  /** Called after each tensor is loaded (for progress bars). */
  onProgress?: (loaded: number, total: number, name: string) => void;
  /** config.json fields to override, as HF's from_pretrained(..., num_labels=3) (e.g. a new head's id2label). */
  config?: ConfigJson;
}

/** What loading did beyond the plain key match, as HF's loading info. */
export interface LoadingInfo {
  /** Head tensors absent from the checkpoint, freshly initialized (e.g. a new classification head). */
  newlyInitialized: string[];
  /** Checkpoint tensors this class does not use (e.g. lm_head when loading a classifier). */
  ignored: string[];
}

interface WeightSource {
  names: readonly string[];
  shape(name: string): Promise<number[]>;
  get(name: string): Promise<Tensor>;
  close(): Promise<void>;
}

async function openWeights(dir: string): Promise<WeightSource> {
  if (await fileExists(joinPath(dir, SHARDED_INDEX_NAME))) {
    const f = await openShardedSafetensors(dir);
    return { names: f.names, shape: async (n) => (await f.info(n)).shape, get: (n) => f.get(n), close: () => f.close() };
  }
  const path = joinPath(dir, 'model.safetensors');
  if (!(await fileExists(path))) throw new Error(`fromPretrained: ${dir} has neither model.safetensors nor ${SHARDED_INDEX_NAME}`);
  const f = await openSafetensors(path);
  return { names: f.names, shape: async (n) => f.info(n).shape, get: (n) => f.get(n), close: () => f.close() };
}

/** Reads and validates `dir/config.json`, with optional overrides. */
export async function loadConfig(dir: string, overrides: ConfigJson = {}): Promise<NemotronConfig> {
  const json = { ...(await readJson(joinPath(dir, 'config.json'))), ...overrides };
  if (overrides.id2label && !overrides.label2id) delete json.label2id;
  try {
    return NemotronConfig.fromDict(json);
  } catch (e) {
    throw new Error(`${joinPath(dir, 'config.json')}: ${(e as Error).message}`);
  }
}

const HEAD_PREFIXES = ['lm_head.', 'score.', 'qa_outputs.'];
const BACKBONE_PREFIXES = ['model.', 'transformer.'];

/** Maps each of the model's state-dict keys to the checkpoint key that holds it (HF's prefix rules). */
function keyMap(model: Module, basePrefix: string | null, fileNames: readonly string[]): Map<string, string> {
  const files = new Set(fileNames);
  const fileHasPrefix = (p: string) => fileNames.some((n) => n.startsWith(p));
  const out = new Map<string, string>();
  for (const key of model.stateDict().keys()) {
    let src = key;
    if (basePrefix === null) {
      // a bare model reading a head checkpoint: strip the head class's backbone prefix
      const p = BACKBONE_PREFIXES.find((q) => !files.has(key) && files.has(q + key));
      if (p) src = p + key;
    } else if (key.startsWith(basePrefix + '.') && !fileHasPrefix(basePrefix + '.')) {
      // a head reading a bare-model checkpoint, or another head's backbone prefix
      const bare = key.slice(basePrefix.length + 1);
      const other = BACKBONE_PREFIXES.find((q) => files.has(q + bare));
      src = other ? other + bare : bare;
    }
    out.set(key, src);
  }
  return out;
}

/** Loads a checkpoint folder into a freshly built model of class `ctor` (built on memoryless placeholders). */
export async function loadPretrained<M extends Module>(
  ctor: new (config: NemotronConfig, opts: { meta: boolean }) => M,
  dir: string,
  opts: FromPretrainedOptions = {},
): Promise<M & { loadingInfo: LoadingInfo }> {
  const config = await loadConfig(dir, opts.config);
  const model = new ctor(config, { meta: true });
  const head = model instanceof NemotronModel ? null : (model as unknown as NemotronPreTrainedModel);
  const weights = await openWeights(dir);
  try {
    const map = keyMap(model, head ? head.basePrefix : null, weights.names);
    const fileSet = new Set(weights.names);
    const tied = new Set(head?.tiedKeys() ?? []);
    const own = model.stateDict();
    const missing: string[] = [];
    const newlyInitialized: string[] = [];
    const wrongShape: string[] = [];
    for (const [key, src] of map) {
      if (tied.has(key)) continue;
      if (!fileSet.has(src)) {
        if (HEAD_PREFIXES.some((p) => key.startsWith(p))) newlyInitialized.push(key);
        else missing.push(key);
        continue;
      }
      const shape = await weights.shape(src);
      const want = own.get(key)!.shape;
      if (shape.join(',') !== want.join(',')) wrongShape.push(`${src}: checkpoint [${shape.join(',')}], model [${want.join(',')}]`);
    }
    const used = new Set(map.values());
    const unused = weights.names.filter((n) => !used.has(n));
    const ignored = unused.filter((n) => HEAD_PREFIXES.some((p) => n.startsWith(p)));
    const unexpected = unused.filter((n) => !ignored.includes(n));
    const problems = [
      ...(missing.length ? [`missing tensors: ${missing.join(', ')}`] : []),
      ...(wrongShape.length ? [`wrong shapes: ${wrongShape.join('; ')}`] : []),
      ...(unexpected.length ? [`unexpected tensors: ${unexpected.join(', ')}`] : []),
    ];
    if (problems.length) throw new Error(`fromPretrained(${dir}): the checkpoint does not match ${model.constructor.name} (config.json):\n  ${problems.join('\n  ')}`);

    // The placeholders are the very parameter objects: set_() swaps in the loaded data and keeps ties intact.
    const params = new Map([...model.namedParameters(), ...model.namedBuffers()]);
    const loadable = [...map].filter(([k, src]) => !tied.has(k) && fileSet.has(src));
    let done = 0;
    for (const [key, src] of loadable) {
      let t = await weights.get(src);
      if (opts.dtype && t.dtype !== opts.dtype) t = t.to(opts.dtype);
      if (opts.device && t.device !== opts.device) t = t.to(opts.device);
      const target = params.get(key)!;
      noGrad(() => target.set_(t));
      opts.onProgress?.(++done, loadable.length, src);
    }
    for (const key of newlyInitialized) initFresh(params.get(key)!, key, config, opts.dtype);
    model.eval();
    const genPath = joinPath(dir, 'generation_config.json');
    if ('generationConfig' in model && (await fileExists(genPath))) {
      (model as { generationConfig: GenerationConfig | null }).generationConfig = generationConfigFromDict(await readJson(genPath));
    }
    return Object.assign(model, { loadingInfo: { newlyInitialized, ignored } });
  } finally {
    await weights.close();
  }
}

/** HF's _init_weights for a new head tensor: weights N(0, initializer_range), biases zero. */
function initFresh(p: Tensor, key: string, config: NemotronConfig, dtype?: DType): Tensor {
  return noGrad(() => {
    p.set_(zeros(p.shape, { dtype: dtype ?? 'float32' }));
    if (key.endsWith('.bias')) init.zeros_(p);
    else init.normal_(p, 0, config.initializer_range);
    return p;
  });
}

/** Writes `dir/config.json`, `model.safetensors` (and generation_config.json when set), as HF's save_pretrained. */
export async function savePretrained(model: NemotronModel | NemotronPreTrainedModel, dir: string, opts: { dtype?: DType } = {}): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const tied = new Set(model instanceof NemotronModel ? [] : model.tiedKeys());
  const tensors = new Map<string, Tensor>();
  for (const [k, v] of model.stateDict()) {
    if (tied.has(k)) continue;
    tensors.set(k, opts.dtype && v.dtype !== opts.dtype && v.dtype !== 'int32' && v.dtype !== 'bool' ? v.to(opts.dtype) : v);
  }
  const config = model.config.toDict();
  if (opts.dtype) config.torch_dtype = opts.dtype;
  config.architectures = [model.constructor.name];
  await saveSafetensors(joinPath(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeJson(joinPath(dir, 'config.json'), config);
  const gen = (model as { generationConfig?: GenerationConfig | null }).generationConfig;
  if (gen) await writeJson(joinPath(dir, 'generation_config.json'), generationConfigToDict(gen));
}
