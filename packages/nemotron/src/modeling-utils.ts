// PreTrainedModel (transformers' modeling_utils.py): the base of every model class of the zoo, with
// fromPretrained / savePretrained written once. fromPretrained reads a folder (Node), a URL or a set of files
// through one model source; safetensors are read tensor by tensor. Loading follows HF's naming rules: a backbone prefix
// (base_model_prefix) added or stripped between head and bare checkpoints, tied embeddings, strict key checks,
// storage dtypes kept.
import { noGrad, quantize, zeros, saveSafetensors, openSafetensors, openShardedSafetensors, SHARDED_INDEX_NAME, type Device, type DType, type QuantDType, type Tensor } from '@tensorzoo/tensor';
import { init, Linear, Module, type LayerOptions } from '@tensorzoo/nn';
import { joinPath, modelSource, readJsonFile, withProgress, type ModelSource, type ModelSourceLike, type ModelSourceOptions, type ProgressCallback } from '@tensorzoo/tokenizer';
import { makeDir, writeJson } from '#fs';
import { configFromPretrained, type ConfigClass, type ConfigJson, type PretrainedConfig } from './configuration-utils.js';
import { generationConfigFromDict, generationConfigToDict, type GenerationConfig } from './generation/configuration-utils.js';

/** Options of fromPretrained (`cache`: keep URL loads in the Cache API, see ModelSourceOptions). */
export interface FromPretrainedOptions extends ModelSourceOptions {
  device?: Device;
  /**
   * Dtype to hold the weights in. Default: as stored (a bfloat16 checkpoint stays bfloat16 in memory and is decoded
   * inside the kernels; compute is float32 either way). 'float32' upcasts, as HF's from_pretrained does by default.
   */
  dtype?: DType;
  /**
   * Quantize the weight of every Linear of the decoder layers as it loads (llama.cpp's q8_0 / q4_0 blocks of 32 along
   * in_features; embeddings, norms, biases and lm_head keep `dtype`). A Linear whose in_features is not a multiple of
   * 32 keeps its dtype and is listed in loadingInfo.notQuantized.
   */
  quantize?: QuantDType;
  /** Bytes read so far, per file and in total (every weight file is opened before the first tensor is read). */
  onProgress?: ProgressCallback;
  /** config.json fields to override, as HF's from_pretrained(..., num_labels=3) (e.g. a new head's id2label). */
  config?: ConfigJson;
}

/** What loading did beyond the plain key match, as HF's loading info. */
export interface LoadingInfo {
  /** Head tensors absent from the checkpoint, freshly initialized (e.g. a new classification head). */
  newlyInitialized: string[];
  /** Checkpoint tensors this class does not use (e.g. lm_head when loading a classifier). */
  ignored: string[];
  /** Under `quantize`: the decoder Linear weights left as stored (in_features not a multiple of 32). */
  notQuantized?: string[];
}

/** Keys of the Linear weights inside the decoder layers (what `quantize` applies to), split by whether blocks of 32 fit. */
function quantizableWeights(model: Module): { fit: Set<string>; misfit: string[] } {
  const fit = new Set<string>();
  const misfit: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || !/(^|\.)layers\.\d+\./.test(name)) continue;
    (m.inFeatures % 32 === 0 ? fit.add(`${name}.weight`) : misfit.push(`${name}.weight`));
  }
  return { fit, misfit };
}

/** Options of savePretrained. */
export interface SavePretrainedOptions {
  /** Cast floating tensors to this dtype on the way out (config.json records it as torch_dtype). */
  dtype?: DType;
}

/** A concrete model class of the zoo, with the class-level attributes loading reads (HF's config_class etc.). */
export interface PreTrainedModelClass<M extends PreTrainedModel> {
  new (config: M['config'], opts: LayerOptions): M;
  readonly name: string;
  readonly configClass: ConfigClass<M['config']>;
  readonly basePrefixes: readonly string[];
  readonly headPrefixes: readonly string[];
}

/** Base of every model class: its config, which submodule is the backbone, tied weights, loading and saving. */
export abstract class PreTrainedModel<C extends PretrainedConfig = PretrainedConfig> extends Module {
  /** Every base_model_prefix the family's head checkpoints use ('model', 'transformer', ...). */
  static readonly basePrefixes: readonly string[] = [];
  /** Checkpoint key prefixes of the family's heads: absent ones are initialized fresh, unused ones ignored. */
  static readonly headPrefixes: readonly string[] = [];

