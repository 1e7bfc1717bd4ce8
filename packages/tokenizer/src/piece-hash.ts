// A hash set of pieces keyed by their UTF-8 bytes, with a polynomial hash that
// composes: hash(a + b) = hash(a) * B^len(b) + hash(b). BPE keeps each symbol's
// hash, so "is left+right a piece?" is one probe, never a byte-by-byte walk.
// Building it is one insert per piece, which keeps model loading fast.

import type { PieceTable } from './model-proto.js';

const B = 0x01000193; // FNV prime as the polynomial base
const EMPTY = -1;

/** Polynomial hash of `bytes[begin, end)`. */
export function hashBytes(bytes: Uint8Array, begin: number, end: number): number {
  let h = 0;
  for (let i = begin; i < end; i++) h = (Math.imul(h, B) + bytes[i]!) | 0;
  return h;
}

/** Open-addressing table from piece bytes to piece id. */
export class PieceHash {
  // Four ints per slot: hash, id, byte length, byte offset. One probe touches one
  // cache line, and verifying a hit reads only the piece's bytes.
  private readonly slots: Int32Array;
  private readonly shift: number;
  private readonly mask: number;
  /** B^k for k up to maxLength, to combine hashes. */
  readonly pow: Int32Array;
  /** Longest piece in bytes: longer byte ranges cannot be pieces. */
  readonly maxLength: number;

  /** Indexes the pieces of `table` for which `include(id)` holds. */
  constructor(
    private readonly table: PieceTable,
    include: (id: number) => boolean,
    onDuplicate: (id: number, first: number) => void,
  ) {
    let cap = 16;
    while (cap < table.size * 2) cap *= 2;
    this.slots = new Int32Array(cap * 4);
    for (let k = 1; k < cap * 4; k += 4) this.slots[k] = EMPTY;
    this.shift = 32 - Math.log2(cap);
    this.mask = cap - 1;
    let maxLen = 0;
    for (let i = 0; i < table.size; i++) {
      if (!include(i)) continue;
      const b = table.pieceBegin[i]!;
      const e = table.pieceEnd[i]!;
      maxLen = Math.max(maxLen, e - b);
      const h = hashBytes(table.bytes, b, e);
      const first = this.find(h, table.bytes, b, e);
      if (first >= 0) {
        onDuplicate(i, first);
        continue;
      }
      let s = this.index(h);
      while (this.slots[s * 4 + 1] !== EMPTY) s = (s + 1) & this.mask;
      this.slots[s * 4] = h;
      this.slots[s * 4 + 1] = i;
      this.slots[s * 4 + 2] = e - b;
      this.slots[s * 4 + 3] = b;
    }
    this.maxLength = maxLen;
    this.pow = new Int32Array(maxLen + 1);
    this.pow[0] = 1;
    for (let k = 1; k <= maxLen; k++) this.pow[k] = Math.imul(this.pow[k - 1]!, B);
  }

  private index(h: number): number {
    // Fibonacci hashing: take the product's high bits.
    return Math.imul(h ^ (h >>> 15), 0x9e3779b1) >>> this.shift;
  }

  /** Id of the piece equal to `bytes[begin, end)` whose hash is `h`, or -1. */
  find(h: number, bytes: Uint8Array, begin: number, end: number): number {
    const data = this.table.bytes;
    const slots = this.slots;
    const len = end - begin;
    for (let s = this.index(h); ; s = (s + 1) & this.mask) {
      const k = s * 4;
      const id = slots[k + 1]!;
      if (id === EMPTY) return EMPTY;
      if (slots[k] !== h || slots[k + 2] !== len) continue;
      const pb = slots[k + 3]!;
      let i = 0;
      while (i < len && data[pb + i] === bytes[begin + i]) i++;
      if (i === len) return id;
    }
  }

  /** Id of the piece `bytes[begin, end)`, or -1. */
  get(bytes: Uint8Array, begin: number, end: number): number {
    if (end - begin > this.maxLength) return EMPTY;
    return this.find(hashBytes(bytes, begin, end), bytes, begin, end);
  }
}
