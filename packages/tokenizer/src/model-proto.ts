// sentencepiece_model.proto (ModelProto, TrainerSpec, NormalizerSpec) decoded with
// our ProtoReader. Field names mirror the .proto so code reads beside the reference.

import { ProtoReader, ProtobufError, WireType } from './protobuf.js';
import { validCharLen } from './utf8.js';

/** ModelProto.SentencePiece.Type. */
export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

/** TrainerSpec.ModelType. */
export type ModelType = 'UNIGRAM' | 'BPE' | 'WORD' | 'CHAR';
const MODEL_TYPES: Record<number, ModelType> = { 1: 'UNIGRAM', 2: 'BPE', 3: 'WORD', 4: 'CHAR' };

/** Every TrainerSpec field, defaults applied, proto field names. */
export interface TrainerSpec {
  input: string[];
  input_format: string;
  model_prefix: string;
  model_type: ModelType;
  vocab_size: number;
  accept_language: string[];
  self_test_sample_size: number;
  enable_differential_privacy: boolean;
  differential_privacy_noise_level: number;
  differential_privacy_clipping_threshold: number;
  character_coverage: number;
  input_sentence_size: number;
  shuffle_input_sentence: boolean;
  mining_sentence_size: number;
  training_sentence_size: number;
  seed_sentencepiece_size: number;
  shrinking_factor: number;
  max_sentence_length: number;
  num_threads: number;
  num_sub_iterations: number;
  max_sentencepiece_length: number;
  split_by_unicode_script: boolean;
  split_by_number: boolean;
  split_by_whitespace: boolean;
  treat_whitespace_as_suffix: boolean;
  allow_whitespace_only_pieces: boolean;
  split_digits: boolean;
  control_symbols: string[];
  user_defined_symbols: string[];
  required_chars: string;
  byte_fallback: boolean;
  vocabulary_output_piece_score: boolean;
  hard_vocab_limit: boolean;
  use_all_vocab: boolean;
  unk_id: number;
  bos_id: number;
  eos_id: number;
  pad_id: number;
  unk_piece: string;
  bos_piece: string;
  eos_piece: string;
  pad_piece: string;
  unk_surface: string;
  train_extremely_large_corpus: boolean;
}

/** NormalizerSpec, defaults applied. `precompiled_charsmap` is a view into the file bytes. */
export interface NormalizerSpec {
  name: string;
  precompiled_charsmap: Uint8Array;
  add_dummy_prefix: boolean;
  remove_extra_whitespaces: boolean;
  escape_whitespaces: boolean;
  normalization_rule_tsv: string;
}

/**
 * The vocabulary stored column-wise: 256k pieces as objects would cost load time.
 * `pieceBegin/pieceEnd` index into `bytes` (the UTF-8 of each piece, as in the file).
 */
export interface PieceTable {
  size: number;
  pieces: string[];
  scores: Float32Array;
  types: Uint8Array;
  bytes: Uint8Array;
  pieceBegin: Int32Array;
  pieceEnd: Int32Array;
}

/** A decoded ModelProto. */
export interface ModelProto {
  pieces: PieceTable;
  trainer_spec: TrainerSpec;
  normalizer_spec: NormalizerSpec;
  denormalizer_spec: NormalizerSpec | null;
}