  abstract readonly config: C;
  /** HF's base_model_prefix: the attribute (and checkpoint prefix) that holds the backbone of a head. */
  abstract readonly basePrefix: string;
  /** The backbone: the submodule named basePrefix, or the model itself when it is the bare backbone. */
  abstract get baseModel(): Module;
  /** generation_config.json of the checkpoint, read by fromPretrained when canGenerate(). */
  generationConfig: GenerationConfig | null = null;

  /** Whether the class generates text (HF's can_generate): then fromPretrained reads generation_config.json. */
  canGenerate(): boolean {
    return false;
  }

  /** Checkpoint keys that may be absent because they alias another tensor (HF's _tied_weights_keys, when tied). */
  tiedKeys(): string[] {
    return [];
  }

  /**
   * Loads config.json + model.safetensors (or shards) into this class, from a folder (Node), a URL (absolute or
   * relative to the page), or a set of files (a Map of name -> Blob | ArrayBuffer | Uint8Array, or a FileList).
   */
  static fromPretrained<M extends PreTrainedModel>(this: PreTrainedModelClass<M>, source: ModelSourceLike, opts: FromPretrainedOptions = {}): Promise<M & { loadingInfo: LoadingInfo }> {
    return loadPretrained(this, source, opts);
  }

  /** Writes config.json and model.safetensors (optionally cast to `dtype`), as HF's save_pretrained. */
  savePretrained(dir: string, opts: SavePretrainedOptions = {}): Promise<void> {
    return savePretrained(this, dir, opts);
  }
}

interface WeightSource {
  names: readonly string[];
  shape(name: string): Promise<number[]>;
  get(name: string): Promise<Tensor>;
  close(): Promise<void>;
}

async function openWeights(src: ModelSource): Promise<WeightSource> {
  if ((await src.size(SHARDED_INDEX_NAME)) !== null) {
    const f = await openShardedSafetensors({
      indexName: src.describe(SHARDED_INDEX_NAME),
      dirName: src.name,
      readIndex: () => src.read(SHARDED_INDEX_NAME),
      hasShard: async (file) => (await src.size(file)) !== null,
      openShard: (file) => src.open(file),
    });
    // Open every shard first, so that progress knows the total before the first tensor is read.
    await Promise.all(f.shards.map((shard) => f.info(f.names.find((n) => f.shardOf(n) === shard)!)));
    return { names: f.names, shape: async (n) => (await f.info(n)).shape, get: (n) => f.get(n), close: () => f.close() };
  }
  if ((await src.size('model.safetensors')) === null) throw new Error(`fromPretrained: ${src.name} has neither model.safetensors nor ${SHARDED_INDEX_NAME}`);
  const f = await openSafetensors(await src.open('model.safetensors'));
  return { names: f.names, shape: async (n) => f.info(n).shape, get: (n) => f.get(n), close: () => f.close() };
}

/**
 * Maps each of the model's state-dict keys to the checkpoint key that holds it (HF's prefix rules). `basePrefix` is
 * null for a bare backbone; `basePrefixes` are all prefixes a head checkpoint may keep its backbone under.
 */
function keyMap(model: Module, basePrefix: string | null, basePrefixes: readonly string[], fileNames: readonly string[]): Map<string, string> {
  const files = new Set(fileNames);
  const fileHasPrefix = (p: string) => fileNames.some((n) => n.startsWith(p));
  const prefixes = basePrefixes.map((p) => p + '.');
  const out = new Map<string, string>();
  for (const key of model.stateDict().keys()) {
    let src = key;
    if (basePrefix === null) {
      // a bare model reading a head checkpoint: strip the head class's backbone prefix
      const p = prefixes.find((q) => !files.has(key) && files.has(q + key));
      if (p) src = p + key;
    } else if (key.startsWith(basePrefix + '.') && !fileHasPrefix(basePrefix + '.')) {
      // a head reading a bare-model checkpoint, or another head's backbone prefix
      const bare = key.slice(basePrefix.length + 1);
      const other = prefixes.find((q) => files.has(q + bare));
      src = other ? other + bare : bare;
    }
    out.set(key, src);
  }
  return out;
}

