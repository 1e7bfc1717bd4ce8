// tensorzoo quantize: writes a quantized copy of a model folder (fromPretrained with dtype q8 / q4, then
// savePretrained's quantized layout), with its tokenizer, so that every other command can load it as is.
import { copyFile, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isQuantized } from '@tensorzoo/tensor';
import { AutoModel, LM_HEAD_FORMAT, loadConfig, QUANT_FORMATS, type WeightQuantization } from '../index.js';
import { UsageError, type Command } from './args.js';
import { resolveModelDir } from './model-dir.js';
import { DelayedProgress } from './progress.js';

/** Files of a model folder that describe its tokenizer: copied beside the quantized weights. */
const TOKENIZER_FILES = ['tokenizer.model', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json', 'chat_template.jinja'];

const MiB = 2 ** 20;

/** Bytes of a folder's safetensors weight files (one file or shards). */
async function weightBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) if (f.endsWith('.safetensors')) n += (await stat(join(dir, f))).size;
  return n;
}

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'write a copy of a model with int8 (q8) or int4 (q4) Linear weights',
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder; default: the shipped model' },
    dtype: {
      type: 'string', arg: 'q8|q4', choices: ['q8', 'q4'], required: true,
      help: "the decoder layers' Linear weights in int8 (q8_0) or int4 (q4_0) blocks of 32 with an f16 scale; lm_head in q8_0",
    },
    out: { type: 'string', arg: 'DIR', help: 'folder to write (new, or empty)', required: true },
  },
  details: 'The output holds model.safetensors with <module>.qweight tensors (llama.cpp block bytes), config.json with a\nquantization_config, generation_config.json and the tokenizer files; see the README for the layout.',
  async run(o) {
    const dir = resolveModelDir(o.model as string | undefined);
    const out = String(o.out);
    const dtype = o.dtype as WeightQuantization;
    if (resolve(out) === resolve(dir)) throw new UsageError('quantize: --out must be another folder than --model');
    if (existsSync(out) && (!(await stat(out)).isDirectory() || (await readdir(out)).length > 0)) throw new UsageError(`quantize: --out ${out} exists and is not an empty folder`);
    const config = await loadConfig(dir);
    const stored = config.extra.quantization_config as { format?: string } | undefined;
    if (stored) throw new UsageError(`quantize: ${dir} is already quantized (${stored.format ?? 'quantization_config in config.json'})`);
    const bar = new DelayedProgress('quantizing', 'bytes');
    const model = await AutoModel.fromPretrained(dir, { dtype, onProgress: (p) => bar.update(p.loaded, p.total) });
    bar.done();
    await model.savePretrained(out);
    const copied: string[] = [];
    for (const f of TOKENIZER_FILES) {
      if (!existsSync(join(dir, f))) continue;
      await copyFile(join(dir, f), join(out, f));
      copied.push(f);
    }
    const quantized = [...model.parameters()].filter((p) => isQuantized(p.dtype)).length;
    const kept = model.loadingInfo.notQuantized ?? [];
    const head = model.stateDict().get('lm_head.weight')?.dtype === LM_HEAD_FORMAT ? ` (lm_head ${LM_HEAD_FORMAT})` : '';
    console.log(`quantized ${quantized} Linear weights to ${QUANT_FORMATS[dtype]}${head}; left as stored: ${kept.length ? kept.join(', ') : 'none'}`);
    const before = await weightBytes(dir);
    const after = await weightBytes(out);
    const written = ['model.safetensors', 'config.json', ...(model.generationConfig ? ['generation_config.json'] : []), ...copied];
    console.log(`weights ${(before / MiB).toFixed(2)} MiB -> ${(after / MiB).toFixed(2)} MiB; wrote ${out} (${written.join(', ')})`);
  },
};
