// The precompiled character map of a NormalizerSpec: <uint32 trie size><darts
// double-array trie><NUL-terminated replacement strings>. Validated up front so
// that a corrupt blob is rejected at load instead of misbehaving while encoding.

/** Thrown for a precompiled charsmap that cannot be used. */
export class CharsMapError extends Error {
  override name = 'CharsMapError';
}

/** A decoded precompiled charsmap with a bounds-checked longest-prefix lookup. */
export class PrecompiledCharsMap {
  private readonly units: Uint32Array;
  /** The NUL-separated replacement strings that trie values point into. */
  readonly normalized: Uint8Array;

  /** Decodes and validates `blob`; throws CharsMapError when it is broken. */
  constructor(blob: Uint8Array) {
    // The reference requires more than the 4-byte size header.
    if (blob.length <= 4) throw new CharsMapError(`precompiled charsmap is broken: ${blob.length} bytes, need more than 4`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize > blob.length - 4) {
      throw new CharsMapError(`precompiled charsmap is broken: trie size ${trieSize} exceeds the blob (${blob.length - 4} bytes)`);
    }
    const n = Math.floor(trieSize / 4);
    if (n === 0) throw new CharsMapError('precompiled charsmap is broken: empty trie');
    this.units = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.normalized = blob.subarray(4 + trieSize);
    if (this.normalized.length === 0 || this.normalized[this.normalized.length - 1] !== 0) {
      throw new CharsMapError('precompiled charsmap is broken: the normalized block is not NUL-terminated');
    }
    // Value units (bit 31 set) hold offsets into `normalized`; check them all once.
    for (let i = 0; i < n; i++) {
      const u = this.units[i]!;
      if (u >>> 31 && (u & 0x7fffffff) >= this.normalized.length) {
        throw new CharsMapError(`precompiled charsmap is broken: trie value ${u & 0x7fffffff} out of range (${this.normalized.length})`);
      }
    }
  }

  /**
   * Longest rule matching a prefix of `input[pos, end)`: returns the matched
   * length and sets `valueOut[0]` to the replacement's offset; 0 when none.
   */
  longestMatch(input: Uint8Array, pos: number, end: number, valueOut: Int32Array): number {
    const a = this.units;
    const size = a.length;
    let unit = a[0]!;
    let id = offsetOf(unit);
    let best = 0;
    for (let i = pos; i < end; i++) {
      const c = input[i]!;
      id = (id ^ c) >>> 0;
      if (id >= size) break;
      unit = a[id]!;
      // label() keeps bit 31 so a value unit never matches a byte.
      if ((unit & 0x800000ff) >>> 0 !== c) break;
      id = (id ^ offsetOf(unit)) >>> 0;
      if ((unit >>> 8) & 1) {
        if (id >= size) break;
        best = i + 1 - pos;
        valueOut[0] = a[id]! & 0x7fffffff;
      }
    }
    return best;
  }

  /** End (exclusive) of the NUL-terminated replacement starting at `value`. */
  replacementEnd(value: number): number {
    let e = value;
    while (this.normalized[e] !== 0) e++;
    return e;
  }
}

function offsetOf(unit: number): number {
  // darts-clone: (unit >> 10) << ((unit & (1 << 9)) >> 6); multiply to stay unsigned.
  return (unit >>> 10) * ((unit & 0x200) !== 0 ? 256 : 1);
}