/** Loads a checkpoint (folder, URL or files) into a freshly built model of class `cls` (built on memoryless placeholders). */
export async function loadPretrained<M extends PreTrainedModel>(cls: PreTrainedModelClass<M>, source: ModelSourceLike, opts: FromPretrainedOptions = {}): Promise<M & { loadingInfo: LoadingInfo }> {
  const src = withProgress(modelSource(source, opts), opts.onProgress);
  const config = await configFromPretrained(cls.configClass, src, opts.config);
  const model = new cls(config, { meta: true });
  const isHead = (p: string) => cls.headPrefixes.some((h) => p.startsWith(h));
  const weights = await openWeights(src);
  try {
    const map = keyMap(model, model.baseModel === model ? null : model.basePrefix, cls.basePrefixes, weights.names);
    const fileSet = new Set(weights.names);
    const tied = new Set(model.tiedKeys());
    const own = model.stateDict();
    const missing: string[] = [];
    const newlyInitialized: string[] = [];
    const wrongShape: string[] = [];
    for (const [key, ckpt] of map) {
      if (tied.has(key)) continue;
      if (!fileSet.has(ckpt)) {
        if (isHead(key)) newlyInitialized.push(key);
        else missing.push(key);
        continue;
      }
      const shape = await weights.shape(ckpt);
      const want = own.get(key)!.shape;
      if (shape.join(',') !== want.join(',')) wrongShape.push(`${ckpt}: checkpoint [${shape.join(',')}], model [${want.join(',')}]`);
    }
    const used = new Set(map.values());
    const unused = weights.names.filter((n) => !used.has(n));
    const ignored = unused.filter(isHead);
    const unexpected = unused.filter((n) => !ignored.includes(n));
    const problems = [
      ...(missing.length ? [`missing tensors: ${missing.join(', ')}`] : []),
      ...(wrongShape.length ? [`wrong shapes: ${wrongShape.join('; ')}`] : []),
      ...(unexpected.length ? [`unexpected tensors: ${unexpected.join(', ')}`] : []),
    ];
    if (problems.length) throw new Error(`fromPretrained(${src.name}): the checkpoint does not match ${cls.name} (config.json):\n  ${problems.join('\n  ')}`);

    // The placeholders are the very parameter objects: set_() swaps in the loaded data and keeps ties intact.
    const params = new Map([...model.namedParameters(), ...model.namedBuffers()]);
    const loadable = [...map].filter(([k, ckpt]) => !tied.has(k) && fileSet.has(ckpt));
    const quant = opts.quantize ? quantizableWeights(model) : { fit: new Set<string>(), misfit: [] };
    for (const [key, ckpt] of loadable) {
      const read = await weights.get(ckpt);
      let t = read;
      if (quant.fit.has(key)) t = quantize(t, opts.quantize!);
      else if (opts.dtype && t.dtype !== opts.dtype) t = t.to(opts.dtype);
      if (opts.device && t.device !== opts.device) t = t.to(opts.device);
      // The tensor as read sits on the CPU heap; free it now rather than at some later collection.
      if (t !== read) read.dispose();
      const target = params.get(key)!;
      noGrad(() => target.set_(t));
    }
    for (const key of newlyInitialized) initFresh(params.get(key)!, key, config.initializer_range, opts.dtype, opts.device);
    model.eval();
    const gen = model.canGenerate() ? await readJsonFile(src, 'generation_config.json', true) : null;
    if (gen) model.generationConfig = generationConfigFromDict(gen);
    const notQuantized = opts.quantize ? { notQuantized: quant.misfit } : {};
    return Object.assign(model, { loadingInfo: { newlyInitialized, ignored, ...notQuantized } });
  } finally {
    await weights.close();
  }
}

/** HF's _init_weights for a new head tensor: weights N(0, initializer_range), biases zero. */
function initFresh(p: Tensor, key: string, std: number, dtype?: DType, device?: Device): Tensor {
  return noGrad(() => {
    p.set_(zeros(p.shape, { dtype: dtype ?? 'float32' }));
    if (key.endsWith('.bias')) init.zeros_(p);
    else init.normal_(p, 0, std);
    if (device && p.device !== device) p.set_(p.to(device)); // drawn on the host: the same values on every device
    return p;
  });
}

/** Writes `dir/config.json`, `model.safetensors` (and generation_config.json when set), as HF's save_pretrained. */
export async function savePretrained(model: PreTrainedModel, dir: string, opts: SavePretrainedOptions = {}): Promise<void> {
  await makeDir(dir);
  const tied = new Set(model.tiedKeys());
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
  if (model.generationConfig) await writeJson(joinPath(dir, 'generation_config.json'), generationConfigToDict(model.generationConfig));
}
