// sentencepiece's BPE encoder (bpe_model.cc): start from characters (user-defined
// symbols frozen whole), repeatedly merge the adjacent pair whose concatenation
// is the highest-scoring piece (leftmost on ties), using a binary heap agenda.

import type { EncodeResult } from './encode-result.js';
import { PieceType } from './model-proto.js';
import { hashBytes, type PieceHash } from './piece-hash.js';
import { oneCharLen } from './utf8.js';
import type { Vocab } from './vocab.js';
import { WordCache } from './word-cache.js';

/** A text-encoding model over normalized UTF-8 bytes. */
export interface SentencePieceModel {
  /** Appends the pieces of `normalized[0, length)` to `out`. */
  encode(normalized: Uint8Array, length: number, out: EncodeResult): void;
}

/** The BPE model: merges by piece score, as sentencepiece does (not by merge rank). */
export class BpeModel implements SentencePieceModel {
  // Symbol arrays (one slot per initial character), reused across calls.
  private symBegin = new Int32Array(0);
  private symEnd = new Int32Array(0);
  private symPrev = new Int32Array(0);
  private symNext = new Int32Array(0);
  private symHash = new Int32Array(0); // composable hash of the symbol's bytes (piece-hash.ts)
  private symFreeze = new Uint8Array(0);
  // Agenda entries (candidate merges) and a heap of entry indices.
  private pairLeft = new Int32Array(0);
  private pairRight = new Int32Array(0);
  private pairSize = new Int32Array(0);
  private pairId = new Int32Array(0);
  private pairHash = new Int32Array(0);
  private pairScore = new Float64Array(0);
  private heap = new Int32Array(0);
  private heapLen = 0;
  private pairCount = 0;

  /**
   * True when no piece has U+2581 after another character: then no merge can
   * cross the start of a "▁word", so segments encode independently and their
   * results can be cached (exactly the same output as one pass over the text).
   */
  readonly segmentable: boolean;
  private readonly cache = new WordCache();
  // Hot-loop shortcuts to the vocabulary's tables.
  private readonly pieceHash: PieceHash;
  private readonly scores: Float32Array;

  /** Creates the model over a vocabulary. */
  constructor(private readonly vocab: Vocab) {
    this.pieceHash = vocab.pieceHash;
    this.scores = vocab.table.scores;
    const t = vocab.table;
    let ok = true;
    for (let i = 0; i < t.size && ok; i++) {
      const ty = t.types[i]!;
      if (ty !== PieceType.NORMAL && ty !== PieceType.USER_DEFINED && ty !== PieceType.UNUSED) continue; // never from text
      for (let p = t.pieceBegin[i]! + 1; p + 2 < t.pieceEnd[i]! && ok; p++) {
        if (isSpaceAt(t.bytes, p) && !(p - 3 >= t.pieceBegin[i]! && isSpaceAt(t.bytes, p - 3))) ok = false;
      }
    }
    this.segmentable = ok;
  }

  private ensureSymbols(n: number): void {
    if (this.symBegin.length >= n) return;
    const cap = Math.max(n, this.symBegin.length * 2, 64);
    this.symBegin = new Int32Array(cap);
    this.symEnd = new Int32Array(cap);
    this.symPrev = new Int32Array(cap);
    this.symNext = new Int32Array(cap);
    this.symHash = new Int32Array(cap);
    this.symFreeze = new Uint8Array(cap);
  }

  private growPairs(): void {
    const cap = Math.max(64, this.pairLeft.length * 2);
    const grow32 = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.pairLeft = grow32(this.pairLeft);
    this.pairRight = grow32(this.pairRight);
    this.pairSize = grow32(this.pairSize);
    this.pairId = grow32(this.pairId);
    this.pairHash = grow32(this.pairHash);
    this.heap = grow32(this.heap);
    const s = new Float64Array(cap);
    s.set(this.pairScore);
    this.pairScore = s;
  }

  // Higher score first; on equal scores the leftmost pair (SymbolPairComparator).
  private before(a: number, b: number): boolean {
    const sa = this.pairScore[a]!;
    const sb = this.pairScore[b]!;
    return sa > sb || (sa === sb && this.pairLeft[a]! < this.pairLeft[b]!);
  }

