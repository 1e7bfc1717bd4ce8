// HF normalizers used by SentencePiece-style tokenizer.json files. They work on
// plain strings: offsets are not tracked on the tokenizer.json path.

import { type JsonObject, TokenizerJsonError, arr, obj, optBool, pattern, patternRegExp, str, typeOf } from './json.js';

/** A text-to-text normalization step. */
export type HfNormalizer = (text: string) => string;

/** Builds a normalizer from its tokenizer.json description (null means none). */
export function buildNormalizer(v: unknown, path = 'normalizer'): HfNormalizer | null {
  if (v === null || v === undefined) return null;
  const o: JsonObject = obj(v, path);
  const type = typeOf(o, path);
  switch (type) {
    case 'Sequence': {
      const parts = arr(o['normalizers'], `${path}.normalizers`).map((n, i) => buildNormalizer(n, `${path}.normalizers[${i}]`));
      const fns = parts.filter((f): f is HfNormalizer => f !== null);
      return (s) => fns.reduce((acc, f) => f(acc), s);
    }
    case 'Prepend': {
      const p = str(o['prepend'], `${path}.prepend`);
      // Empty strings stay empty, as in HF.
      return (s) => (s.length > 0 ? p + s : s);
    }
    case 'Replace': {
      const re = patternRegExp(pattern(o['pattern'], `${path}.pattern`));
      const content = str(o['content'], `${path}.content`);
      return (s) => s.replace(re, () => content);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (s) => s.normalize(type);
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'Strip': {
      const left = optBool(o['strip_left'], true, `${path}.strip_left`);
      const right = optBool(o['strip_right'], true, `${path}.strip_right`);
      return (s) => {
        let r = left ? s.replace(/^\p{White_Space}+/u, '') : s;
        if (right) r = r.replace(/\p{White_Space}+$/u, '');
        return r;
      };
    }
    default:
      throw new TokenizerJsonError(`${path}: unsupported normalizer type ${type}`);
  }
}
