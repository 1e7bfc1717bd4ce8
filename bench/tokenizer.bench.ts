// Tokenizer benchmark: load time and encoding throughput of a 256k-piece BPE
// model (Nemotron-4's size), ours vs Hugging Face `tokenizers` (Rust, via its
// Node binding) on the same few MB of mixed-language text, in the same run.
//
// The 256k model is grown from the 8k fixture model the way BPE training grows
// a vocabulary: repeatedly add the most frequent adjacent piece pairs seen when
// encoding the corpus (then rarer random pairs), each new piece scoring below
// all earlier ones. The tokenizer.json is derived from it as LlamaConverter does.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PieceType, SentencePieceTokenizer, Tokenizer } from '../packages/tokenizer/src/index.js';
import { ProtoReader } from '../packages/tokenizer/src/protobuf.js';
import { spmToTokenizerJson } from '../test/tokenizer.helpers.js';
import { medianMs, printTable } from './util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(root, 'test', 'fixtures', 'sentencepiece');
const require = createRequire(import.meta.url);
const TARGET_VOCAB = 256_000;

interface HfTokenizer {
  encode(s: string, pair: null, o: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }>;
  encodeBatch(s: string[], o: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }[]>;
}
type HfModule = { Tokenizer: { fromString(s: string): HfTokenizer } };

/** Mixed text: TypeScript's diagnostics in 13 languages, .d.ts code and the fixture strings. */
function corpus(): string[] {
  const tsLib = join(dirname(require.resolve('typescript/package.json')), 'lib');
  const lines: string[] = [];
  for (const loc of readdirSync(tsLib).sort()) {
    try {
      const msgs = JSON.parse(readFileSync(join(tsLib, loc, 'diagnosticMessages.generated.json'), 'utf8')) as Record<string, string>;
      lines.push(...Object.values(msgs));
    } catch {
      // not a locale folder
    }
  }
  for (const f of ['lib.es5.d.ts', 'lib.dom.d.ts']) lines.push(...readFileSync(join(tsLib, f), 'utf8').split('\n').filter((l) => l.length > 0));
  for (const f of ['nemotron_like_bpe.cases.json', 'unigram_nmt_nfkc.cases.json']) {
    const c = JSON.parse(readFileSync(join(fixtures, f), 'utf8')) as { encode: { text: string }[] };
    lines.push(...c.encode.map((e) => e.text).filter((t) => t.length > 0));
  }
  return lines;
}

