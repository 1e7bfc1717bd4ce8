// HF decoders: each maps a list of token strings to a list of strings; the
// tokenizer joins the final list. Semantics follow tokenizers' decoders/*.rs.

import { TokenizerJsonError, arr, int, obj, pattern, patternRegExp, str, typeOf } from './json.js';
import { prependSchemeOf } from './pre-tokenizers.js';

/** One step of the decoder chain. */
export type HfDecoder = (tokens: string[]) => string[];

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ByteFallback: a run of <0xNN> tokens becomes its UTF-8 text, or one U+FFFD per byte if invalid.
function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let bytes: number[] = [];
  const flush = (): void => {
    if (bytes.length === 0) return;
    try {
      out.push(fatal.decode(new Uint8Array(bytes)));
    } catch {
      for (let i = 0; i < bytes.length; i++) out.push('\uFFFD');
    }
    bytes = [];
  };
  for (const t of tokens) {
    const m = t.length === 6 ? /^<0x([0-9A-Fa-f]{2})>$/.exec(t) : null;
    if (m !== null) {
      bytes.push(parseInt(m[1]!, 16));
    } else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

/** Builds a decoder from its tokenizer.json description (null means none). */
export function buildDecoder(v: unknown, path = 'decoder'): HfDecoder | null {
  if (v === null || v === undefined) return null;
  const o = obj(v, path);
  const type = typeOf(o, path);
  switch (type) {
    case 'Sequence': {
      const fns = arr(o['decoders'], `${path}.decoders`)
        .map((d, i) => buildDecoder(d, `${path}.decoders[${i}]`))
        .filter((f): f is HfDecoder => f !== null);
      return (tokens) => fns.reduce((acc, f) => f(acc), tokens);
    }
    case 'ByteFallback':
      return byteFallback;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Replace': {
      const re = patternRegExp(pattern(o['pattern'], `${path}.pattern`));
      const content = str(o['content'], `${path}.content`);
      return (tokens) => tokens.map((t) => t.replace(re, () => content));
    }
    case 'Strip': {
      const content = str(o['content'], `${path}.content`);
      const start = int(o['start'], `${path}.start`);
      const stop = int(o['stop'], `${path}.stop`);
      return (tokens) =>
        tokens.map((t) => {
          const chars = [...t];
          let b = 0;
          while (b < start && b < chars.length && chars[b] === content) b++;
          let e = chars.length;
          while (chars.length - e < stop && e > b && chars[e - 1] === content) e--;
          return chars.slice(b, e).join('');
        });
    }
    case 'Metaspace': {
      const rep = str(o['replacement'], `${path}.replacement`);
      const scheme = prependSchemeOf(o, path);
      // Every marker in the first token is dropped (not only a leading one), as in HF.
      return (tokens) => tokens.map((t, i) => t.split(rep).join(i === 0 && scheme !== 'never' ? '' : ' '));
    }
    default:
      throw new TokenizerJsonError(`${path}: unsupported decoder type ${type}`);
  }
}
