// A cache of BPE results per whitespace-delimited segment, keyed by the
// segment's bytes (like HF's word cache). Natural text repeats words, so most
// segments skip the merge loop. Storage is flat typed arrays; when full it is
// simply cleared, which keeps memory bounded.

const EMPTY = -1;

/** Maps byte strings (up to `maxKeyLength` bytes) to lists of (relative end, id) pairs. */
export class WordCache {
  private readonly slots: Int32Array; // entry index or -1
  private readonly mask: number;
  private readonly hashes: Int32Array;
  private readonly keyOff: Int32Array;
  private readonly keyLen: Int32Array;
  private readonly valOff: Int32Array;
  private readonly valLen: Int32Array;
  private readonly keys: Uint8Array;
  private readonly vals: Int32Array;
  private entries = 0;
  private keyUsed = 0;
  private valUsed = 0;

  /** Creates a cache holding up to `maxEntries` words. */
  constructor(
    private readonly maxEntries = 1 << 17,
    readonly maxKeyLength = 64,
  ) {
    this.slots = new Int32Array(maxEntries * 2).fill(EMPTY);
    this.mask = maxEntries * 2 - 1;
    this.hashes = new Int32Array(maxEntries);
    this.keyOff = new Int32Array(maxEntries);
    this.keyLen = new Int32Array(maxEntries);
    this.valOff = new Int32Array(maxEntries);
    this.valLen = new Int32Array(maxEntries);
    this.keys = new Uint8Array(maxEntries * 24);
    this.vals = new Int32Array(maxEntries * 12);
  }

  /** FNV-1a of `bytes[begin, end)`. */
  static hash(bytes: Uint8Array, begin: number, end: number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = begin; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    return h;
  }

  /** Entry index of the key, or -1. */
  find(bytes: Uint8Array, begin: number, end: number, hash: number): number {
    const len = end - begin;
    let s = hash & this.mask;
    for (;;) {
      const e = this.slots[s]!;
      if (e === EMPTY) return EMPTY;
      if (this.hashes[e] === hash && this.keyLen[e] === len) {
        const off = this.keyOff[e]!;
        let same = true;
        for (let i = 0; i < len; i++) {
          if (this.keys[off + i] !== bytes[begin + i]) {
            same = false;
            break;
          }
        }
        if (same) return e;
      }
      s = (s + 1) & this.mask;
    }
  }

  /** Start of an entry's values in `values()` (pairs of relative end, id). */
  valueOffset(entry: number): number {
    return this.valOff[entry]!;
  }

  /** Number of pieces of an entry. */
  valueCount(entry: number): number {
    return this.valLen[entry]!;
  }

  /** The value arena. */
  get values(): Int32Array {
    return this.vals;
  }

  /** Stores a key with `count` pairs taken from `ends`/`ids` (relative ends). */
  insert(bytes: Uint8Array, begin: number, end: number, hash: number, ends: Int32Array, ids: Int32Array, from: number, count: number): void {
    const len = end - begin;
    if (this.entries >= this.maxEntries || this.keyUsed + len > this.keys.length || this.valUsed + 2 * count > this.vals.length) this.clear();
    if (len > this.keys.length || 2 * count > this.vals.length) return;
    const e = this.entries++;
    this.hashes[e] = hash;
    this.keyOff[e] = this.keyUsed;
    this.keyLen[e] = len;
    this.keys.set(bytes.subarray(begin, end), this.keyUsed);
    this.keyUsed += len;
    this.valOff[e] = this.valUsed;
    this.valLen[e] = count;
    for (let i = 0; i < count; i++) {
      this.vals[this.valUsed++] = ends[from + i]! - begin;
      this.vals[this.valUsed++] = ids[from + i]!;
    }
    let s = hash & this.mask;
    while (this.slots[s] !== EMPTY) s = (s + 1) & this.mask;
    this.slots[s] = e;
  }

  /** Drops every entry. */
  clear(): void {
    this.slots.fill(EMPTY);
    this.entries = 0;
    this.keyUsed = 0;
    this.valUsed = 0;
  }
}
