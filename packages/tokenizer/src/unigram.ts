// sentencepiece's Unigram encoder (unigram_model.cc, EncodeOptimized): Viterbi
// over byte positions, keeping only the best path ending at each position.
// Arithmetic mirrors the reference's float/double mix so ties resolve identically.

import type { EncodeResult } from './encode-result.js';
import type { SentencePieceModel } from './bpe.js';
import { PieceType } from './model-proto.js';
import { oneCharLen } from './utf8.js';
import type { Vocab } from './vocab.js';

const UNK_PENALTY = 10;
const FLT_MAX = 3.4028234663852886e38;
const FLT_MIN = 1.1754943508222875e-38;

/** The Unigram language-model encoder. */
export class UnigramModel implements SentencePieceModel {
  private readonly minScore: number;
  private readonly maxScore: number;
  private bestScore = new Float32Array(0); // float in the reference
  private bestStart = new Int32Array(0);
  private bestId = new Int32Array(0);

  /** Creates the model; min/max scores come from NORMAL pieces as in the reference. */
  constructor(private readonly vocab: Vocab) {
    let min = FLT_MAX;
    let max = FLT_MIN; // sic: the reference starts from FLT_MIN, the smallest positive float
    const t = vocab.table;
    for (let i = 0; i < t.size; i++) {
      if (t.types[i] !== PieceType.NORMAL) continue;
      const s = t.scores[i]!;
      if (s < min) min = s;
      if (s > max) max = s;
    }
    this.minScore = min;
    this.maxScore = max;
  }

  /** Encodes normalized bytes with the Viterbi best path. */
  encode(text: Uint8Array, size: number, out: EncodeResult): void {
    if (size === 0) return;
    if (this.bestScore.length < size + 1) {
      const cap = Math.max(size + 1, this.bestScore.length * 2);
      this.bestScore = new Float32Array(cap);
      this.bestStart = new Int32Array(cap);
      this.bestId = new Int32Array(cap);
    }
    const { bestScore, bestStart, bestId } = this;
    bestScore.fill(0, 0, size + 1);
    bestStart.fill(-1, 0, size + 1);
    bestId.fill(-1, 0, size + 1);
    const vocab = this.vocab;
    const trie = vocab.trie;
    const values = trie.values;
    const types = vocab.table.types;
    const scores = vocab.table.scores;
    const unkScore = Math.fround(this.minScore - UNK_PENALTY);
    const maxScore = this.maxScore;
    const unkId = vocab.unkId;

    for (let start = 0; start < size; ) {
      const here = bestScore[start]!;
      const mblen = Math.min(oneCharLen(text[start]!), size - start);
      let hasSingle = false;
      let node = 0;
      for (let pos = start; pos < size; ) {
        node = trie.child(node, text[pos]!);
        pos++;
        if (node < 0) break;
        const id = values[node]!;
        if (id < 0) continue;
        const type = types[id]!;
        if (type === PieceType.UNUSED) continue;
        const length = pos - start;
        // Double arithmetic on float inputs, stored back as float (the Float32Array does that).
        const score = type === PieceType.USER_DEFINED ? Math.fround(length * maxScore) - 0.1 : scores[id]!;
        const cand = score + here;
        if (bestStart[pos] === -1 || cand > bestScore[pos]!) {
          bestScore[pos] = cand;
          bestStart[pos] = start;
          bestId[pos] = id;
        }
        if (length === mblen) hasSingle = true;
      }
      if (!hasSingle) {
        const pos = start + mblen;
        const cand = Math.fround(unkScore + here); // float + float in the reference
        if (bestStart[pos] === -1 || cand > bestScore[pos]!) {
          bestScore[pos] = cand;
          bestStart[pos] = start;
          bestId[pos] = unkId;
        }
      }
      start += mblen;
    }
    const first = out.length;
    for (let end = size; end > 0; ) {
      const start = bestStart[end]!;
      out.push(start, end, bestId[end]!);
      end = start;
    }
    // Reverse only what this call appended.
    for (let i = first, j = out.length - 1; i < j; i++, j--) {
      const b = out.begin[i]!, e = out.end[i]!, d = out.id[i]!;
      out.begin[i] = out.begin[j]!;
      out.end[i] = out.end[j]!;
      out.id[i] = out.id[j]!;
      out.begin[j] = b;
      out.end[j] = e;
      out.id[j] = d;
    }
  }
}
