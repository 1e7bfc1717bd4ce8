import { describe, expect, it } from 'vitest';
import { CharsMapError, PrecompiledCharsMap } from '../src/charsmap.js';

function blob(trieUnits: number[], normalized: number[], declaredSize?: number): Uint8Array {
  const b = new Uint8Array(4 + trieUnits.length * 4 + normalized.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, declaredSize ?? trieUnits.length * 4, true);
  trieUnits.forEach((u, i) => v.setUint32(4 + 4 * i, u >>> 0, true));
  b.set(normalized, 4 + trieUnits.length * 4);
  return b;
}

describe('PrecompiledCharsMap validation', () => {
  it('rejects a blob of 4 bytes or less', () => {
    expect(() => new PrecompiledCharsMap(new Uint8Array(3))).toThrow(CharsMapError);
    expect(() => new PrecompiledCharsMap(new Uint8Array(4))).toThrow(/more than 4/);
  });
  it('rejects a trie larger than the blob', () => {
    expect(() => new PrecompiledCharsMap(blob([0], [0], 400))).toThrow(/exceeds the blob/);
  });
  it('rejects an unterminated normalized block', () => {
    expect(() => new PrecompiledCharsMap(blob([0], [0x61]))).toThrow(/NUL-terminated/);
  });
  it('rejects trie values pointing outside the normalized block', () => {
    expect(() => new PrecompiledCharsMap(blob([0, (1 << 31) | 10], [0x61, 0]))).toThrow(/out of range/);
  });
  it('accepts a minimal map and finds nothing', () => {
    const m = new PrecompiledCharsMap(blob([0], [0]));
    expect(m.longestMatch(new Uint8Array([0x61]), 0, 1, new Int32Array(1))).toBe(0);
  });
});
