// HF's BPE model (models/bpe): characters -> ids (byte fallback, unk), then
// merges applied by rank (lowest first, leftmost on ties) with a binary heap.
// Merges live in an open-addressing table keyed by the id pair.

import { TokenizerJsonError, arr, obj, optBool, optStr } from './json.js';

/** Pair (left id, right id) -> (rank, merged id), in typed arrays. */
class PairMap {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  readonly rank: Int32Array;
  readonly merged: Int32Array;
  private readonly mask: number;
  private readonly shift: number;

  constructor(capacityHint: number) {
    let cap = 16;
    while (cap < capacityHint * 2) cap *= 2;
    this.shift = 32 - Math.log2(cap);
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.rank = new Int32Array(cap);
    this.merged = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slot(a: number, b: number): number {
    // Fibonacci hashing of a mixed key; the high bits of the product index the table.
    let h = Math.imul(Math.imul(a, 0x85ebca6b) ^ b, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const l = this.left[h]!;
      if (l === -1 || (l === a && this.right[h] === b)) return h;
      h = (h + 1) & this.mask;
    }
  }

  /** Sets a pair; a later duplicate replaces an earlier one, as a Rust HashMap collect does. */
  set(a: number, b: number, rank: number, merged: number): void {
    const h = this.slot(a, b);
    this.left[h] = a;
    this.right[h] = b;
    this.rank[h] = rank;
    this.merged[h] = merged;
  }

  /** Slot of a pair, or -1. */
  find(a: number, b: number): number {
    const h = this.slot(a, b);
    return this.left[h] === -1 ? -1 : h;
  }
}

/** A decoded HF BPE model. */
export class HfBpe {
  readonly vocab: Map<string, number>;
  readonly idToToken: string[];
  private readonly merges: PairMap;
  private readonly unkId: number;
  private readonly fuseUnk: boolean;
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly byteIds = new Int32Array(256).fill(-1);
  // Single-character tokens by code point: avoids a string per character while encoding.
  private readonly charIds = new Int32Array(0x10000).fill(-1);
  private readonly astralIds = new Map<number, number>();
  // Scratch for merging.
  private ids = new Int32Array(64);
  private lens = new Int32Array(64);
  private prev = new Int32Array(64);
  private next = new Int32Array(64);
  private heapRank = new Int32Array(64);
  private heapPos = new Int32Array(64);
  private heapNew = new Int32Array(64);
  private heapLen = 0;
  /**
   * True when no merge result has U+2581 after another character and U+2581 is
   * a token: then BPE never crosses the start of a "▁word", so words encode
   * independently and can be cached (same ids as one pass, only faster).
   */
  private readonly segmentable: boolean;
  private readonly cache = new Map<string, number[]>();

