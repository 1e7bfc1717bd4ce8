// UTF-8 helpers that follow sentencepiece's util.cc rules (not WHATWG's), because
// the reference decides piece boundaries and U+FFFD replacement by these rules.

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text, not a byte-order mark, for a tokenizer.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** The UTF-8 bytes of a JS string; lone surrogates become U+FFFD as TextEncoder does. */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes well-formed UTF-8 bytes to a string. */
export function utf8Decode(bytes: Uint8Array, begin = 0, end = bytes.length): string {
  return decoder.decode(bytes.subarray(begin, end));
}

/** Length of a UTF-8 character from its lead byte alone (sentencepiece's OneCharLen). */
export function oneCharLen(lead: number): number {
  // Table indexed by the high nibble: continuation bytes count as 1 so scanning never stalls.
  return lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

function isTrail(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

function isValidCodepoint(c: number): boolean {
  return c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff);
}

/**
 * Byte length of the valid UTF-8 character at `pos`, or 0 when it is malformed
 * (sentencepiece then consumes a single byte and emits U+FFFD).
 */
export function validCharLen(bytes: Uint8Array, pos: number, end: number): number {
  const b0 = bytes[pos]!;
  const len = end - pos;
  if (b0 < 0x80) return 1;
  if (len >= 2 && (b0 & 0xe0) === 0xc0) {
    const b1 = bytes[pos + 1]!;
    const cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
    if (isTrail(b1) && cp >= 0x80) return 2;
  } else if (len >= 3 && (b0 & 0xf0) === 0xe0) {
    const b1 = bytes[pos + 1]!;
    const b2 = bytes[pos + 2]!;
    const cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
    if (isTrail(b1) && isTrail(b2) && cp >= 0x800 && isValidCodepoint(cp)) return 3;
  } else if (len >= 4 && (b0 & 0xf8) === 0xf0) {
    const b1 = bytes[pos + 1]!;
    const b2 = bytes[pos + 2]!;
    const b3 = bytes[pos + 3]!;
    const cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
    if (isTrail(b1) && isTrail(b2) && isTrail(b3) && cp >= 0x10000 && isValidCodepoint(cp)) return 4;
  }
  return 0;
}

/**
 * Decodes bytes the way sentencepiece's decoder does: each byte that does not
 * start a valid sequence becomes its own U+FFFD (TextDecoder would merge some).
 */
export function decodeBytesLikeSentencePiece(bytes: Uint8Array): string {
  let out = '';
  let runStart = 0;
  let pos = 0;
  while (pos < bytes.length) {
    const n = validCharLen(bytes, pos, bytes.length);
    if (n === 0) {
      if (pos > runStart) out += utf8Decode(bytes, runStart, pos);
      out += '\uFFFD';
      pos += 1;
      runStart = pos;
    } else {
      pos += n;
    }
  }
  if (pos > runStart) out += utf8Decode(bytes, runStart, pos);
  return out;
}

/** True when two byte ranges hold the same bytes. */
export function bytesEqual(a: Uint8Array, aBegin: number, b: Uint8Array, bBegin: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aBegin + i] !== b[bBegin + i]) return false;
  return true;
}
