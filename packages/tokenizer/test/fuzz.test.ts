// Fuzzed .model files: parsing either succeeds or throws an Error; a model that
// parses can encode and decode without crashing. Loops are bounded, so no hang.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SentencePieceTokenizer } from '../src/index.js';
import { modelBytes } from './fixtures.js';

const SAMPLES = ['', 'Hello world', '  a  b ', 'ﬁ東京 123 <extra_id_10>x', '\u0000\uFFFD\uD800', '𐌀𐌁𐌂 emoji 👩‍👩‍👧'];

function exercise(bytes: Uint8Array): 'parsed' | 'rejected' {
  let tok: SentencePieceTokenizer;
  try {
    tok = SentencePieceTokenizer.fromBuffer(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return 'rejected';
  }
  for (const s of SAMPLES) {
    const ids = tok.encode(s);
    tok.encodeAsPieces(s);
    tok.decode(ids);
  }
  return 'parsed';
}

const mutation = (size: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.array(fc.tuple(fc.nat(size - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('truncate' as const), len: fc.nat(size) }),
    fc.record({ kind: fc.constant('splice' as const), at: fc.nat(size), junk: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );

function mutate(base: Uint8Array, m: { kind: 'flip'; at: [number, number][] } | { kind: 'truncate'; len: number } | { kind: 'splice'; at: number; junk: Uint8Array }): Uint8Array {
  if (m.kind === 'truncate') return base.slice(0, m.len);
  if (m.kind === 'splice') {
    const out = new Uint8Array(base.length + m.junk.length);
    out.set(base.subarray(0, m.at));
    out.set(m.junk, m.at);
    out.set(base.subarray(m.at), m.at + m.junk.length);
    return out;
  }
  const out = base.slice();
  for (const [i, v] of m.at) out[i] = v;
  return out;
}

describe('fuzzed .model files', () => {
  for (const name of ['nemotron_like_bpe', 'unigram_nmt_nfkc'] as const) {
    it(`${name}: mutations parse or throw an Error`, () => {
      const base = modelBytes(name);
      const seen = { parsed: 0, rejected: 0 };
      fc.assert(
        fc.property(mutation(base.length), (m) => {
          seen[exercise(mutate(base, m))]++;
        }),
        { numRuns: name === 'nemotron_like_bpe' ? 300 : 120 },
      );
      expect(seen.parsed + seen.rejected).toBeGreaterThan(0);
    });
  }

  it('random byte strings parse or throw an Error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => void exercise(b)), { numRuns: 1000 });
  });

  it('mutations inside the precompiled charsmap are caught or harmless', () => {
    const base = modelBytes('unigram_nmt_nfkc');
    // The charsmap is the large tail of the file; hit it specifically.
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 100_000, max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 }), (flips) => {
        void exercise(mutate(base, { kind: 'flip', at: flips }));
      }),
      { numRuns: 150 },
    );
  });
});
