// TemplateProcessing: the post-processor that adds <s> / </s> around a sequence
// (or a pair), as "single" and "pair" templates in tokenizer.json describe it.

import { TokenizerJsonError, arr, obj, str, typeOf } from './json.js';

/** Adds special tokens to one sequence (or a pair) of ids. */
export interface HfPostProcessor {
  process(a: number[], b: number[] | null): number[];
  /** How many ids `process` adds. */
  added(pair: boolean): number;
}

type Piece = { kind: 'seq'; which: 'A' | 'B' } | { kind: 'special'; ids: number[] };

function parseTemplate(v: unknown, special: Map<string, number[]>, path: string): Piece[] {
  return arr(v, path).map((p, i) => {
    const o = obj(p, `${path}[${i}]`);
    if (o['Sequence'] !== undefined) {
      const id = str(obj(o['Sequence'], `${path}[${i}].Sequence`)['id'], `${path}[${i}].Sequence.id`);
      if (id !== 'A' && id !== 'B') throw new TokenizerJsonError(`${path}[${i}]: sequence id must be A or B`);
      return { kind: 'seq', which: id };
    }
    const name = str(obj(o['SpecialToken'], `${path}[${i}].SpecialToken`)['id'], `${path}[${i}].SpecialToken.id`);
    const ids = special.get(name);
    if (ids === undefined) throw new TokenizerJsonError(`${path}[${i}]: special token ${name} is not defined`);
    return { kind: 'special', ids };
  });
}

/** Builds the post-processor from tokenizer.json (null means none). */
export function buildPostProcessor(v: unknown, path = 'post_processor'): HfPostProcessor | null {
  if (v === null || v === undefined) return null;
  const o = obj(v, path);
  const type = typeOf(o, path);
  if (type === 'Sequence') {
    const procs = arr(o['processors'], `${path}.processors`)
      .map((p, i) => buildPostProcessor(p, `${path}.processors[${i}]`))
      .filter((p): p is HfPostProcessor => p !== null);
    if (procs.length > 1) throw new TokenizerJsonError(`${path}: only one effective processor is supported`);
    return procs[0] ?? null;
  }
  if (type === 'ByteLevel') return null; // only adjusts offsets
  if (type !== 'TemplateProcessing') throw new TokenizerJsonError(`${path}: unsupported post_processor type ${type}`);
  const special = new Map<string, number[]>();
  const st = obj(o['special_tokens'] ?? {}, `${path}.special_tokens`);
  for (const [name, def] of Object.entries(st)) {
    const ids = arr(obj(def, `${path}.special_tokens.${name}`)['ids'], `${path}.special_tokens.${name}.ids`);
    special.set(name, ids.map((x) => x as number));
  }
  const single = parseTemplate(o['single'], special, `${path}.single`);
  const pair = parseTemplate(o['pair'] ?? o['single'], special, `${path}.pair`);
  const count = (t: Piece[]): number => t.reduce((n, p) => n + (p.kind === 'special' ? p.ids.length : 0), 0);
  return {
    process(a, b) {
      const out: number[] = [];
      for (const p of b === null ? single : pair) {
        if (p.kind === 'special') out.push(...p.ids);
        else out.push(...(p.which === 'A' ? a : (b ?? [])));
      }
      return out;
    },
    added: (isPair) => count(isPair ? pair : single),
  };
}
