// A trie over UTF-8 bytes whose edges live in one open-addressing hash table
// (key = node << 8 | byte). It stands in for sentencepiece's darts double array
// where prefix search is needed (Unigram's lattice, user-defined symbols):
// building it is a single pass, and a step is one or two probes.

const EMPTY = -1;
const MAX_NODES = 1 << 23; // node << 8 must stay inside int32

/** A byte trie mapping byte strings to non-negative integer values. */
export class ByteTrie {
  private keys: Int32Array;
  private children: Int32Array;
  private mask: number;
  private shift: number;
  private edges = 0;
  /** Value stored at each node, -1 where no key ends. */
  values: Int32Array;
  /** Number of nodes, the root (0) included. */
  nodeCount = 1;
  // The root's 256 children are looked up on every character; a flat table skips hashing.
  private readonly rootChildren = new Int32Array(256).fill(EMPTY);

  /** Creates a trie sized for about `expectedBytes` inserted bytes. */
  constructor(expectedBytes = 1024) {
    let cap = 1024;
    while (cap < expectedBytes * 2) cap *= 2;
    this.keys = new Int32Array(cap).fill(EMPTY);
    this.children = new Int32Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.values = new Int32Array(Math.max(16, expectedBytes + 1)).fill(EMPTY);
  }

  /** Child of `node` along `byte`, or -1. */
  child(node: number, byte: number): number {
    if (node === 0) return this.rootChildren[byte]!;
    const key = (node << 8) | byte;
    // Fibonacci hashing: the product's high bits mix every key bit (low bits would not).
    let h = Math.imul(key, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const k = this.keys[h]!;
      if (k === key) return this.children[h]!;
      if (k === EMPTY) return EMPTY;
      h = (h + 1) & this.mask;
    }
  }

  private addChild(node: number, byte: number): number {
    if (this.nodeCount >= MAX_NODES) throw new Error('ByteTrie: too many nodes');
    const id = this.nodeCount++;
    if (id >= this.values.length) {
      const v = new Int32Array(this.values.length * 2).fill(EMPTY);
      v.set(this.values);
      this.values = v;
    }
    if (node === 0) {
      this.rootChildren[byte] = id;
      return id;
    }
    if ((this.edges + 1) * 2 > this.keys.length) this.grow();
    this.put((node << 8) | byte, id);
    this.edges++;
    return id;
  }

  private put(key: number, child: number): void {
    let h = Math.imul(key, 0x9e3779b1) >>> this.shift;
    for (;;) {
      if (this.keys[h] === EMPTY) {
        this.keys[h] = key;
        this.children[h] = child;
        return;
      }
      h = (h + 1) & this.mask;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldChildren = this.children;
    this.keys = new Int32Array(oldKeys.length * 2).fill(EMPTY);
    this.children = new Int32Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.shift = 32 - Math.log2(this.keys.length);
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.put(oldKeys[i]!, oldChildren[i]!);
  }

  /** Inserts `bytes[begin, end)` with `value`; returns the key's node. Existing values are kept. */
  insert(bytes: Uint8Array, begin: number, end: number, value: number): number {
    let node = 0;
    for (let i = begin; i < end; i++) {
      const b = bytes[i]!;
      let c = this.child(node, b);
      if (c === EMPTY) c = this.addChild(node, b);
      node = c;
    }
    if (this.values[node] === EMPTY) this.values[node] = value;
    return node;
  }

  /** Value of the exact key `bytes[begin, end)`, or -1. */
  get(bytes: Uint8Array, begin: number, end: number): number {
    let node = 0;
    for (let i = begin; i < end && node !== EMPTY; i++) node = this.child(node, bytes[i]!);
    return node === EMPTY ? EMPTY : this.values[node]!;
  }

  /** Length of the longest key that is a prefix of `bytes[begin, end)`, or 0. */
  longestPrefix(bytes: Uint8Array, begin: number, end: number): number {
    let node = 0;
    let best = 0;
    for (let i = begin; i < end; i++) {
      node = this.child(node, bytes[i]!);
      if (node === EMPTY) break;
      if (this.values[node] !== EMPTY) best = i + 1 - begin;
    }
    return best;
  }
}
