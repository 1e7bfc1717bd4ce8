// Where the CLI finds models and tokenizers: --model DIR, or the small model that ships in the repository's models/.
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { initWebGPU, type Device } from '@tensorzoo/tensor';
import { AutoTokenizer, type LoadProgress, type PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import { loadConfig, type NemotronConfig } from '../index.js';
import { checkModelBounds, UsageError, type Command, type Options } from './args.js';
import { DelayedProgress } from './progress.js';

/** The repository's models/ folder, seen from packages/nemotron/dist/cli/. */
const SHIPPED = fileURLToPath(new URL('../../../../models/', import.meta.url));

/** The model folder to use: the given one (checked), or the shipped model. */
export function resolveModelDir(dir: string | undefined): string {
  if (dir !== undefined) {
    if (!existsSync(join(dir, 'config.json'))) throw new UsageError(`no model in ${dir} (config.json not found)`);
    return dir;
  }
  const found = existsSync(SHIPPED) ? readdirSync(SHIPPED).filter((d) => existsSync(join(SHIPPED, d, 'config.json'))).sort() : [];
  if (found.length === 0) throw new UsageError('no --model given and no shipped model found under models/');
  return join(SHIPPED, found[0]!);
}

/** The --model folder (or the shipped model) and its config, with the options that the model bounds checked. */
export async function openModelDir(cmd: Command, o: Options): Promise<{ dir: string; config: NemotronConfig }> {
  const dir = resolveModelDir(o.model as string | undefined);
  const config = await loadConfig(dir);
  checkModelBounds(cmd, o, config);
  return { dir, config };
}

/** The tokenizer stored beside a model. */
export async function loadTokenizer(dir: string): Promise<PreTrainedTokenizer> {
  try {
    return await AutoTokenizer.fromPretrained(dir);
  } catch (e) {
    throw new UsageError(`cannot load a tokenizer from ${dir}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Reads all of stdin (for prompts and texts piped in). */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The device of a --device value (its choices are checked by the option spec), initialized: without a usable
 * WebGPU adapter, one line naming what is missing (exit 1).
 */
export async function useDevice(device: string): Promise<Device> {
  if (device === 'webgpu') {
    try {
      await initWebGPU();
    } catch (e) {
      throw new Error(`--device webgpu: ${(e as Error).message.replace(/^initWebGPU: /, '')}`);
    }
  }
  return device as Device;
}

/** fromPretrained options that draw a loading progress line for checkpoints big enough to take a while. */
export function loadingProgress(): { onProgress: (p: LoadProgress) => void } {
  const bar = new DelayedProgress('loading', 'bytes');
  return { onProgress: (p) => bar.update(p.loaded, p.total) };
}
