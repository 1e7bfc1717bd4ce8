// Options the fixtures do not cover, exercised by appending fields to a fixture
// model (protobuf merges a repeated message field, so an appended TrainerSpec /
// NormalizerSpec overrides single values).
import { describe, expect, it } from 'vitest';
import { SentencePieceTokenizer } from '../src/index.js';
import { modelBytes } from './fixtures.js';

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** The fixture model with an extra top-level message field appended. */
function withField(base: Uint8Array, field: number, body: number[]): Uint8Array {
  const extra = [...varint((field << 3) | 2), ...varint(body.length), ...body];
  const out = new Uint8Array(base.length + extra.length);
  out.set(base);
  out.set(extra, base.length);
  return out;
}

const bpe = modelBytes('nemotron_like_bpe');
const boolField = (f: number, v: boolean) => [...varint(f << 3), v ? 1 : 0];

describe('model options beyond the fixtures', () => {
  it('appended TrainerSpec fields override (protobuf merge)', () => {
    const tok = SentencePieceTokenizer.fromBuffer(withField(bpe, 2, [...varint(4 << 3), ...varint(1234)]));
    expect(tok.proto.trainer_spec.vocab_size).toBe(1234);
    expect(tok.proto.trainer_spec.user_defined_symbols).toEqual(['<extra_id_1>', '<extra_id_10>', '[MASK]']);
  });

  it('CHAR model: one piece per character, byte fallback for the rest', () => {
    const tok = SentencePieceTokenizer.fromBuffer(withField(bpe, 2, [...varint(3 << 3), 4]));
    expect(tok.proto.trainer_spec.model_type).toBe('CHAR');
    expect(tok.encodeAsPieces('ab c')).toEqual(['▁', 'a', 'b', '▁', 'c']);
    expect(tok.encodeAsPieces('\n')).toEqual(['▁', '<0x0A>']);
    expect(tok.decode(tok.encode('ab c\n'))).toBe('ab c\n');
  });

  it('WORD model: whole words or unk (bytes)', () => {
    const tok = SentencePieceTokenizer.fromBuffer(withField(bpe, 2, [...varint(3 << 3), 3]));
    const pieces = tok.encodeAsPieces('the world');
    expect(pieces).toEqual(['▁the', '▁world']);
    // An unknown word falls back to bytes, its U+2581 included, and byte pieces
    // spelling U+2581 decode to a literal U+2581 (as the reference does).
    expect(tok.decode(tok.encode('the zzqx'))).toBe('the\u2581zzqx');
  });

  it('remove_extra_whitespaces on an identity normalizer collapses only spaces', () => {
    const tok = SentencePieceTokenizer.fromBuffer(withField(bpe, 3, boolField(4, true)));
    expect(tok.normalize('  a   b  ')).toBe('▁a▁b');
    expect(tok.normalize('\ta\t')).toBe('▁\ta\t');
    expect(tok.decode(tok.encode('  a   b  '))).toBe('a b');
  });

  it('add_dummy_prefix = false and escape_whitespaces = false', () => {
    const noPrefix = SentencePieceTokenizer.fromBuffer(withField(bpe, 3, boolField(3, false)));
    expect(noPrefix.normalize('a b')).toBe('a▁b');
    const noEscape = SentencePieceTokenizer.fromBuffer(withField(bpe, 3, boolField(5, false)));
    expect(noEscape.normalize('a b')).toBe(' a b');
  });

  it('treat_whitespace_as_suffix puts the dummy space at the end', () => {
    const tok = SentencePieceTokenizer.fromBuffer(withField(bpe, 2, boolField(24, true)));
    expect(tok.normalize('a b')).toBe('a▁b▁');
    const ids = tok.encode('a b');
    expect(tok.decode(ids)).toBe('a b ');
  });

  it('rejects a model without unk and byte pieces without byte_fallback', () => {
    expect(() => SentencePieceTokenizer.fromBuffer(withField(bpe, 2, boolField(35, false)))).toThrow(/byte_fallback/);
  });

  it('user-defined symbols are never normalized and match longest first', () => {
    const tok = SentencePieceTokenizer.fromBuffer(bpe);
    expect(tok.encodeAsPieces('<extra_id_10><extra_id_1>')).toEqual(['▁', '<extra_id_10>', '<extra_id_1>']);
    expect(tok.encodeAsPieces('<extra_id_1')).not.toContain('<extra_id_1>');
  });
});