type Kind = 'string' | 'strings' | 'int32' | 'uint64' | 'bool' | 'float' | 'enum';
// [field number, name, kind, default]; the defaults are those of the .proto.
const TRAINER_FIELDS: [number, keyof TrainerSpec, Kind, unknown][] = [
  [1, 'input', 'strings', []],
  [7, 'input_format', 'string', ''],
  [2, 'model_prefix', 'string', ''],
  [3, 'model_type', 'enum', 'UNIGRAM'],
  [4, 'vocab_size', 'int32', 8000],
  [5, 'accept_language', 'strings', []],
  [6, 'self_test_sample_size', 'int32', 0],
  [50, 'enable_differential_privacy', 'bool', false],
  [51, 'differential_privacy_noise_level', 'float', 0],
  [52, 'differential_privacy_clipping_threshold', 'uint64', 0],
  [10, 'character_coverage', 'float', Math.fround(0.9995)],
  [11, 'input_sentence_size', 'uint64', 0],
  [19, 'shuffle_input_sentence', 'bool', true],
  [12, 'mining_sentence_size', 'int32', 0],
  [13, 'training_sentence_size', 'int32', 0],
  [14, 'seed_sentencepiece_size', 'int32', 1000000],
  [15, 'shrinking_factor', 'float', Math.fround(0.75)],
  [18, 'max_sentence_length', 'int32', 4192],
  [16, 'num_threads', 'int32', 16],
  [17, 'num_sub_iterations', 'int32', 2],
  [20, 'max_sentencepiece_length', 'int32', 16],
  [21, 'split_by_unicode_script', 'bool', true],
  [23, 'split_by_number', 'bool', true],
  [22, 'split_by_whitespace', 'bool', true],
  [24, 'treat_whitespace_as_suffix', 'bool', false],
  [26, 'allow_whitespace_only_pieces', 'bool', false],
  [25, 'split_digits', 'bool', false],
  [30, 'control_symbols', 'strings', []],
  [31, 'user_defined_symbols', 'strings', []],
  [36, 'required_chars', 'string', ''],
  [35, 'byte_fallback', 'bool', false],
  [32, 'vocabulary_output_piece_score', 'bool', true],
  [33, 'hard_vocab_limit', 'bool', true],
  [34, 'use_all_vocab', 'bool', false],
  [40, 'unk_id', 'int32', 0],
  [41, 'bos_id', 'int32', 1],
  [42, 'eos_id', 'int32', 2],
  [43, 'pad_id', 'int32', -1],
  [45, 'unk_piece', 'string', '<unk>'],
  [46, 'bos_piece', 'string', '<s>'],
  [47, 'eos_piece', 'string', '</s>'],
  [48, 'pad_piece', 'string', '<pad>'],
  [44, 'unk_surface', 'string', ' \u2047 '],
  [49, 'train_extremely_large_corpus', 'bool', false],
];
const TRAINER_BY_NUMBER = new Map(TRAINER_FIELDS.map((f) => [f[0], f]));

function readScalar(r: ProtoReader, field: number, wire: WireType, kind: Kind): unknown {
  switch (kind) {
    case 'string':
    case 'strings':
      r.expect(field, wire, WireType.LengthDelimited);
      return r.string();
    case 'float':
      r.expect(field, wire, WireType.Fixed32);
      return r.float32();
    case 'uint64':
      r.expect(field, wire, WireType.Varint);
      return r.varint64();
    case 'bool':
      r.expect(field, wire, WireType.Varint);
      return r.varint64() !== 0;
    case 'enum': {
      r.expect(field, wire, WireType.Varint);
      const v = r.varint32();
      const name = MODEL_TYPES[v];
      if (name === undefined) throw new ProtobufError(`TrainerSpec: unknown model_type ${v}`);
      return name;
    }
    case 'int32':
      r.expect(field, wire, WireType.Varint);
      return r.varint32();
  }
}

// `base` is an earlier occurrence of the field: protobuf merges repeated occurrences of a message.
function parseTrainerSpec(bytes: Uint8Array, begin: number, end: number, base: TrainerSpec | null = null): TrainerSpec {
  const spec: Record<string, unknown> = {};
  for (const [, name, kind, def] of TRAINER_FIELDS) {
    const prev = base?.[name];
    spec[name] = prev !== undefined ? (Array.isArray(prev) ? [...prev] : prev) : kind === 'strings' ? [] : def;
  }
  const r = new ProtoReader(bytes, begin, end, 'TrainerSpec');
  while (r.more()) {
    const [field, wire] = r.tag();
    const f = TRAINER_BY_NUMBER.get(field);
    if (f === undefined) {
      r.skip(wire);
      continue;
    }
    const v = readScalar(r, field, wire, f[2]);
    if (f[2] === 'strings') (spec[f[1]] as unknown[]).push(v);
    else spec[f[1]] = v;
  }
  return spec as unknown as TrainerSpec;
}

function parseNormalizerSpec(bytes: Uint8Array, begin: number, end: number, base: NormalizerSpec | null = null): NormalizerSpec {
  const spec: NormalizerSpec = base !== null ? { ...base } : {
    name: '',
    precompiled_charsmap: new Uint8Array(0),
    add_dummy_prefix: true,
    remove_extra_whitespaces: true,
    escape_whitespaces: true,
    normalization_rule_tsv: '',
  };
  const r = new ProtoReader(bytes, begin, end, 'NormalizerSpec');
  while (r.more()) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        spec.name = readScalar(r, field, wire, 'string') as string;
        break;
      case 2:
        r.expect(field, wire, WireType.LengthDelimited);
        spec.precompiled_charsmap = r.bytesField();
        break;
      case 3:
        spec.add_dummy_prefix = readScalar(r, field, wire, 'bool') as boolean;
        break;
      case 4:
        spec.remove_extra_whitespaces = readScalar(r, field, wire, 'bool') as boolean;
        break;
      case 5:
        spec.escape_whitespaces = readScalar(r, field, wire, 'bool') as boolean;
        break;
      case 6:
        spec.normalization_rule_tsv = readScalar(r, field, wire, 'string') as string;
        break;
      default:
        r.skip(wire);
    }
  }
  return spec;
}

