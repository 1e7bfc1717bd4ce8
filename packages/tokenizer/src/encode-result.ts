// Model output before PopulateSentencePieceText: pieces as byte ranges of the
// normalized text plus ids, kept in reusable typed arrays (no per-piece objects).

/** A growable list of (begin, end, id) triples over normalized bytes. */
export class EncodeResult {
  begin = new Int32Array(64);
  end = new Int32Array(64);
  id = new Int32Array(64);
  length = 0;

  /** Empties the list, keeping its storage. */
  clear(): void {
    this.length = 0;
  }

  /** Appends one piece. */
  push(begin: number, end: number, id: number): void {
    if (this.length === this.id.length) this.grow();
    this.begin[this.length] = begin;
    this.end[this.length] = end;
    this.id[this.length++] = id;
  }

  private grow(): void {
    const n = this.id.length * 2;
    const b = new Int32Array(n);
    b.set(this.begin);
    const e = new Int32Array(n);
    e.set(this.end);
    const d = new Int32Array(n);
    d.set(this.id);
    this.begin = b;
    this.end = e;
    this.id = d;
  }

}

