// Property tests over arbitrary Unicode (lone surrogates included).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SentencePieceTokenizer } from '../src/index.js';
import { modelBytes } from './fixtures.js';

const bpe = SentencePieceTokenizer.fromBuffer(modelBytes('nemotron_like_bpe'));
const uni = SentencePieceTokenizer.fromBuffer(modelBytes('unigram_nmt_nfkc'));

// Any UTF-16 code unit sequence, so lone surrogates appear.
const codeUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), codeUnits, fc.string({ unit: 'grapheme', maxLength: 30 }));
const wellFormed = (s: string) => s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

describe('properties', () => {
  it('encode never throws and ids are in range (both models)', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        for (const tok of [bpe, uni]) {
          const ids = tok.encode(s, { addBos: true, addEos: true });
          for (const id of ids) expect(id >= 0 && id < tok.vocabSize).toBe(true);
          const pieces = tok.encodeWithOffsets(s);
          const n = new TextEncoder().encode(s).length;
          let last = 0;
          for (const p of pieces) {
            expect(p.begin >= last || p.begin === p.end).toBe(true);
            expect(p.begin <= p.end && p.end <= n).toBe(true);
            last = Math.max(last, p.begin);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('BPE with byte fallback: decode(encode(s)) is s with U+2581 read as a space', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        expect(bpe.decode(bpe.encode(s))).toBe(wellFormed(s).replaceAll('\u2581', ' '));
      }),
      { numRuns: 1000 },
    );
  });

  it('Unigram nmt_nfkc: decode(encode(s)) is the normalized s for in-vocabulary text', () => {
    const alphabet = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-()\t\n\u3000ｈｅｌｏ日本語中文ésßпривет'];
    const text = fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 60 });
    fc.assert(
      fc.property(text, (s) => {
        // The decoder turns U+2581 into spaces and drops the dummy-prefix space.
        const expected = uni.normalize(s).replaceAll('\u2581', ' ').replace(/^ /, '');
        expect(uni.decode(uni.encode(s))).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('encodeAsPieces and encode agree on ids via pieceToId (no unknowns)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), (s) => {
        const ids = bpe.encode(s);
        expect(bpe.encodeAsPieces(s).map((p) => bpe.pieceToId(p))).toEqual(ids);
      }),
      { numRuns: 500 },
    );
  });
});
