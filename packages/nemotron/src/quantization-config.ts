// Weight-only quantization of a pretrained model: which weights fromPretrained(source, { dtype: 'q8' | 'q4' })
// quantizes, and the quantized checkpoint layout that savePretrained writes and fromPretrained reads back.
//
// What is quantized: the weight of every Linear inside the decoder layers (to q8_0 or q4_0), and lm_head (to q8_0
// whatever the layers' format: it is the largest single matrix of a small model and the logits are the most sensitive
// product, so it gets the finer format, as llama.cpp's Q4_0 files keep output.weight at a higher precision).
// Embeddings, norms and biases keep their dtype. Left as stored: a Linear whose in_features is not a whole number of
// 32-blocks, and an lm_head tied to the input embeddings (it is the embedding table, which stays unquantized).
//
// Why q4 is q4_0 (symmetric, one f16 scale per 32 weights, no zero point): it is llama.cpp's Q4_0 layout, byte for
// byte; decoding is one subtract of 8 per nibble, which the integer-dot kernels fold away, where a zero point (Q4_1)
// costs 2 more bytes per block (20 instead of 18: 11% more bytes read per token in a bandwidth-bound decode) and a
// second multiply-add per block. Measured on the shipped model's held-out text (21,146 tokens, `tensorzoo eval`):
// perplexity 37.390 with q4 against bf16's 37.323 (+0.18%; q8: +0.005%), far inside the 6% the issue allows
// (test/quant-accuracy.test.ts), so a zero point would buy accuracy that is not needed.
//
// Checkpoint layout (model.safetensors + config.json), chosen so that a Python user reads it with numpy alone:
//   <module>.qweight  U8 [out_features, in_features / 32 * B]  for each quantized Linear <module>.weight [out, in]:
//       row r is weight row r as in_features / 32 consecutive llama.cpp (GGUF) blocks of B bytes:
//       q8_0, B = 34: f16 scale d, then 32 int8 q;                        w[j] = q[j] * d
//       q4_0, B = 18: f16 scale d, then 16 bytes, byte j = q[j] | q[j + 16] << 4;  w[j] = (q[j] - 8) * d
//   every other tensor as in a plain checkpoint, and in config.json:
//   "quantization_config": { "quant_method": "tensorzoo", "format": "q4_0", "bits": 4, "group_size": 32,
//                            "sym": true, "lm_head": "q8_0" | null, "modules_to_not_convert": [...] }
// The blocks are stored as they are held in memory (rather than split into int8 + scales tensors) so that loading is
// one positioned read per tensor with no re-interleaving, and the bytes are exactly GGUF's Q8_0 / Q4_0 tensors.
// In numpy:  blk = np.dtype([('d', '<f2'), ('q', 'i1', 32)])   # q4_0: [('d', '<f2'), ('q', 'u1', 16)]
//            b = qweight.view(blk); w = b['q'] * b['d'][..., None].astype(np.float32)   # then reshape(out, in)
import { blockBytes, isQuantized, QK, type QuantDType, type SafetensorsLoadOptions, type Tensor } from '@tensorzoo/tensor';
import { Linear, type Module } from '@tensorzoo/nn';

/** The weight quantizations fromPretrained's `dtype` option names (the 'q8' / 'q4'). */
export type WeightQuantization = 'q8' | 'q4';

/** The block format of each weight quantization (llama.cpp's). */
export const QUANT_FORMATS: Readonly<Record<WeightQuantization, QuantDType>> = { q8: 'q8_0', q4: 'q4_0' };

/** lm_head's format under either quantization. */
export const LM_HEAD_FORMAT: QuantDType = 'q8_0';

/** Whether a fromPretrained dtype is a weight quantization ('q8' / 'q4') rather than a storage dtype. */
export function isWeightQuantization(dtype: unknown): dtype is WeightQuantization {
  return dtype === 'q8' || dtype === 'q4';
}

/** config.json's quantization_config of a quantized checkpoint (the shape of Hugging Face's, quant_method 'tensorzoo'). */
export interface QuantizationConfig {
  quant_method: 'tensorzoo';
  /** Format of the decoder layers' Linear weights. */
  format: QuantDType;
  bits: 8 | 4;
  group_size: typeof QK;
  /** Symmetric: no zero point. */
  sym: true;
  /** Format of lm_head's weight, or null when lm_head is not quantized (tied to the embeddings, or no lm_head). */
  lm_head: QuantDType | null;
  /** Linear modules that the quantization covers but were left as stored (HF's name for the list). */
  modules_to_not_convert: string[];
}

const LM_HEAD = 'lm_head';
const LAYER_LINEAR = /(^|\.)layers\.\d+\./;

/** The checkpoint name of a quantized weight's blocks. */
export function qweightName(weightKey: string): string {
  return weightKey.replace(/\.weight$/, '.qweight');
}

