// HF's AddedVocabulary: added tokens are cut out of the text before the model
// sees it, leftmost-longest, first those with normalized=false on the raw text,
// then those with normalized=true on the normalized text.

import type { HfNormalizer } from './normalizers.js';

/** One entry of tokenizer.json's added_tokens (`id` is reassigned as HF does, see AddedVocabulary). */
export interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A segment of text: either an added token (id >= 0) or text for the model. */
export interface Segment {
  text: string;
  id: number;
  atStart: boolean;
}

// Rust regex \w and \s are Unicode-aware; these are their Unicode definitions.
const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE_CHAR = /\p{White_Space}/u;

/** Character trie over UTF-16 code units for leftmost-longest matching. */
class Matcher {
  private readonly root = new Map<number, Node>();

  /** Adds a pattern; the first token registered for a pattern keeps it. */
  add(pattern: string, token: AddedToken): void {
    let level = this.root;
    let node: Node | undefined;
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern.charCodeAt(i);
      node = level.get(c);
      if (node === undefined) {
        node = { next: new Map(), token: null };
        level.set(c, node);
      }
      level = node.next;
    }
    if (node !== undefined && node.token === null) node.token = token;
  }

  /** Longest match at `pos`: [length, token] or null. */
  longestAt(text: string, pos: number): [number, AddedToken] | null {
    let level = this.root;
    let best: [number, AddedToken] | null = null;
    for (let i = pos; i < text.length; i++) {
      const node = level.get(text.charCodeAt(i));
      if (node === undefined) break;
      if (node.token !== null) best = [i + 1 - pos, node.token];
      level = node.next;
    }
    return best;
  }

  /** True when no pattern was added. */
  get empty(): boolean {
    return this.root.size === 0;
  }
}

interface Node {
  next: Map<number, Node>;
  token: AddedToken | null;
}

/** Added tokens and the two matchers that split text around them. */
export class AddedVocabulary {
  readonly byId = new Map<number, AddedToken>();
  readonly byContent = new Map<string, AddedToken>();
  /** The string decode uses for an id: the normalized content for normalized tokens (simple_id_to_token). */
  readonly decodeString = new Map<number, string>();
  private readonly raw = new Matcher();
  private readonly normalizedMatcher = new Matcher();

  /**
   * Registers tokens as HF's add_tokens does: the id in the file is ignored; a
   * token takes the model's id for its content, else the next id after the
   * model vocabulary. Normalized tokens are matched in their normalized form.
   */
  constructor(tokens: AddedToken[], normalizer: HfNormalizer | null, modelId: (content: string) => number | undefined, modelSize: number) {
    let nextId = modelSize;
    const contentId = new Map<string, number>();
    for (const given of tokens) {
      if (given.content.length === 0) continue;
      const id = contentId.get(given.content) ?? modelId(given.content) ?? nextId++;
      const t: AddedToken = { ...given, id };
      contentId.set(t.content, id);
      this.byId.set(id, t);
      this.byContent.set(t.content, t);
    }
    // Matchers from the final map: a re-added content replaces the earlier token.
    for (const t of this.byId.values()) {
      if (this.byContent.get(t.content) !== t) continue;
      if (t.normalized) {
        const normed = normalizer !== null ? normalizer(t.content) : t.content;
        if (normed !== t.content) this.decodeString.set(t.id, normed);
        this.normalizedMatcher.add(normed, t);
      } else {
        this.raw.add(t.content, t);
      }
    }
  }

  /** True if `token` is the content of a special added token. */
  isSpecial(token: string): boolean {
    return this.byContent.get(token)?.special === true;
  }

  // find_matches: cut `text` at every match, honouring single_word / lstrip / rstrip.
  private split(seg: Segment, matcher: Matcher): Segment[] {
    const text = seg.text;
    if (matcher.empty || text.length === 0) return [seg];
    const out: Segment[] = [];
    let startOffset = 0;
    for (let i = 0; i < text.length; ) {
      const m = matcher.longestAt(text, i);
      if (m === null) {
        i++;
        continue;
      }
      let start = i;
      let stop = i + m[0];
      const t = m[1];
      if (t.singleWord) {
        const startSpace = start === 0 || !WORD_CHAR.test(lastChar(text, start));
        const stopSpace = stop === text.length || !WORD_CHAR.test(firstChar(text, stop));
        if (!startSpace || !stopSpace) {
          i = stop; // the match is consumed even when rejected (leftmost_find_iter)
          continue;
        }
      }
      if (t.lstrip) {
        let s = start;
        while (s > startOffset && SPACE_CHAR.test(text[s - 1]!)) s--;
        start = s;
      }
      if (t.rstrip) while (stop < text.length && SPACE_CHAR.test(text[stop]!)) stop++;
      if (startOffset < start) out.push({ text: text.slice(startOffset, start), id: -1, atStart: seg.atStart && startOffset === 0 });
      out.push({ text: text.slice(start, stop), id: t.id, atStart: seg.atStart && start === 0 });
      startOffset = stop;
      i = stop;
    }
    if (startOffset < text.length) out.push({ text: text.slice(startOffset), id: -1, atStart: seg.atStart && startOffset === 0 });
    return out;
  }

  /** extract_and_normalize: split on raw tokens, normalize the rest, split on normalized tokens. */
  extractAndNormalize(text: string, normalizer: HfNormalizer | null): Segment[] {
    const out: Segment[] = [];
    for (const seg of this.split({ text, id: -1, atStart: true }, this.raw)) {
      if (seg.id >= 0) {
        out.push(seg);
        continue;
      }
      const norm = normalizer !== null ? normalizer(seg.text) : seg.text;
      for (const s of this.split({ text: norm, id: -1, atStart: seg.atStart }, this.normalizedMatcher)) out.push(s);
    }
    return out;
  }
}

function lastChar(s: string, end: number): string {
  const c = s.charCodeAt(end - 1);
  return c >= 0xdc00 && c < 0xe000 && end >= 2 ? s.slice(end - 2, end) : s[end - 1]!;
}

function firstChar(s: string, start: number): string {
  return String.fromCodePoint(s.codePointAt(start)!);
}