// Pieces are short, so a hand-written decoder beats a TextDecoder call per piece.
// Anything unusual (invalid or long) goes to TextDecoder, which replaces bad bytes.
const units: number[] = [];
function decodePiece(bytes: Uint8Array, begin: number, end: number, td: TextDecoder): string {
  if (end - begin > 64) return td.decode(bytes.subarray(begin, end));
  units.length = 0;
  for (let i = begin; i < end; ) {
    const b0 = bytes[i]!;
    let cp: number;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else {
      const n = validCharLen(bytes, i, end);
      if (n === 0) return td.decode(bytes.subarray(begin, end));
      if (n === 2) cp = ((b0 & 0x1f) << 6) | (bytes[i + 1]! & 0x3f);
      else if (n === 3) cp = ((b0 & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f);
      else cp = ((b0 & 0x07) << 18) | ((bytes[i + 1]! & 0x3f) << 12) | ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
      i += n;
    }
    if (cp > 0xffff) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
  }
  return String.fromCharCode.apply(null, units);
}

/** Parses a serialized ModelProto (the bytes of a `.model` file). Throws on corrupt input. */
export function parseModelProto(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new ProtobufError('ModelProto: empty input');
  // First pass counts pieces so the columns can be typed arrays of the right size.
  const r = new ProtoReader(bytes, 0, bytes.length, 'ModelProto');
  const pieceRanges: number[] = [];
  let trainer: TrainerSpec | null = null;
  let normalizer: NormalizerSpec | null = null;
  let denormalizer: NormalizerSpec | null = null;
  while (r.more()) {
    const [field, wire] = r.tag();
    if (field >= 1 && field <= 5) {
      r.expect(field, wire, WireType.LengthDelimited);
      const [b, e] = r.lengthDelimited();
      if (field === 1) pieceRanges.push(b, e);
      else if (field === 2) trainer = parseTrainerSpec(bytes, b, e, trainer);
      else if (field === 3) normalizer = parseNormalizerSpec(bytes, b, e, normalizer);
      else if (field === 5) denormalizer = parseNormalizerSpec(bytes, b, e, denormalizer);
      // field 4: self_test_data, not needed to encode.
    } else {
      r.skip(wire);
    }
  }
  const n = pieceRanges.length / 2;
  const table: PieceTable = {
    size: n,
    pieces: new Array<string>(n),
    scores: new Float32Array(n),
    types: new Uint8Array(n),
    bytes,
    pieceBegin: new Int32Array(n),
    pieceEnd: new Int32Array(n),
  };
  const td = new TextDecoder('utf-8', { ignoreBOM: true });
  const pr = new ProtoReader(bytes, 0, 0, 'SentencePiece');
  for (let i = 0; i < n; i++) {
    pr.reset(pieceRanges[2 * i]!, pieceRanges[2 * i + 1]!, i);
    let type = PieceType.NORMAL;
    let score = 0;
    let pb = -1;
    let pe = -1;
    while (pr.more()) {
      const [field, wire] = pr.tag();
      if (field === 1) {
        pr.expect(field, wire, WireType.LengthDelimited);
        [pb, pe] = pr.lengthDelimited();
      } else if (field === 2) {
        pr.expect(field, wire, WireType.Fixed32);
        score = pr.float32();
      } else if (field === 3) {
        pr.expect(field, wire, WireType.Varint);
        type = pr.varint32();
        if (!(type >= 1 && type <= 6)) throw new ProtobufError(`SentencePiece #${i}: unknown type ${type}`);
      } else {
        pr.skip(wire);
      }
    }
    if (pb < 0 || pe === pb) throw new ProtobufError(`SentencePiece #${i}: piece must not be empty`);
    table.pieces[i] = decodePiece(bytes, pb, pe, td);
    table.scores[i] = score;
    table.types[i] = type;
    table.pieceBegin[i] = pb;
    table.pieceEnd[i] = pe;
  }
  return {
    pieces: table,
    trainer_spec: trainer ?? parseTrainerSpec(bytes, 0, 0),
    normalizer_spec: normalizer ?? parseNormalizerSpec(bytes, 0, 0),
    denormalizer_spec: denormalizer,
  };
}
