// sentencepiece's Normalizer: charsmap rules, whitespace handling and the
// dummy prefix, on UTF-8 bytes, with a map from each normalized byte back to
// its original byte offset (norm_to_orig) for piece offsets.

import type { NormalizerSpec } from './model-proto.js';
import { PrecompiledCharsMap } from './charsmap.js';
import type { ByteTrie } from './byte-trie.js';
import { validCharLen } from './utf8.js';

const SPACE_SYMBOL = new Uint8Array([0xe2, 0x96, 0x81]); // U+2581
const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]); // U+FFFD

/** Output of Normalizer.normalize: `normToOrig` has `length + 1` entries. */
export interface NormalizedText {
  bytes: Uint8Array;
  length: number;
  normToOrig: Int32Array;
}

/** Growable byte + offset buffers reused across calls to avoid per-call allocation. */
class Output {
  bytes = new Uint8Array(256);
  map = new Int32Array(257);
  length = 0;

  /** Makes room for `n` bytes (and n + 1 offsets). */
  reserve(n: number): void {
    if (n + 1 <= this.map.length && n <= this.bytes.length) return;
    let cap = this.bytes.length;
    while (cap < n + 1) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.bytes.subarray(0, this.length));
    const m = new Int32Array(cap + 1);
    m.set(this.map.subarray(0, this.length));
    this.bytes = b;
    this.map = m;
  }

  /** Appends one byte and the original offset it came from. */
  push(byte: number, orig: number): void {
    if (this.length >= this.bytes.length) this.reserve(this.length + 1);
    this.bytes[this.length] = byte;
    this.map[this.length++] = orig;
  }

  /** Appends U+2581, the escaped space (three bytes), all from original offset `orig`. */
  pushSpaceSymbol(orig: number): void {
    if (this.length + 3 > this.bytes.length) this.reserve(this.length + 3);
    for (let k = 0; k < 3; k++) {
      this.bytes[this.length] = SPACE_SYMBOL[k]!;
      this.map[this.length++] = orig;
    }
  }
}

/** Normalizes text as sentencepiece's normalizer::Normalizer does. */
export class Normalizer {
  private readonly charsmap: PrecompiledCharsMap | null;
  private readonly out = new Output();
  private readonly value = new Int32Array(1);

  /**
   * `userDefined` is the prefix matcher of user-defined symbols: they are copied
   * verbatim, never normalized (Normalizer::SetPrefixMatcher in the reference).
   */
  constructor(
    readonly spec: NormalizerSpec,
    readonly treatWhitespaceAsSuffix: boolean,
    private readonly userDefined: ByteTrie | null,
  ) {
    this.charsmap = spec.precompiled_charsmap.length > 0 ? new PrecompiledCharsMap(spec.precompiled_charsmap) : null;
  }

  /**
   * Finds the normalized form of the character(s) at `pos` (NormalizePrefix):
   * returns the consumed length and sets `src`, `srcBegin`, `srcEnd` to the replacement.
   */
  private prefix(input: Uint8Array, pos: number, end: number, r: PrefixResult): void {
    if (this.userDefined !== null) {
      const n = this.userDefined.longestPrefix(input, pos, end);
      if (n > 0) {
        r.src = input;
        r.begin = pos;
        r.end = pos + n;
        r.consumed = n;
        return;
      }
    }
    if (this.charsmap !== null) {
      const n = this.charsmap.longestMatch(input, pos, end, this.value);
      if (n > 0) {
        const v = this.value[0]!;
        r.src = this.charsmap.normalized;
        r.begin = v;
        r.end = this.charsmap.replacementEnd(v);
        r.consumed = n;
        return;
      }
    }
    const n = validCharLen(input, pos, end);
    if (n === 0) {
      // Malformed UTF-8: one byte becomes U+FFFD.
      r.src = REPLACEMENT;
      r.begin = 0;
      r.end = 3;
      r.consumed = 1;
    } else {
      r.src = input;
      r.begin = pos;
      r.end = pos + n;
      r.consumed = n;
    }
  }