/** Which weights of a model `format` quantizes (key -> block format), and which Linear weights it covers but leaves. */
export function quantizationPlan(model: Module, format: QuantDType, tiedKeys: readonly string[]): { dtypes: Map<string, QuantDType>; notQuantized: string[] } {
  const dtypes = new Map<string, QuantDType>();
  const notQuantized: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear)) continue;
    const isHead = name === LM_HEAD;
    if (!isHead && !LAYER_LINEAR.test(name)) continue;
    const key = `${name}.weight`;
    if (m.inFeatures % QK === 0 && !tiedKeys.includes(key)) dtypes.set(key, isHead ? LM_HEAD_FORMAT : format);
    else notQuantized.push(key);
  }
  return { dtypes, notQuantized };
}

/** The quantization_config describing a model's quantized weights, or null when it has none. */
export function quantizationConfigOf(model: Module, state: ReadonlyMap<string, Tensor>): QuantizationConfig | null {
  let format: QuantDType | null = null;
  let lmHead: QuantDType | null = null;
  for (const [key, t] of state) {
    if (!isQuantized(t.dtype)) continue;
    if (key === `${LM_HEAD}.weight`) lmHead = t.dtype;
    else if (format === null) format = t.dtype;
    else if (format !== t.dtype) throw new Error(`savePretrained: quantized weights in two formats (${format}, ${t.dtype}, at ${key}); a checkpoint holds one format for the layers (and lm_head's)`);
  }
  format ??= lmHead;
  if (format === null) return null;
  const { dtypes } = quantizationPlan(model, format, []);
  const notConverted = [...dtypes.keys()].filter((k) => !isQuantized(state.get(k)?.dtype ?? 'float32')).map((k) => k.replace(/\.weight$/, ''));
  return { quant_method: 'tensorzoo', format, bits: format === 'q8_0' ? 8 : 4, group_size: QK, sym: true, lm_head: lmHead, modules_to_not_convert: notConverted };
}

/** Reads and checks config.json's quantization_config (null when absent). */
export function quantizationConfigFromDict(raw: unknown, where: string): QuantizationConfig | null {
  if (raw === undefined || raw === null) return null;
  const bad = (why: string) => new Error(`${where}: config.json's quantization_config ${why}`);
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('is not an object');
  const q = raw as Record<string, unknown>;
  if (q.quant_method !== 'tensorzoo') throw bad(`has quant_method ${JSON.stringify(q.quant_method)}; tensorzoo reads only its own ('tensorzoo')`);
  const format = q.format;
  if (format !== 'q8_0' && format !== 'q4_0') throw bad(`has format ${JSON.stringify(format)}; expected 'q8_0' or 'q4_0'`);
  if (q.bits !== (format === 'q8_0' ? 8 : 4)) throw bad(`has bits ${JSON.stringify(q.bits)}, which does not match format ${format}`);
  if (q.group_size !== QK) throw bad(`has group_size ${JSON.stringify(q.group_size)}; ${format} blocks hold ${QK} weights`);
  const lmHead = q.lm_head ?? null;
  if (lmHead !== null && lmHead !== 'q8_0' && lmHead !== 'q4_0') throw bad(`has lm_head ${JSON.stringify(lmHead)}; expected 'q8_0', 'q4_0' or null`);
  const skip = q.modules_to_not_convert ?? [];
  if (!Array.isArray(skip) || !skip.every((s) => typeof s === 'string')) throw bad('has a modules_to_not_convert that is not a list of names');
  return { quant_method: 'tensorzoo', format, bits: format === 'q8_0' ? 8 : 4, group_size: QK, sym: true, lm_head: lmHead, modules_to_not_convert: skip };
}

/** The checkpoint tensors fromPretrained reads (names, logical shapes, values). */
export interface CheckpointTensors {
  names: readonly string[];
  shape(name: string): Promise<number[]>;
  get(name: string, opts?: SafetensorsLoadOptions): Promise<Tensor>;
  close(): Promise<void>;
}

/**
 * A quantized checkpoint's tensors under the model's names: each `<module>.qweight` (U8 blocks) appears as the
 * quantized `<module>.weight` [out, in] in the format quantization_config gives it.
 */
export function quantizedCheckpoint(w: CheckpointTensors, qc: QuantizationConfig, where: string): CheckpointTensors {
  const blocks = new Map<string, { file: string; dtype: QuantDType }>();
  const names = w.names.map((n) => {
    if (!n.endsWith('.qweight')) return n;
    const key = n.replace(/\.qweight$/, '.weight');
    const isHead = key === `${LM_HEAD}.weight`;
    const dtype = isHead ? qc.lm_head : qc.format;
    if (dtype === null) throw new Error(`${where}: ${n} is quantized but quantization_config.lm_head is null`);
    blocks.set(key, { file: n, dtype });
    return key;
  });
  return {
    names,
    async shape(name) {
      const b = blocks.get(name);
      if (!b) return w.shape(name);
      const s = await w.shape(b.file);
      const last = s[s.length - 1] ?? 0;
      if (s.length !== 2 || last % blockBytes(b.dtype) !== 0) throw new Error(`${where}: ${b.file} [${s.join(', ')}] is not a 2-D array of ${blockBytes(b.dtype)}-byte ${b.dtype} blocks`);
      return [s[0]!, (last / blockBytes(b.dtype)) * QK];
    },
    get(name, opts) {
      const b = blocks.get(name);
      return b ? w.get(b.file, { ...opts, quantized: b.dtype }) : w.get(name, opts);
    },
    close: () => w.close(),
  };
}
