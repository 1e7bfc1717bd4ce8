// Plain text for causal-LM training: a .txt file (documents separated by blank lines) or .jsonl ({"text": ...}
// per line), with line numbers in every error.
import { readFile } from 'node:fs/promises';
import { UsageError } from './args.js';
import { jsonlObjects } from './data.js';

/** The documents of a .txt or .jsonl file. */
export async function readTexts(path: string): Promise<string[]> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read data file ${path}`);
  }
  const docs: string[] = [];
  if (path.toLowerCase().endsWith('.jsonl')) {
    for (const { o, line } of jsonlObjects(path, raw, ['text'])) {
      const text = o['text'];
      if (typeof text !== 'string' || text.trim() === '') throw new UsageError(`${path}:${line}: expected an object {"text": "..."} with a non-empty string`);
      docs.push(text);
    }
  } else {
    for (const d of raw.split(/\r?\n[ \t]*\r?\n/)) if (d.trim() !== '') docs.push(d.trim());
  }
  if (docs.length === 0) throw new UsageError(`${path}: no text`);
  return docs;
}

/**
 * Packs documents (each followed by EOS when the model has one) into blocks of `blockSize` tokens, dropping the
 * remainder as transformers' run_clm group_texts does; text shorter than one block makes one shorter block.
 */
export function packBlocks(docs: readonly number[][], blockSize: number, eos: number | null): number[][] {
  const all = docs.flatMap((d) => (eos === null ? d : [...d, eos]));
  if (all.length < 2) throw new UsageError('the data holds fewer than 2 tokens: nothing to learn from');
  if (all.length < blockSize) return [all];
  const blocks: number[][] = [];
  for (let i = 0; i + blockSize <= all.length; i += blockSize) blocks.push(all.slice(i, i + blockSize));
  return blocks;
}
