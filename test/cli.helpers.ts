// Shared by the CLI end-to-end tests: running the built `tensorzoo` binary, and tiny model folders (random weights,
// the fixture SentencePiece tokenizer) written into a temporary folder.
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator } from '@tensorzoo/tensor';
import { NemotronConfig, NemotronForCausalLM, type ConfigJson } from '@tensorzoo/nemotron';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(root, 'packages', 'nemotron', 'dist', 'cli', 'main.js');

/** What a CLI run left: exit code and both streams. */
export interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in `cwd` with optional stdin and extra environment. */
export function runCli(cwd: string, args: readonly string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 120_000, input: opts.input, env: { ...process.env, ...opts.env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** The configuration of the tiny test models (vocabulary of the fixture tokenizer). */
export function tinyConfig(overrides: ConfigJson = {}): NemotronConfig {
  return new NemotronConfig({
    vocab_size: 8000, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 16,
    max_position_embeddings: 128, pad_token_id: 0, bos_token_id: 2, eos_token_id: 3, ...overrides,
  });
}

/** Copies the fixture tokenizer into a model folder. */
export function writeTokenizer(dir: string): void {
  copyFileSync(join(root, 'test/fixtures/sentencepiece/nemotron_like_bpe.model'), join(dir, 'tokenizer.model'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' }));
}

/** Writes a random tiny causal LM with a tokenizer to `dir`. */
export async function writeTinyCausalLM(dir: string, overrides: ConfigJson = {}): Promise<NemotronForCausalLM> {
  const model = new NemotronForCausalLM(tinyConfig(overrides), { generator: new Generator(0) });
  await model.savePretrained(dir, { dtype: 'bfloat16' });
  writeTokenizer(dir);
  return model;
}