// --- a tiny protobuf writer, enough to serialize ModelProto pieces ---
class Writer {
  private buf: Uint8Array;
  len = 0;
  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const enc = new TextEncoder();

/** Serializes a ModelProto: the given pieces plus the other top-level fields of `base` copied raw. */
function writeModel(base: Uint8Array, pieces: string[], scores: number[], types: number[]): Uint8Array {
  const w = new Writer(1 << 20);
  const f32 = new Uint8Array(4);
  const dv = new DataView(f32.buffer);
  for (let i = 0; i < pieces.length; i++) {
    const p = enc.encode(pieces[i]!);
    const inner = new Writer();
    inner.varint((1 << 3) | 2);
    inner.varint(p.length);
    inner.bytes(p);
    dv.setFloat32(0, scores[i]!, true);
    inner.varint((2 << 3) | 5);
    inner.bytes(f32);
    if (types[i] !== PieceType.NORMAL) {
      inner.varint(3 << 3);
      inner.varint(types[i]!);
    }
    const body = inner.result();
    w.varint((1 << 3) | 2);
    w.varint(body.length);
    w.bytes(body);
  }
  const r = new ProtoReader(base);
  while (r.more()) {
    const start = r.pos;
    const [field, wire] = r.tag();
    r.skip(wire);
    if (field !== 1) w.bytes(base.subarray(start, r.pos));
  }
  return w.result();
}

/** Grows the 8k fixture BPE model to TARGET_VOCAB pieces on `lines`. */
function build256k(lines: string[]): Uint8Array {
  const base = new Uint8Array(readFileSync(join(fixtures, 'nemotron_like_bpe.model')));
  let tok = SentencePieceTokenizer.fromBuffer(base);
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let i = 0; i < tok.vocabSize; i++) {
    pieces.push(tok.idToPiece(i));
    scores.push(tok.getScore(i));
    types.push(tok.getType(i));
  }
  const known = new Set(pieces);
  let minScore = Math.min(...scores);
  // Per-piece facts for the training options: split_by_whitespace, split_digits, max length 16.
  const ok: boolean[] = [];
  const leftOnly: boolean[] = []; // starts with U+2581: may only be a left part
  const chars: number[] = [];
  const note = (p: string, type: number): void => {
    ok.push(type === PieceType.NORMAL && !/\p{Nd}/u.test(p));
    leftOnly.push(p.startsWith('\u2581'));
    chars.push([...p].length);
  };
  pieces.forEach((p, i) => note(p, types[i]!));
  const mergeable = (a: number, b: number): boolean => ok[a]! && ok[b]! && !leftOnly[b]! && chars[a]! + chars[b]! <= 16;
  const add = (p: string): void => {
    known.add(p);
    note(p, PieceType.NORMAL);
    pieces.push(p);
    minScore -= 1;
    scores.push(minScore);
    types.push(PieceType.NORMAL);
  };
  // Train on half of the lines: enough to rank frequent pairs, and twice as fast.
  const sample = lines.filter((_, i) => i % 2 === 0);
  for (let round = 0; round < 3 && pieces.length < TARGET_VOCAB; round++) {
    const tr = performance.now();
    const counts = new Map<number, number>();
    for (const l of sample) {
      const ids = tok.encode(l);
      for (let i = 1; i < ids.length; i++) {
        if (!mergeable(ids[i - 1]!, ids[i]!)) continue;
        const key = ids[i - 1]! * 262144 + ids[i]!;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    const top = [...counts].filter(([, c]) => c >= 2).sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    let added = 0;
    for (const [key] of top) {
      if (pieces.length >= TARGET_VOCAB || added >= 80_000) break;
      const p = pieces[Math.floor(key / 262144)]! + pieces[key % 262144]!;
      if (known.has(p)) continue;
      add(p);
      added++;
    }
    if (added === 0) break;
    tok = SentencePieceTokenizer.fromBuffer(writeModel(base, pieces, scores, types));
    if (process.env['BENCH_VERBOSE']) console.log(`round ${round}: +${added} pieces, ${((performance.now() - tr) / 1000).toFixed(1)} s`);
  }
  // Fill up with rarer pieces: random pairs of existing pieces (seeded).
  let seed = 20240601;
  const rand = (n: number): number => {
    // xorshift32: an LCG's low bits cycle too fast for `% n`.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  for (let tries = 0; pieces.length < TARGET_VOCAB && tries < 50 * TARGET_VOCAB; tries++) {
    const a = rand(pieces.length);
    const b = rand(pieces.length);
    if (!mergeable(a, b)) continue;
    const p = pieces[a]! + pieces[b]!;
    if (!known.has(p)) add(p);
  }
  return writeModel(base, pieces, scores, types);
}

function mbPerS(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/** Runs the tokenizer benchmark and prints its tables. */
export async function run(): Promise<void> {
  const lines = corpus();
  const totalBytes = lines.reduce((n, l) => n + enc.encode(l).length, 0);
  let hf: HfModule | null = null;
  try {
    hf = require('tokenizers') as HfModule;
  } catch {
    hf = null;
  }
  // The grown model depends only on the corpus and the fixture: cache it between runs.
  const key = createHash('sha256').update(lines.join('\n')).update(readFileSync(join(fixtures, 'nemotron_like_bpe.model'))).update('v1').digest('hex').slice(0, 16);
  const cached = join(tmpdir(), `tensorzoo-bench-bpe256k-${key}.model`);
  const t0 = performance.now();
  let model: Uint8Array;
  if (existsSync(cached)) {
    model = new Uint8Array(readFileSync(cached));
  } else {
    model = build256k(lines);
    writeFileSync(cached, model);
  }
  const buildMs = performance.now() - t0;
  const sp = SentencePieceTokenizer.fromBuffer(model);
  const json = JSON.stringify(spmToTokenizerJson(sp, 'legacy', false));
  console.log(
    `\ncorpus: ${lines.length} lines, ${(totalBytes / 1e6).toFixed(2)} MB (13 languages + code); ` +
      `model: ${sp.vocabSize} pieces, .model ${(model.length / 1e6).toFixed(1)} MB, tokenizer.json ${(json.length / 1e6).toFixed(1)} MB (built or read from ${cached} in ${(buildMs / 1000).toFixed(1)} s)` +
      (hf === null ? '; HF tokenizers: not installed' : ''),
  );

  // Load time.
  const loadRows: (string | number)[][] = [];
  loadRows.push(['ours: SentencePieceTokenizer.fromBuffer(.model)', await medianMs(() => SentencePieceTokenizer.fromBuffer(model), 5, 1)]);
  loadRows.push(['ours: Tokenizer.fromString(tokenizer.json)', await medianMs(() => Tokenizer.fromString(json), 3, 1)]);
  if (hf !== null) loadRows.push(['HF tokenizers: Tokenizer.fromString(tokenizer.json)', await medianMs(() => hf!.Tokenizer.fromString(json), 3, 1)]);
  printTable('tokenizer load, 256k-piece BPE', ['what', 'ms'], loadRows);

  // Encoding throughput, one call per line. "first pass" = a freshly loaded
  // tokenizer (empty word cache); the others are medians of warm passes.
  const rows: (string | number)[][] = [];
  const coldSp = SentencePieceTokenizer.fromBuffer(model);
  let t = performance.now();
  for (const l of lines) coldSp.encode(l);
  const coldMs = performance.now() - t;
  rows.push(['ours .model: first pass (cold cache), 1 thread', '', coldMs, mbPerS(totalBytes, coldMs)]);
  const spMs = await medianMs(() => {
    for (const l of lines) sp.encode(l);
  }, 5, 1);
  rows.push(['ours .model: warm, 1 thread', '', spMs, mbPerS(totalBytes, spMs)]);
  let mismatches = -1;
  for (const variant of ['legacy', 'metaspace-split'] as const) {
    const j = variant === 'legacy' ? json : JSON.stringify(spmToTokenizerJson(sp, variant, false));
    const ours = Tokenizer.fromString(j);
    t = performance.now();
    for (const l of lines) ours.encode(l, { addSpecialTokens: false });
    const oursCold = performance.now() - t;
    rows.push(['ours tokenizer.json: first pass, 1 thread', variant, oursCold, mbPerS(totalBytes, oursCold)]);
    const jsonMs = await medianMs(() => {
      for (const l of lines) ours.encode(l, { addSpecialTokens: false });
    }, 3, 1);
    rows.push(['ours tokenizer.json: warm, 1 thread', variant, jsonMs, mbPerS(totalBytes, jsonMs)]);
    if (hf === null) continue;
    const ref = hf.Tokenizer.fromString(j);
    t = performance.now();
    for (const l of lines) await ref.encode(l, null, { addSpecialTokens: false });
    const refCold = performance.now() - t;
    rows.push(['HF tokenizers: encode per line (awaited), first pass', variant, refCold, mbPerS(totalBytes, refCold)]);
    const seqMs = await medianMs(async () => {
      for (const l of lines) await ref.encode(l, null, { addSpecialTokens: false });
    }, 3, 1);
    rows.push(['HF tokenizers: encode per line (awaited), warm', variant, seqMs, mbPerS(totalBytes, seqMs)]);
    const batchMs = await medianMs(() => ref.encodeBatch(lines, { addSpecialTokens: false }), 3, 1);
    rows.push([`HF tokenizers: encodeBatch(all lines), ${cpus().length} Rust threads`, variant, batchMs, mbPerS(totalBytes, batchMs)]);
    if (variant === 'legacy') {
      const refIds = await ref.encodeBatch(lines, { addSpecialTokens: false });
      mismatches = 0;
      for (let i = 0; i < lines.length; i++) if (JSON.stringify(sp.encode(lines[i]!)) !== JSON.stringify(refIds[i]!.getIds())) mismatches++;
    }
  }
  printTable('encode throughput, 256k-piece BPE, same text', ['what', 'tokenizer.json', 'ms', 'MB/s'], rows);
  if (mismatches >= 0) console.log(`\nlines where ours (.model) and HF (legacy tokenizer.json) ids differ: ${mismatches} of ${lines.length} (only lines with added-token text such as <s> may differ)`);

  // The fixture models for scale.
  const small: (string | number)[][] = [];
  for (const name of ['nemotron_like_bpe', 'unigram_nmt_nfkc']) {
    const t = SentencePieceTokenizer.fromBuffer(readFileSync(join(fixtures, `${name}.model`)));
    const ms = await medianMs(() => {
      for (const l of lines) t.encode(l);
    }, 3, 1);
    small.push([`${name} (8k)`, ms, mbPerS(totalBytes, ms)]);
  }
  printTable('encode throughput, fixture models', ['model', 'ms', 'MB/s'], small);
}