  /** Builds the model from the `model` object of tokenizer.json. */
  constructor(model: Record<string, unknown>) {
    if (model['dropout'] !== null && model['dropout'] !== undefined && model['dropout'] !== 0) {
      throw new TokenizerJsonError('model.dropout: BPE dropout is not supported');
    }
    if (model['continuing_subword_prefix'] || model['end_of_word_suffix']) {
      throw new TokenizerJsonError('model: continuing_subword_prefix / end_of_word_suffix are not supported');
    }
    const vocabObj = obj(model['vocab'], 'model.vocab');
    this.vocab = new Map();
    this.idToToken = [];
    const tokens = Object.keys(vocabObj);
    for (let t = 0; t < tokens.length; t++) {
      const token = tokens[t]!;
      const id = vocabObj[token];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new TokenizerJsonError(`model.vocab[${JSON.stringify(token)}]: bad id`);
      this.vocab.set(token, id);
      this.idToToken[id] = token;
      const cp = token.codePointAt(0)!;
      if (token.length === 1) this.charIds[cp] = id;
      else if (token.length === 2 && cp > 0xffff) this.astralIds.set(cp, id);
      if (token.length === 6) {
        const m = /^<0x([0-9A-F]{2})>$/.exec(token);
        if (m !== null) this.byteIds[parseInt(m[1]!, 16)] = id;
      }
    }
    const merges = arr(model['merges'] ?? [], 'model.merges');
    this.merges = new PairMap(merges.length);
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank];
      let a: string;
      let b: string;
      if (typeof m === 'string') {
        const sp = m.indexOf(' ');
        if (sp < 0) throw new TokenizerJsonError(`model.merges[${rank}]: expected "a b"`);
        a = m.slice(0, sp);
        b = m.slice(sp + 1);
      } else if (Array.isArray(m) && typeof m[0] === 'string' && typeof m[1] === 'string') {
        // Checked inline: building an error path string per merge would dominate loading.
        a = m[0];
        b = m[1];
      } else {
        throw new TokenizerJsonError(`model.merges[${rank}]: expected "a b" or [a, b]`);
      }
      const ia = this.vocab.get(a);
      const ib = this.vocab.get(b);
      const im = this.vocab.get(a + b);
      if (ia === undefined || ib === undefined || im === undefined) {
        throw new TokenizerJsonError(`model.merges[${rank}]: ${JSON.stringify([a, b])} is not in the vocabulary`);
      }
      this.merges.set(ia, ib, rank, im);
    }
    // Any token could come out of merges, so check them all (byte and special tokens never contain U+2581).
    let segmentable = this.charIds[0x2581]! >= 0;
    for (const token of this.vocab.keys()) {
      const i = token.indexOf('\u2581', 1);
      if (i > 0 && !/^\u2581+$/.test(token.slice(0, i + 1))) {
        segmentable = false;
        break;
      }
    }
    this.segmentable = segmentable;
    const unk = optStr(model['unk_token'], null, 'model.unk_token');
    this.unkId = unk === null ? -1 : (this.vocab.get(unk) ?? -1);
    if (unk !== null && this.unkId < 0) throw new TokenizerJsonError(`model.unk_token ${unk} is not in the vocabulary`);
    this.fuseUnk = optBool(model['fuse_unk'], false, 'model.fuse_unk');
    this.byteFallback = optBool(model['byte_fallback'], false, 'model.byte_fallback');
    this.ignoreMerges = optBool(model['ignore_merges'], false, 'model.ignore_merges');
  }

  private ensure(n: number): void {
    if (this.ids.length >= n) return;
    const cap = Math.max(n, this.ids.length * 2);
    this.ids = new Int32Array(cap);
    this.lens = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.heapRank = new Int32Array(cap * 2);
    this.heapPos = new Int32Array(cap * 2);
    this.heapNew = new Int32Array(cap * 2);
  }

  private push(rank: number, pos: number, newId: number): void {
    if (this.heapLen === this.heapRank.length) {
      const grow = (a: Int32Array): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.heapRank = grow(this.heapRank);
      this.heapPos = grow(this.heapPos);
      this.heapNew = grow(this.heapNew);
    }
    const R = this.heapRank, P = this.heapPos, N = this.heapNew;
    let i = this.heapLen++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (R[p]! < rank || (R[p] === rank && P[p]! <= pos)) break;
      R[i] = R[p]!;
      P[i] = P[p]!;
      N[i] = N[p]!;
      i = p;
    }
    R[i] = rank;
    P[i] = pos;
    N[i] = newId;
  }

  // Pops the best merge into (popRank, popPos, popNew).
  private popPos = 0;
  private popNew = 0;
  private pop(): void {
    const R = this.heapRank, P = this.heapPos, N = this.heapNew;
    this.popPos = P[0]!;
    this.popNew = N[0]!;
    const n = --this.heapLen;
    const rank = R[n]!, pos = P[n]!, nw = N[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && (R[c + 1]! < R[c]! || (R[c + 1] === R[c] && P[c + 1]! < P[c]!))) c++;
      if (R[c]! > rank || (R[c] === rank && P[c]! >= pos)) break;
      R[i] = R[c]!;
      P[i] = P[c]!;
      N[i] = N[c]!;
      i = c;
    }
    if (n > 0) {
      R[i] = rank;
      P[i] = pos;
      N[i] = nw;
    }
  }

  /** Appends the ids of one pre-tokenized split to `out`. */
  tokenize(text: string, out: number[]): void {
    if (text.length === 0) return;
    if (this.ignoreMerges) {
      const whole = this.vocab.get(text);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    if (!this.segmentable) {
      this.tokenizeWord(text, out);
      return;
    }
    let start = 0;
    for (let i = 1; i <= text.length; i++) {
      // A word ends before a U+2581 that follows another character, or at the end.
      if (i < text.length && !(text.charCodeAt(i) === 0x2581 && text.charCodeAt(i - 1) !== 0x2581)) continue;
      const word = text.slice(start, i);
      start = i;
      if (word.length > 64) {
        this.tokenizeWord(word, out);
        continue;
      }
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = [];
        this.tokenizeWord(word, ids);
        if (this.cache.size >= 200_000) this.cache.clear(); // bounded memory
        this.cache.set(word, ids);
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
    }
  }

  // BPE over one word (merge_word + merge_all).
  private tokenizeWord(text: string, out: number[]): void {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(text);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    this.ensure(text.length * 4 + 4);
    const { ids, lens } = this;
    let n = 0;
    let unk = -1; // pending unk symbol length, fused or not
    const addUnk = (len: number): void => {
      if (unk >= 0 && this.fuseUnk) {
        unk += len;
        return;
      }
      if (unk >= 0) {
        ids[n] = this.unkId;
        lens[n++] = unk;
      }
      unk = len;
    };
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      let id = cp > 0xffff ? (this.astralIds.get(cp) ?? -1) : this.charIds[cp]!;
      if (id >= 0) {
        if (unk >= 0) {
          ids[n] = this.unkId;
          lens[n++] = unk;
          unk = -1;
        }
        ids[n] = id;
        lens[n++] = w;
      } else {
        let done = false;
        if (this.byteFallback) {
          const bytes = utf8Of(cp);
          if (bytes.every((b) => this.byteIds[b]! >= 0)) {
            for (const b of bytes) {
              ids[n] = this.byteIds[b]!;
              lens[n++] = 0; // lengths only matter as "alive" markers here
            }
            // HF adds byte tokens without flushing a pending unk first.
            done = true;
          }
        }
        if (!done && this.unkId >= 0) addUnk(w);
        id = -1;
      }
      i += w;
    }
    if (unk >= 0) {
      ids[n] = this.unkId;
      lens[n++] = unk;
    }
    this.mergeAll(n, out);
  }

  private mergeAll(n: number, out: number[]): void {
    const { ids, prev, next, lens } = this;
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
      lens[i] = 1; // alive
    }
    this.heapLen = 0;
    for (let i = 0; i + 1 < n; i++) {
      const s = this.merges.find(ids[i]!, ids[i + 1]!);
      if (s >= 0) this.push(this.merges.rank[s]!, i, this.merges.merged[s]!);
    }
    while (this.heapLen > 0) {
      this.pop();
      const pos = this.popPos;
      if (lens[pos] === 0) continue;
      const right = next[pos]!;
      if (right < 0) continue;
      // Expired entry: the pair at `pos` no longer produces this token.
      const s = this.merges.find(ids[pos]!, ids[right]!);
      if (s < 0 || this.merges.merged[s] !== this.popNew) continue;
      ids[pos] = this.popNew;
      lens[right] = 0;
      const rn = next[right]!;
      next[pos] = rn;
      if (rn >= 0) prev[rn] = pos;
      const p = prev[pos]!;
      if (p >= 0) {
        const sp = this.merges.find(ids[p]!, ids[pos]!);
        if (sp >= 0) this.push(this.merges.rank[sp]!, p, this.merges.merged[sp]!);
      }
      if (rn >= 0) {
        const sn = this.merges.find(ids[pos]!, ids[rn]!);
        if (sn >= 0) this.push(this.merges.rank[sn]!, pos, this.merges.merged[sn]!);
      }
    }
    for (let i = 0; i >= 0 && n > 0; i = next[i]!) out.push(ids[i]!);
  }
}

function utf8Of(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)];
  // Lone surrogates are encoded as U+FFFD, as Rust strings cannot hold them.
  if (cp >= 0xd800 && cp < 0xe000) return [0xef, 0xbf, 0xbd];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
}
