// Golden tests: every value in the sentencepiece 0.1.97 fixtures reproduced exactly.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PieceType, SentencePieceTokenizer } from '../packages/tokenizer/src/index.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'sentencepiece');

interface EncodeCase { name: string; text: string; ids: number[]; pieces: string[]; offsets: [number, number][]; decoded: string }
interface DecodeCase { note: string; ids: number[]; pieces?: string[]; decoded?: string; error?: string }
interface CasesFile {
  model: {
    file: string; sha256: string; size_bytes: number; model_type: string; vocab_size: number;
    special_ids: { unk: number; bos: number; eos: number; pad: number };
    piece_type_counts: Record<string, number>;
    user_defined_symbols: string[]; control_symbols: string[]; has_denormalizer_spec: boolean;
    trainer_spec: Record<string, unknown>;
    normalizer_spec: Record<string, unknown> & { precompiled_charsmap: { bytes: number; sha256: string | null } };
  };
  id_to_piece: { id: number; piece: string; score: number; type: string; is_unknown: boolean; is_control: boolean; is_unused: boolean; is_byte: boolean }[];
  piece_to_id: { piece: string; id: number }[];
  encode: EncodeCase[];
  encode_bos_eos: { text: string; add_bos: boolean; add_eos: boolean; ids: number[] }[];
  decode: DecodeCase[];
}

for (const name of ['nemotron_like_bpe', 'unigram_nmt_nfkc']) {
  describe(`sentencepiece golden: ${name}`, () => {
    const cases = JSON.parse(readFileSync(join(dir, `${name}.cases.json`), 'utf8')) as CasesFile;
    const bytes = readFileSync(join(dir, cases.model.file));
    const tok = SentencePieceTokenizer.fromBuffer(bytes);

    it('model file and info', () => {
      const m = cases.model;
      expect(bytes.length).toBe(m.size_bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.sha256);
      expect(tok.proto.trainer_spec.model_type).toBe(m.model_type);
      expect(tok.vocabSize).toBe(m.vocab_size);
      expect({ unk: tok.unkId, bos: tok.bosId, eos: tok.eosId, pad: tok.padId }).toEqual(m.special_ids);
      const counts: Record<string, number> = {};
      for (let i = 0; i < tok.vocabSize; i++) {
        const t = PieceType[tok.getType(i)];
        counts[t] = (counts[t] ?? 0) + 1;
      }
      expect(counts).toEqual(m.piece_type_counts);
      const ofType = (t: PieceType) => [...Array(tok.vocabSize).keys()].filter((i) => tok.getType(i) === t).map((i) => tok.idToPiece(i));
      expect(ofType(PieceType.USER_DEFINED)).toEqual(m.user_defined_symbols);
      expect(ofType(PieceType.CONTROL)).toEqual(m.control_symbols);
      expect(tok.proto.denormalizer_spec !== null).toBe(m.has_denormalizer_spec);
    });

    it('trainer_spec and normalizer_spec fields', () => {
      const ts = tok.proto.trainer_spec as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(cases.model.trainer_spec)) {
        // float fields are float32 in the file; the JSON has the shortest decimal.
        if (typeof v === 'number' && !Number.isInteger(v)) expect(ts[k], k).toBe(Math.fround(v));
        else expect(ts[k], k).toEqual(v);
      }
      const ns = tok.proto.normalizer_spec;
      const want = cases.model.normalizer_spec;
      expect(ns.name).toBe(want.name);
      expect(ns.add_dummy_prefix).toBe(want.add_dummy_prefix);
      expect(ns.remove_extra_whitespaces).toBe(want.remove_extra_whitespaces);
      expect(ns.escape_whitespaces).toBe(want.escape_whitespaces);
      expect(ns.normalization_rule_tsv).toBe(want.normalization_rule_tsv);
      expect(ns.precompiled_charsmap.length).toBe(want.precompiled_charsmap.bytes);
      const sha = ns.precompiled_charsmap.length ? createHash('sha256').update(ns.precompiled_charsmap).digest('hex') : null;
      expect(sha).toBe(want.precompiled_charsmap.sha256);
    });

    it('id_to_piece, scores and types', () => {
      for (const c of cases.id_to_piece) {
        expect(tok.idToPiece(c.id)).toBe(c.piece);
        expect(tok.getScore(c.id)).toBe(c.score);
        expect(PieceType[tok.getType(c.id)]).toBe(c.type);
        expect([tok.isUnknown(c.id), tok.isControl(c.id), tok.isUnused(c.id), tok.isByte(c.id)]).toEqual([c.is_unknown, c.is_control, c.is_unused, c.is_byte]);
      }
    });

    it('piece_to_id', () => {
      for (const c of cases.piece_to_id) expect(tok.pieceToId(c.piece), c.piece).toBe(c.id);
    });

    it.each(cases.encode.map((c) => [c.name, c] as const))('encode %s', (_n, c) => {
      expect(tok.encode(c.text)).toEqual(c.ids);
      const detailed = tok.encodeWithOffsets(c.text);
      expect(detailed.map((p) => p.piece)).toEqual(c.pieces);
      expect(detailed.map((p) => p.id)).toEqual(c.ids);
      expect(detailed.map((p) => [p.begin, p.end])).toEqual(c.offsets);
      expect(tok.encodeAsPieces(c.text)).toEqual(c.pieces);
      expect(tok.decode(c.ids)).toBe(c.decoded);
    });

    it('encode with bos/eos', () => {
      for (const c of cases.encode_bos_eos) expect(tok.encode(c.text, { addBos: c.add_bos, addEos: c.add_eos })).toEqual(c.ids);
    });

    it.each(cases.decode.map((c) => [c.note, c] as const))('decode %s', (_n, c) => {
      if (c.error !== undefined) {
        expect(() => tok.decode(c.ids)).toThrow(/out of range/i);
      } else {
        expect(c.ids.map((i) => tok.idToPiece(i))).toEqual(c.pieces);
        expect(tok.decode(c.ids)).toBe(c.decoded);
        expect(tok.decodePieces(c.pieces!)).toBe(c.decoded);
      }
    });
  });
}

describe('SentencePieceTokenizer.fromFile', () => {
  it('loads through the Node loader', async () => {
    const tok = await SentencePieceTokenizer.fromFile(join(dir, 'nemotron_like_bpe.model'));
    expect(tok.encode('Hello world')).toEqual([486, 529, 4927, 2477]);
  });
});
