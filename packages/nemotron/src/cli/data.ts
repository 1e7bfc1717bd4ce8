// Labelled text for train-head: JSONL ({"text": ..., "label": ...}) or CSV (text,label), with line numbers in errors.
import { readFile } from 'node:fs/promises';
import { UsageError } from './args.js';

/** One labelled example. */
export interface Example {
  text: string;
  label: number;
}

/** Reads a .jsonl or .csv file of texts and labels, mapping labels to indices of `labels`. */
export async function readExamples(path: string, labels: readonly string[]): Promise<Example[]> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read data file ${path}`);
  }
  const index = new Map(labels.map((l, i) => [l, i]));
  const csv = path.toLowerCase().endsWith('.csv');
  const out: Example[] = [];
  raw.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || (csv && i === 0 && /^\s*"?text"?\s*,\s*"?label"?\s*$/i.test(line))) return;
    let text: unknown;
    let label: unknown;
    if (csv) {
      const m = /^(?:"((?:[^"]|"")*)"|([^,]*)),\s*"?([^"]*)"?\s*$/.exec(line);
      if (!m) throw new UsageError(`${path}:${i + 1}: expected 'text,label'`);
      text = m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2];
      label = m[3];
    } else {
      try {
        const o = JSON.parse(line) as { text?: unknown; label?: unknown };
        text = o.text;
        label = o.label;
      } catch {
        throw new UsageError(`${path}:${i + 1}: not valid JSON`);
      }
    }
    if (typeof text !== 'string' || text === '') throw new UsageError(`${path}:${i + 1}: missing "text"`);
    const l = String(label);
    const li = index.get(l);
    if (li === undefined) throw new UsageError(`${path}:${i + 1}: unknown label '${l}' (expected one of ${labels.join(', ')})`);
    out.push({ text, label: li });
  });
  if (out.length === 0) throw new UsageError(`${path}: no examples`);
  return out;
}