  /**
   * Normalizes `input[0, end)`. The returned buffers are reused by the next call;
   * copy what must outlive it.
   */
  normalize(input: Uint8Array, end = input.length): NormalizedText {
    const out = this.out;
    out.length = 0;
    // Most text grows little (a space becomes 3 bytes); larger growth reallocates geometrically.
    out.reserve(end + (end >> 1) + 8);
    const spec = this.spec;
    const removeExtra = spec.remove_extra_whitespaces;
    const escape = spec.escape_whitespaces;
    const r = new PrefixResult();
    let pos = 0;
    let consumed = 0;
    if (end === 0) {
      out.map[0] = 0;
      return { bytes: out.bytes, length: 0, normToOrig: out.map };
    }
    if (removeExtra) {
      // Skip leading whitespace (characters that normalize to exactly " ").
      while (pos < end) {
        this.prefix(input, pos, end, r);
        if (!(r.end - r.begin === 1 && r.src[r.begin] === 0x20)) break;
        pos += r.consumed;
        consumed += r.consumed;
      }
      if (pos >= end) {
        out.map[0] = consumed;
        return { bytes: out.bytes, length: 0, normToOrig: out.map };
      }
    }
    const addWs = (): void => {
      if (escape) out.pushSpaceSymbol(consumed);
      else out.push(0x20, consumed);
    };
    if (!this.treatWhitespaceAsSuffix && spec.add_dummy_prefix) addWs();

    let isPrevSpace = removeExtra;
    const user = this.userDefined;
    const fastAscii = this.charsmap === null;
    while (pos < end) {
      const c0 = input[pos]!;
      if (fastAscii && c0 < 0x80 && (user === null || user.child(0, c0) < 0)) {
        // Without a charsmap an ASCII character normalizes to itself: skip the generic path.
        if (c0 === 0x20) {
          if (!isPrevSpace) {
            if (escape) out.pushSpaceSymbol(consumed);
            else out.push(0x20, consumed);
            isPrevSpace = removeExtra;
          }
        } else {
          out.push(c0, consumed);
          isPrevSpace = false;
        }
        consumed++;
        pos++;
        continue;
      }
      this.prefix(input, pos, end, r);
      const src = r.src;
      let b = r.begin;
      const e = r.end;
      while (isPrevSpace && b < e && src[b] === 0x20) b++;
      if (b < e) {
        out.reserve(out.length + (e - b) * 3);
        for (let i = b; i < e; i++) {
          const c = src[i]!;
          if (escape && c === 0x20) {
            out.pushSpaceSymbol(consumed);
          } else {
            out.bytes[out.length] = c;
            out.map[out.length++] = consumed;
          }
        }
        isPrevSpace = src[e - 1] === 0x20;
      }
      consumed += r.consumed;
      pos += r.consumed;
      if (!removeExtra) isPrevSpace = false;
    }

    if (removeExtra) {
      // Drop trailing whitespace; `consumed` moves back to where it began.
      const sp = escape ? 3 : 1;
      while (out.length >= sp && endsWithSpace(out.bytes, out.length, escape)) {
        const len = out.length - sp;
        consumed = out.map[len]!;
        out.length = len;
      }
    }
    if (this.treatWhitespaceAsSuffix && spec.add_dummy_prefix) addWs();
    out.reserve(out.length + 1);
    out.map[out.length] = consumed;
    return { bytes: out.bytes, length: out.length, normToOrig: out.map };
  }
}

function endsWithSpace(b: Uint8Array, len: number, escape: boolean): boolean {
  if (!escape) return b[len - 1] === 0x20;
  return b[len - 3] === 0xe2 && b[len - 2] === 0x96 && b[len - 1] === 0x81;
}

/** Scratch result of Normalizer.prefix (a view of the replacement bytes). */
class PrefixResult {
  src: Uint8Array = REPLACEMENT;
  begin = 0;
  end = 0;
  consumed = 0;
}