  private heapPush(p: number): void {
    const h = this.heap;
    let i = this.heapLen++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(p, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = p;
  }

  private heapPop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.heapLen]!;
    const n = this.heapLen;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(h[c + 1]!, h[c]!)) c++;
      if (!this.before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    if (n > 0) h[i] = last;
    return top;
  }

  // MaybeAddNewSymbolPair: queue the merge of `left` and `right` if their concatenation is a piece.
  private maybeAddPair(text: Uint8Array, left: number, right: number): void {
    if (left < 0 || right < 0 || this.symFreeze[left] || this.symFreeze[right]) return;
    const lb = this.symBegin[left]!;
    const re = this.symEnd[right]!;
    const ph = this.pieceHash;
    if (re - lb > ph.maxLength) return;
    const rlen = re - this.symBegin[right]!;
    const h = (Math.imul(this.symHash[left]!, ph.pow[rlen]!) + this.symHash[right]!) | 0;
    const id = ph.find(h, text, lb, re);
    if (id < 0) return;
    if (this.pairCount === this.pairLeft.length) this.growPairs();
    const p = this.pairCount++;
    this.pairLeft[p] = left;
    this.pairRight[p] = right;
    this.pairSize[p] = re - lb;
    this.pairId[p] = id;
    this.pairHash[p] = h;
    this.pairScore[p] = this.scores[id]!;
    this.heapPush(p);
  }

  /** Encodes normalized bytes (SampleEncode with alpha = 0). */
  encode(text: Uint8Array, length: number, out: EncodeResult): void {
    if (!this.segmentable) {
      this.encodeRange(text, 0, length, out);
      return;
    }
    const cache = this.cache;
    let segStart = 0;
    for (let p = 1; p <= length; p++) {
      // A segment ends before a U+2581 that follows a non-U+2581 character, or at the end.
      if (p < length && !(text[p] === 0xe2 && isSpaceAt(text, p) && !(p >= 3 && isSpaceAt(text, p - 3)))) continue;
      if (p - segStart <= cache.maxKeyLength) {
        const h = WordCache.hash(text, segStart, p);
        const e = cache.find(text, segStart, p, h);
        if (e >= 0) {
          const vals = cache.values;
          let b = segStart;
          for (let k = cache.valueOffset(e), n = cache.valueCount(e); n > 0; n--, k += 2) {
            const end = segStart + vals[k]!;
            out.push(b, end, vals[k + 1]!);
            b = end;
          }
        } else {
          const first = out.length;
          this.encodeRange(text, segStart, p, out);
          cache.insert(text, segStart, p, h, out.end, out.id, first, out.length - first);
        }
      } else {
        this.encodeRange(text, segStart, p, out);
      }
      segStart = p;
    }
  }

  // BPE over text[start, end); positions stay absolute.
  private encodeRange(text: Uint8Array, start: number, end: number, out: EncodeResult): void {
    const length = end;
    if (length <= start) return;
    const vocab = this.vocab;
    const user = vocab.userDefined;
    this.ensureSymbols(length - start);
    const { symBegin, symEnd, symPrev, symNext, symHash, symFreeze } = this;
    // Split into characters; user-defined symbols become single frozen symbols.
    let n = 0;
    for (let pos = start; pos < length; ) {
      let len = 0;
      let freeze = 0;
      if (user !== null) {
        len = user.longestPrefix(text, pos, length);
        if (len > 0) freeze = 1;
      }
      if (len === 0) len = Math.min(oneCharLen(text[pos]!), length - pos);
      symBegin[n] = pos;
      symEnd[n] = pos + len;
      symPrev[n] = n - 1;
      symNext[n] = pos + len < length ? n + 1 : -1;
      symHash[n] = hashBytes(text, pos, pos + len);
      symFreeze[n] = freeze;
      n++;
      pos += len;
    }
    this.heapLen = 0;
    this.pairCount = 0;
    for (let i = 1; i < n; i++) this.maybeAddPair(text, i - 1, i);

    // Unused pieces split back into their two parts: merged id -> [left length, left id, right id].
    let revMerge: Map<number, [number, number, number]> | null = null;
    while (this.heapLen > 0) {
      const p = this.heapPop();
      const left = this.pairLeft[p]!;
      const right = this.pairRight[p]!;
      const lb = symBegin[left]!;
      const le = symEnd[left]!;
      const rb = symBegin[right]!;
      const re = symEnd[right]!;
      // Stale entry: one side was merged away or grew since it was queued.
      if (le === lb || re === rb || le - lb + (re - rb) !== this.pairSize[p]) continue;
      const mergedId = this.pairId[p]!;
      if (vocab.table.types[mergedId] === PieceType.UNUSED) {
        // Remember how to split an unused piece back (rev_merge in the reference).
        revMerge ??= new Map();
        revMerge.set(mergedId, [le - lb, this.symbolId(text, left), this.symbolId(text, right)]);
      }
      symEnd[left] = re;
      symHash[left] = this.pairHash[p]!;
      const next = symNext[right]!;
      symNext[left] = next;
      if (next >= 0) symPrev[next] = left;
      symBegin[right] = symEnd[right] = rb; // mark empty
      this.maybeAddPair(text, symPrev[left]!, left);
      this.maybeAddPair(text, left, next);
    }

    for (let i = 0; i !== -1; i = symNext[i]!) this.resegment(symBegin[i]!, symEnd[i]!, this.symbolId(text, i), revMerge, out);
  }

  // Piece id of a symbol's bytes, -1 when they are not a piece (an unknown character).
  private symbolId(text: Uint8Array, i: number): number {
    const b = this.symBegin[i]!;
    const e = this.symEnd[i]!;
    if (e - b > this.vocab.pieceHash.maxLength) return -1;
    return this.vocab.pieceHash.find(this.symHash[i]!, text, b, e);
  }

  private resegment(b: number, e: number, id: number, revMerge: Map<number, [number, number, number]> | null, out: EncodeResult): void {
    const vocab = this.vocab;
    if (id < 0) {
      out.push(b, e, vocab.unkId);
      return;
    }
    const split = revMerge !== null && vocab.table.types[id] === PieceType.UNUSED ? revMerge.get(id) : undefined;
    if (split === undefined) {
      out.push(b, e, id);
      return;
    }
    const [leftLen, leftId, rightId] = split;
    this.resegment(b, b + leftLen, leftId, revMerge, out);
    this.resegment(b + leftLen, e, rightId, revMerge, out);
  }
}

function isSpaceAt(b: Uint8Array, p: number): boolean {
  return b[p] === 0xe2 && b[p + 1] === 0x96 && b[p + 2] === 0x81;
}
