// The folder train-head writes: what the head class's fromPretrained loads, without copying the backbone.
import { copyFile, link, readdir, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openSafetensors, saveSafetensors, SHARDED_INDEX_NAME, type Tensor } from '@tensorzoo/tensor';
import type { NemotronConfig } from '../index.js';
import { UsageError } from './args.js';

/**
 * Writes a folder that the head class's fromPretrained loads: the backbone's weight files (hard links where
 * possible), the head tensors in head.safetensors, an index mapping every tensor to its file, config and tokenizer.
 */
export async function writeHeadFolder(base: string, out: string, config: NemotronConfig, head: Record<string, Tensor>): Promise<void> {
  const weightMap: Record<string, string> = {};
  const files = existsSync(join(base, SHARDED_INDEX_NAME)) ? (await readdir(base)).filter((f) => f.endsWith('.safetensors')) : ['model.safetensors'];
  for (const f of files) {
    const src = await openSafetensors(join(base, f));
    for (const n of src.names) if (n.startsWith('model.')) weightMap[n] = `backbone-${f}`;
    await src.close();
    const dst = join(out, `backbone-${f}`);
    if (!existsSync(dst) || (await stat(dst)).size !== (await stat(join(base, f))).size) {
      await link(join(base, f), dst).catch(() => copyFile(join(base, f), dst));
    }
  }
  if (!Object.keys(weightMap).length) throw new UsageError(`train-head: ${base} holds no 'model.*' backbone tensors`);
  await saveSafetensors(join(out, 'head.safetensors'), head);
  for (const name of Object.keys(head)) weightMap[name] = 'head.safetensors';
  await writeFile(join(out, SHARDED_INDEX_NAME), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2) + '\n');
  await writeFile(join(out, 'config.json'), JSON.stringify(config.toDict(), null, 2) + '\n');
  for (const f of ['tokenizer.model', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    if (existsSync(join(base, f))) await copyFile(join(base, f), join(out, f));
  }
}
