// PreTrainedModel (transformers' modeling_utils.py): the base of every model class of the zoo, with
// fromPretrained / savePretrained written once. fromPretrained reads a folder (Node), a URL or a set of files
// through one model source; safetensors are read tensor by tensor. Loading follows HF's naming rules: a backbone prefix
// (base_model_prefix) added or stripped between head and bare checkpoints, tied embeddings, strict key checks,
// storage dtypes kept.
import { isQuantized, noGrad, quantize, zeros, saveSafetensors, openSafetensors, openShardedSafetensors, SHARDED_INDEX_NAME, type Device, type DType, type Tensor } from '@tensorzoo/tensor';
import { init, Module, type LayerOptions } from '@tensorzoo/nn';
import { joinPath, modelSource, readJsonFile, withProgress, type ModelSource, type ModelSourceLike, type ModelSourceOptions, type ProgressCallback } from '@tensorzoo/tokenizer';
import { makeDir, writeJson } from '#fs';
import { configFromPretrained, type ConfigClass, type ConfigJson, type PretrainedConfig } from './configuration-utils.js';
import { generationConfigFromDict, generationConfigToDict, type GenerationConfig } from './generation/configuration-utils.js';
import {
  isWeightQuantization, QUANT_FORMATS, quantizationConfigFromDict, quantizationConfigOf, quantizationPlan, quantizedCheckpoint, qweightName,
  type CheckpointTensors, type WeightQuantization,
} from './quantization-config.js';

/** Options of fromPretrained (`cache`: keep URL loads in the Cache API, see ModelSourceOptions). */
export interface FromPretrainedOptions extends ModelSourceOptions {
  device?: Device;
  /**
   * Dtype to hold the weights in. Default: as stored (a bfloat16 checkpoint stays bfloat16 in memory and is decoded
   * inside the kernels; compute is float32 either way; a quantized checkpoint stays quantized). 'float32' upcasts, as
   * HF's from_pretrained does by default. 'q8' / 'q4' quantize the weight of every Linear of the decoder layers as it
   * loads (llama.cpp's q8_0 / q4_0 blocks of 32 along in_features) and lm_head's to q8_0; embeddings, norms and
   * biases keep their dtype; Linear weights left as stored are listed in loadingInfo.notQuantized (see
   * quantization-config.ts). A quantized checkpoint loads only with no dtype or its own.
   */
  dtype?: DType | WeightQuantization;
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
  /**
   * Under dtype 'q8' / 'q4': the Linear weights it covers but left as stored (in_features not a multiple of 32, or
   * lm_head tied to the embeddings).
   */
  notQuantized?: string[];
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

async function openWeights(src: ModelSource): Promise<CheckpointTensors> {
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
    return { names: f.names, shape: async (n) => (await f.info(n)).shape, get: (n, o) => f.get(n, o), close: () => f.close() };
  }
  if ((await src.size('model.safetensors')) === null) throw new Error(`fromPretrained: ${src.name} has neither model.safetensors nor ${SHARDED_INDEX_NAME}`);
  const f = await openSafetensors(await src.open('model.safetensors'));
  return { names: f.names, shape: async (n) => f.info(n).shape, get: (n, o) => f.get(n, o), close: () => f.close() };
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
  const stored = quantizationConfigFromDict(config.extra.quantization_config, `fromPretrained(${src.name})`);
  if (opts.dtype === 'q8_0' || opts.dtype === 'q4_0') throw new Error(`fromPretrained: dtype '${opts.dtype}' is a block format; quantize on load with dtype ${opts.dtype === 'q8_0' ? "'q8'" : "'q4'"}`);
  const quant = isWeightQuantization(opts.dtype) ? QUANT_FORMATS[opts.dtype] : null;
  if (stored && opts.dtype !== undefined && quant !== stored.format) {
    throw new Error(`fromPretrained(${src.name}): the checkpoint is quantized (${stored.format}, quantization_config in config.json); dtype '${opts.dtype}' conflicts with it: load it without dtype`);
  }
  const castTo = quant ? undefined : (opts.dtype as DType | undefined);
  const raw = await openWeights(src);
  const weights = stored ? quantizedCheckpoint(raw, stored, `fromPretrained(${src.name})`) : raw;
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
    const plan = quant && !stored ? quantizationPlan(model, quant, [...tied]) : null;
    for (const [key, ckpt] of loadable) {
      // a weight quantized on load streams from the file into its blocks (no full-size float copy)
      const q = plan?.dtypes.get(key);
      let t = await weights.get(ckpt, q ? { quantize: q } : undefined);
      const read = t;
      if (q) t = quantize(t, q);
      else if (castTo && t.dtype !== castTo) t = t.to(castTo);
      const converted = t;
      if (opts.device && t.device !== opts.device) t = t.to(opts.device);
      const target = params.get(key)!;
      noGrad(() => target.set_(t));
      // the steps' intermediates, and the loaded tensor itself when a pinned parameter took a copy
      for (const step of [read, converted, t]) if (step.storage !== target.storage) step.dispose();
    }
    for (const key of newlyInitialized) initFresh(params.get(key)!, key, config.initializer_range, castTo);
    // what loading did not place on the device (fresh head tensors, buffers that are not in the checkpoint), freeing the host copies
    if (opts.device) model.to(opts.device);
    model.eval();
    const gen = model.canGenerate() ? await readJsonFile(src, 'generation_config.json', true) : null;
    if (gen) model.generationConfig = generationConfigFromDict(gen);
    const notQuantized = plan ? { notQuantized: plan.notQuantized } : {};
    return Object.assign(model, { loadingInfo: { newlyInitialized, ignored, ...notQuantized } });
  } finally {
    await weights.close();
  }
}

/** HF's _init_weights for a new head tensor (on the host, so the values are the same on every device): weights N(0, initializer_range), biases zero. */
function initFresh(p: Tensor, key: string, std: number, dtype?: DType): Tensor {
  return noGrad(() => {
    const z = zeros(p.shape, { dtype: dtype ?? 'float32' });
    p.set_(z);
    if (p.storage !== z.storage) z.dispose(); // a pinned parameter took a copy
    if (key.endsWith('.bias')) init.zeros_(p);
    else init.normal_(p, 0, std);
    return p;
  });
}

/**
 * Writes `dir/config.json`, `model.safetensors` (and generation_config.json when set), as HF's save_pretrained.
 * Quantized weights are written as `<module>.qweight` blocks with a quantization_config (quantization-config.ts).
 */
export async function savePretrained(model: PreTrainedModel, dir: string, opts: SavePretrainedOptions = {}): Promise<void> {
  await makeDir(dir);
  const tied = new Set(model.tiedKeys());
  const state = model.stateDict();
  const tensors = new Map<string, Tensor>();
  for (const [k, v] of state) {
    if (tied.has(k)) continue;
    if (isQuantized(v.dtype)) tensors.set(qweightName(k), v);
    else tensors.set(k, opts.dtype && v.dtype !== opts.dtype && v.dtype !== 'int32' && v.dtype !== 'bool' ? v.to(opts.dtype) : v);
  }
  const config = model.config.toDict();
  if (opts.dtype) config.torch_dtype = opts.dtype;
  const qc = quantizationConfigOf(model, state);
  if (qc) config.quantization_config = qc;
  else delete config.quantization_config;
  config.architectures = [model.constructor.name];
  await saveSafetensors(joinPath(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeJson(joinPath(dir, 'config.json'), config);
  if (model.generationConfig) await writeJson(joinPath(dir, 'generation_config.json'), generationConfigToDict(model.generationConfig));
}
