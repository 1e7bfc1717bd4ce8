// HF pre-tokenizers for SentencePiece-style tokenizers: Metaspace (with its
// prepend schemes), Digits, Split and Sequence. A split remembers whether it
// starts the original text, which Metaspace's "first" scheme needs.

import { type JsonObject, TokenizerJsonError, arr, obj, optBool, optStr, pattern, patternRegExp, str, typeOf } from './json.js';

/** A piece of text to tokenize; `atStart` is true when it begins at original offset 0. */
export interface Split {
  text: string;
  atStart: boolean;
}

/** Splits (and may rewrite) one split into several. */
export type HfPreTokenizer = (splits: Split[]) => Split[];

/** Prepend scheme of Metaspace. */
export type PrependScheme = 'always' | 'first' | 'never';

/** Reads Metaspace's prepend scheme, honouring the legacy add_prefix_space flag. */
export function prependSchemeOf(o: JsonObject, path: string): PrependScheme {
  let scheme = (optStr(o['prepend_scheme'], 'always', `${path}.prepend_scheme`) ?? 'always') as PrependScheme;
  if (!['always', 'first', 'never'].includes(scheme)) throw new TokenizerJsonError(`${path}: unknown prepend_scheme ${scheme}`);
  if (o['add_prefix_space'] === false) scheme = 'never';
  return scheme;
}

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

// SplitDelimiterBehavior applied to [start, end) matches of a pattern in `s`.
function splitBy(s: Split, matches: [number, number][], behavior: Behavior): Split[] {
  const pieces: [number, number, boolean][] = []; // begin, end, isMatch
  let last = 0;
  for (const [b, e] of matches) {
    if (b > last) pieces.push([last, b, false]);
    pieces.push([b, e, true]);
    last = e;
  }
  if (last < s.text.length) pieces.push([last, s.text.length, false]);
  const out: [number, number][] = [];
  switch (behavior) {
    case 'Removed':
      for (const [b, e, m] of pieces) if (!m) out.push([b, e]);
      break;
    case 'Isolated':
      for (const [b, e] of pieces) out.push([b, e]);
      break;
    case 'Contiguous': {
      let prevMatch = false;
      for (const [b, e, m] of pieces) {
        const prev = out[out.length - 1];
        if (m && prevMatch && prev !== undefined) prev[1] = e;
        else out.push([b, e]);
        prevMatch = m;
      }
      break;
    }
    case 'MergedWithPrevious':
      for (const [b, e, m] of pieces) {
        const prev = out[out.length - 1];
        if (m && prev !== undefined) prev[1] = e;
        else out.push([b, e]);
      }
      break;
    case 'MergedWithNext': {
      let pendingStart = -1;
      for (const [b, e, m] of pieces) {
        if (m) {
          if (pendingStart >= 0) out.push([pendingStart, b]);
          pendingStart = b;
        } else if (pendingStart >= 0) {
          out.push([pendingStart, e]);
          pendingStart = -1;
        } else {
          out.push([b, e]);
        }
      }
      if (pendingStart >= 0) out.push([pendingStart, s.text.length]);
      break;
    }
  }
  return out.filter(([b, e]) => e > b).map(([b, e]) => ({ text: s.text.slice(b, e), atStart: s.atStart && b === 0 }));
}

function findAll(text: string, re: RegExp): [number, number][] {
  const out: [number, number][] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

/** Builds a pre-tokenizer from its tokenizer.json description (null means none). */
export function buildPreTokenizer(v: unknown, path = 'pre_tokenizer'): HfPreTokenizer | null {
  if (v === null || v === undefined) return null;
  const o = obj(v, path);
  const type = typeOf(o, path);
  switch (type) {
    case 'Sequence': {
      const fns = arr(o['pretokenizers'], `${path}.pretokenizers`)
        .map((p, i) => buildPreTokenizer(p, `${path}.pretokenizers[${i}]`))
        .filter((f): f is HfPreTokenizer => f !== null);
      return (splits) => fns.reduce((acc, f) => f(acc), splits);
    }
    case 'Metaspace': {
      const rep = str(o['replacement'], `${path}.replacement`);
      const scheme = prependSchemeOf(o, path);
      const split = optBool(o['split'], true, `${path}.split`);
      return (splits) =>
        splits.flatMap((s) => {
          let text = s.text.replaceAll(' ', rep);
          // HF never doubles the marker: a text already starting with it gets none.
          if (!text.startsWith(rep) && (scheme === 'always' || (scheme === 'first' && s.atStart))) text = rep + text;
          const ns: Split = { text, atStart: s.atStart };
          if (!split) return [ns];
          const matches: [number, number][] = [];
          for (let i = text.indexOf(rep); i >= 0; i = text.indexOf(rep, i + rep.length)) matches.push([i, i + rep.length]);
          return splitBy(ns, matches, 'MergedWithNext');
        });
    }
    case 'Digits': {
      const individual = optBool(o['individual_digits'], false, `${path}.individual_digits`);
      const re = individual ? /\p{Nd}/gu : /\p{Nd}+/gu;
      return (splits) => splits.flatMap((s) => splitBy(s, findAll(s.text, re), 'Isolated'));
    }
    case 'Split': {
      const re = patternRegExp(pattern(o['pattern'], `${path}.pattern`));
      const behavior = str(o['behavior'], `${path}.behavior`) as Behavior;
      const invert = optBool(o['invert'], false, `${path}.invert`);
      if (invert) throw new TokenizerJsonError(`${path}: Split with invert is not supported`);
      return (splits) => splits.flatMap((s) => splitBy(s, findAll(s.text, re), behavior));
    }
    default:
      throw new TokenizerJsonError(`${path}: unsupported pre_tokenizer type ${type}`);
  }
}
