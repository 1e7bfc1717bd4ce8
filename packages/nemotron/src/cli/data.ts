// Training data for train-head: labelled text as JSONL ({"text": ..., "label": ...}) or CSV (text,label; RFC 4180 through
// csv-parse, so quoted fields may hold commas, quotes and line breaks), word-tagged sentences and extractive
// questions as JSONL, with line numbers in every error.
import { readFile } from 'node:fs/promises';
import { CsvError, parse } from 'csv-parse/sync';
import { UsageError } from './args.js';

/** One labelled example. */
export interface Example {
  text: string;
  label: number;
}

/** A raw row: its fields and the line it starts on. */
interface Row {
  text: unknown;
  label: unknown;
  line: number;
}

/** The objects of a .jsonl file with their line numbers, each holding `fields` (errors name the file, line and field). */
export function jsonlObjects(path: string, raw: string, fields: readonly string[]): { o: Record<string, unknown>; line: number }[] {
  const out: { o: Record<string, unknown>; line: number }[] = [];
  raw.split(/\r?\n/).forEach((text, i) => {
    if (text.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      throw new UsageError(`${path}:${i + 1}: not valid JSON`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`${path}:${i + 1}: expected an object {${fields.map((f) => `"${f}": ...`).join(', ')}}`);
    for (const k of fields) if (!(k in o)) throw new UsageError(`${path}:${i + 1}: missing "${k}"`);
    out.push({ o: o as Record<string, unknown>, line: i + 1 });
  });
  return out;
}

function jsonlRows(path: string, raw: string): Row[] {
  return jsonlObjects(path, raw, ['text', 'label']).map(({ o, line }) => ({ text: o['text'], label: o['label'], line }));
}

/** The first line after `line` that holds something (where the next record starts). */
function nextContentLine(lines: readonly string[], line: number): number {
  let l = line + 1;
  while (l <= lines.length && lines[l - 1]!.trim() === '') l++;
  return l;
}

function csvRows(path: string, raw: string): Row[] {
  const lines = raw.split(/\r?\n/);
  let lastEnd = 0;
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // with info, each result row is {record, info}; on_record sees every record as it completes
    records = parse(raw, {
      bom: true, info: true, relax_column_count: true, skip_empty_lines: true,
      on_record: (record, context) => ((lastEnd = context.lines), record),
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    const line = nextContentLine(lines, lastEnd);
    if (e.code === 'CSV_QUOTE_NOT_CLOSED') throw new UsageError(`${path}:${line}: a quoted field is never closed (missing '"')`);
    throw new UsageError(`${path}:${line}: not valid CSV (${e.message.replace(/ at line \d+.*$/, '')})`);
  }
  const rows: Row[] = [];
  let prevEnd = 0;
  records.forEach(({ record, info }, i) => {
    const line = nextContentLine(lines, prevEnd);
    prevEnd = info.lines;
    if (i === 0 && record.length === 2 && record[0]!.trim().toLowerCase() === 'text' && record[1]!.trim().toLowerCase() === 'label') return;
    if (record.length !== 2) throw new UsageError(`${path}:${line}: expected 2 fields (text,label), got ${record.length}`);
    rows.push({ text: record[0], label: record[1]!.trim(), line });
  });
  return rows;
}

/** Reads a .jsonl or .csv file of texts and labels, mapping labels to indices of `labels`. */
export async function readExamples(path: string, labels: readonly string[]): Promise<Example[]> {
  const raw = await readData(path);
  const index = new Map(labels.map((l, i) => [l, i]));
  const rows = path.toLowerCase().endsWith('.csv') ? csvRows(path, raw) : jsonlRows(path, raw);
  const out = rows.map(({ text, label, line }) => {
    if (typeof text !== 'string' || text.trim() === '') throw new UsageError(`${path}:${line}: "text" must be a non-empty string`);
    if (typeof label !== 'string' && typeof label !== 'number') throw new UsageError(`${path}:${line}: "label" must be a string or a number`);
    const li = index.get(String(label));
    if (li === undefined) throw new UsageError(`${path}:${line}: unknown label '${label}' (expected one of ${labels.join(', ')})`);
    return { text, label: li };
  });
  if (out.length === 0) throw new UsageError(`${path}: no examples`);
  return out;
}

/** One word-tagged sentence for token classification: its words and each word's label index. */
export interface TokenExample {
  tokens: string[];
  tags: number[];
}

/** Reads .jsonl lines {"tokens": [words], "tags": [labels]} (one tag per word, each one of `labels`). */
export async function readTokenExamples(path: string, labels: readonly string[]): Promise<TokenExample[]> {
  const index = new Map(labels.map((l, i) => [l, i]));
  const out = jsonlObjects(path, await readData(path), ['tokens', 'tags']).map(({ o, line }) => {
    const { tokens, tags } = o as { tokens: unknown; tags: unknown };
    const strings = (x: unknown) => Array.isArray(x) && x.every((w) => typeof w === 'string');
    if (!strings(tokens) || (tokens as string[]).length === 0 || (tokens as string[]).some((w) => w.trim() === '' || /\s/.test(w))) {
      throw new UsageError(`${path}:${line}: "tokens" must be a non-empty array of words (non-empty strings without spaces)`);
    }
    if (!strings(tags)) throw new UsageError(`${path}:${line}: "tags" must be an array of label strings`);
    const [ws, ts] = [tokens as string[], tags as string[]];
    if (ts.length !== ws.length) throw new UsageError(`${path}:${line}: "tags" has ${ts.length} labels for ${ws.length} "tokens"`);
    const bad = ts.find((t) => !index.has(t));
    if (bad !== undefined) throw new UsageError(`${path}:${line}: "tags": unknown label '${bad}' (expected one of ${labels.join(', ')})`);
    return { tokens: ws, tags: ts.map((t) => index.get(t)!) };
  });
  if (out.length === 0) throw new UsageError(`${path}: no examples`);
  return out;
}

/** One extractive question: the answer is context.slice(start, start + text.length). */
export interface QaExample {
  context: string;
  question: string;
  start: number;
  text: string;
}

/**
 * Reads .jsonl lines {"context", "question", "answer_start", "answer_text"} or SQuAD's {"context", "question",
 * "answers": {"text": [...], "answer_start": [...]}} (the first answer is the target); the span must be in the context.
 */
export async function readQaExamples(path: string): Promise<QaExample[]> {
  const out = jsonlObjects(path, await readData(path), ['context', 'question']).map(({ o, line }) => {
    for (const k of ['context', 'question']) if (typeof o[k] !== 'string' || (o[k] as string).trim() === '') throw new UsageError(`${path}:${line}: "${k}" must be a non-empty string`);
    const context = o['context'] as string;
    let start: unknown;
    let text: unknown;
    let field = 'answer_start';
    if ('answers' in o) {
      const a = o['answers'] as { text?: unknown; answer_start?: unknown } | null;
      if (a === null || typeof a !== 'object' || !Array.isArray(a.text) || !Array.isArray(a.answer_start) || a.text.length === 0 || a.text.length !== a.answer_start.length) {
        throw new UsageError(`${path}:${line}: "answers" must be {"text": [...], "answer_start": [...]} with as many offsets as texts (at least one)`);
      }
      [start, text, field] = [a.answer_start[0], a.text[0], 'answers.answer_start'];
    } else {
      for (const k of ['answer_start', 'answer_text']) if (!(k in o)) throw new UsageError(`${path}:${line}: missing "${k}" (or "answers")`);
      [start, text] = [o['answer_start'], o['answer_text']];
    }
    if (typeof text !== 'string' || text.trim() === '') throw new UsageError(`${path}:${line}: the answer text must be a non-empty string`);
    if (!Number.isInteger(start) || (start as number) < 0) throw new UsageError(`${path}:${line}: "${field}" must be a non-negative integer (a character offset)`);
    const s = start as number;
    if (context.slice(s, s + text.length) !== text) throw new UsageError(`${path}:${line}: "${field}": the answer ${JSON.stringify(text)} is not in "context" at character ${s}`);
    return { context, question: o['question'] as string, start: s, text };
  });
  if (out.length === 0) throw new UsageError(`${path}: no examples`);
  return out;
}

async function readData(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read data file ${path}`);
  }
}
