// SentencePieceTokenizer: the SentencePieceProcessor API over a .model file.
// Encoding is normalize -> model -> PopulateSentencePieceText (byte fallback,
// unk merging, offsets); decoding follows SentencePieceProcessor::Decode.

import { BpeModel, type SentencePieceModel } from './bpe.js';
import { CharModel, WordModel } from './char-word.js';
import { EncodeResult } from './encode-result.js';
import { readFileBytes } from '#fs';
import { PieceType, parseModelProto, type ModelProto } from './model-proto.js';
import { Normalizer } from './normalizer.js';
import { UnigramModel } from './unigram.js';
import { decodeBytesLikeSentencePiece, utf8Decode, utf8Encode } from './utf8.js';
import { Vocab, byteToPiece, pieceToByte } from './vocab.js';

/** Options of SentencePieceTokenizer.encode. */
export interface SpEncodeOptions {
  /** Prepend bos_id (default false, as EncodeAsIds). */
  addBos?: boolean;
  /** Append eos_id (default false). */
  addEos?: boolean;
}

/** One encoded piece with its byte span in the original UTF-8 text (SentencePieceText.pieces). */
export interface SpPiece {
  id: number;
  piece: string;
  /** [begin, end) byte offsets into the UTF-8 of the input. */
  begin: number;
  end: number;
}

const SPACE = '\u2581';
const ENCODER = new TextEncoder();

/** A loaded SentencePiece model: encode and decode exactly as the reference library. */
export class SentencePieceTokenizer {
  /** The decoded ModelProto (specs and vocabulary). */
  readonly proto: ModelProto;
  private readonly vocab: Vocab;
  private readonly normalizer: Normalizer;
  private readonly denormalizer: Normalizer | null;
  private readonly model: SentencePieceModel;
  private readonly result = new EncodeResult();
  private inputBuf = new Uint8Array(1024);
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;

  private constructor(proto: ModelProto) {
    this.proto = proto;
    this.vocab = new Vocab(proto);
    const ts = proto.trainer_spec;
    this.normalizer = new Normalizer(proto.normalizer_spec, ts.treat_whitespace_as_suffix, this.vocab.userDefined);
    const dn = proto.denormalizer_spec;
    this.denormalizer = dn !== null && dn.precompiled_charsmap.length > 0 ? new Normalizer(dn, false, null) : null;
    switch (ts.model_type) {
      case 'BPE':
        this.model = new BpeModel(this.vocab);
        break;
      case 'UNIGRAM':
        this.model = new UnigramModel(this.vocab);
        break;
      case 'CHAR':
        this.model = new CharModel(this.vocab);
        break;
      case 'WORD':
        this.model = new WordModel(this.vocab, ts.treat_whitespace_as_suffix);
        break;
    }
    // Special ids are looked up by piece and kept only if the type fits (unk_id(), bos_id() ...).
    const special = (piece: string, type: PieceType): number => {
      const id = this.vocab.pieceToId(piece);
      return this.vocab.type(id) === type ? id : -1;
    };
    this.unkId = special(ts.unk_piece || '<unk>', PieceType.UNKNOWN);
    this.bosId = special(ts.bos_piece || '<s>', PieceType.CONTROL);
    this.eosId = special(ts.eos_piece || '</s>', PieceType.CONTROL);
    this.padId = special(ts.pad_piece || '<pad>', PieceType.CONTROL);
  }

  /** Loads a model from the bytes of a `.model` file; throws on a corrupt file. */
  static fromBuffer(bytes: Uint8Array | ArrayBuffer): SentencePieceTokenizer {
    const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    return new SentencePieceTokenizer(parseModelProto(u8));
  }

  /** Loads a `.model` file from disk (Node). */
  static async fromFile(path: string): Promise<SentencePieceTokenizer> {
    return SentencePieceTokenizer.fromBuffer(await readFileBytes(path));
  }

  /** Number of pieces (GetPieceSize). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** Piece of an id; throws for an id out of range. */
  idToPiece(id: number): string {
    this.checkId(id);
    return this.vocab.piece(id);
  }

  /** Id of a piece; unk_id for anything that is not a piece. */
  pieceToId(piece: string): number {
    return this.vocab.pieceToId(piece);
  }

  /** Score of a piece (the float32 stored in the model). */
  getScore(id: number): number {
    this.checkId(id);
    return this.vocab.table.scores[id]!;
  }

  /** Type of a piece. */
  getType(id: number): PieceType {
    this.checkId(id);
    return this.vocab.type(id);
  }

  /** True for the unknown piece. */
  isUnknown(id: number): boolean {
    return this.getType(id) === PieceType.UNKNOWN;
  }

  /** True for control pieces (<s>, </s>, ...). */
  isControl(id: number): boolean {
    return this.getType(id) === PieceType.CONTROL;
  }

  /** True for unused pieces. */
  isUnused(id: number): boolean {
    return this.getType(id) === PieceType.UNUSED;
  }

  /** True for byte-fallback pieces (<0xNN>). */
  isByte(id: number): boolean {
    return this.getType(id) === PieceType.BYTE;
  }

  /** True for user-defined pieces. */
  isUserDefined(id: number): boolean {
    return this.getType(id) === PieceType.USER_DEFINED;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.size) {
      throw new RangeError(`Out of range: piece id ${id} is out of range [0, ${this.vocab.size}).`);
    }
  }

  /** The normalized form of `text` as the model sees it (spaces as U+2581). */
  normalize(text: string): string {
    const bytes = utf8Encode(text);
    const n = this.normalizer.normalize(bytes);
    return utf8Decode(n.bytes, 0, n.length);
  }

  // Runs normalizer and model; the result arrays are reused by the next call.
  private run(bytes: Uint8Array): { normalized: Uint8Array; normToOrig: Int32Array; result: EncodeResult } {
    const n = this.normalizer.normalize(bytes);
    const result = this.result;
    result.clear();
    this.model.encode(n.bytes, n.length, result);
    return { normalized: n.bytes, normToOrig: n.normToOrig, result };
  }

  // UTF-8 of `text` in a reused buffer (encodeInto avoids an allocation per call).
  private utf8(text: string): Uint8Array {
    if (text.length + 16 > this.inputBuf.length) this.inputBuf = new Uint8Array(Math.max(text.length + 16, this.inputBuf.length * 2));
    let r = ENCODER.encodeInto(text, this.inputBuf);
    if (r.read < text.length) {
      // Non-ASCII text: 3 bytes per UTF-16 unit always suffice.
      this.inputBuf = new Uint8Array(text.length * 3 + 16);
      r = ENCODER.encodeInto(text, this.inputBuf);
    }
    return this.inputBuf.subarray(0, r.written);
  }

  /** Token ids of `text`, equal to EncodeAsIds (no BOS/EOS unless asked). */
  encode(text: string, options: SpEncodeOptions = {}): number[] {
    const { normalized, result } = this.run(this.utf8(text));
    const ids: number[] = [];
    if (options.addBos && this.bosId >= 0) ids.push(this.bosId);
    const unk = this.vocab.unkId;
    const byteFallback = this.vocab.byteFallback;
    let prevUnk = false;
    for (let i = 0; i < result.length; i++) {
      const id = result.id[i]!;
      const isUnk = id === unk;
      if (isUnk && byteFallback) {
        for (let k = result.begin[i]!; k < result.end[i]!; k++) ids.push(this.vocab.byteToId[normalized[k]!]!);
      } else if (!(isUnk && prevUnk)) {
        ids.push(id); // consecutive unknowns merge into one piece
      }
      prevUnk = isUnk;
    }
    if (options.addEos && this.eosId >= 0) ids.push(this.eosId);
    return ids;
  }

  /** Pieces with ids and byte offsets into the original text (EncodeAsImmutableProto's pieces). */
  encodeWithOffsets(text: string, options: SpEncodeOptions = {}): SpPiece[] {
    const { normalized, normToOrig, result } = this.run(utf8Encode(text));
    const out: SpPiece[] = [];
    // BOS/EOS added by extra options carry no surface: begin = end = 0 as in the reference.
    const special = (id: number): SpPiece => ({ id, piece: this.vocab.piece(id), begin: 0, end: 0 });
    if (options.addBos && this.bosId >= 0) out.push(special(this.bosId));
    const unk = this.vocab.unkId;
    let prevUnk = false;
    for (let i = 0; i < result.length; i++) {
      const id = result.id[i]!;
      const b = result.begin[i]!;
      const e = result.end[i]!;
      const ob = normToOrig[b]!;
      const oe = normToOrig[e]!;
      const isUnk = id === unk;
      if (isUnk && this.vocab.byteFallback) {
        // The last byte piece carries the character's span; the others are empty.
        for (let k = b; k < e; k++) {
          const byte = normalized[k]!;
          out.push({ id: this.vocab.byteToId[byte]!, piece: byteToPiece(byte), begin: ob, end: k === e - 1 ? oe : ob });
        }
      } else if (isUnk && prevUnk) {
        const last = out[out.length - 1]!;
        last.piece += utf8Decode(normalized, b, e);
        last.end = oe;
      } else {
        out.push({ id, piece: utf8Decode(normalized, b, e), begin: ob, end: oe });
      }
      prevUnk = isUnk;
    }
    if (options.addEos && this.eosId >= 0) out.push(special(this.eosId));
    return out;
  }

  /** Piece strings of `text` (EncodeAsPieces). */
  encodeAsPieces(text: string, options: SpEncodeOptions = {}): string[] {
    return this.encodeWithOffsets(text, options).map((p) => p.piece);
  }

  /** Text of a list of ids (DecodeIds); throws RangeError for an id out of range. */
  decode(ids: readonly number[]): string {
    const pieces: string[] = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      this.checkId(ids[i]!);
      pieces[i] = this.vocab.piece(ids[i]!);
    }
    return this.decodePieces(pieces);
  }

  /** Text of a list of pieces (DecodePieces); unknown strings act as unk. */
  decodePieces(pieces: readonly string[]): string {
    const ns = this.proto.normalizer_spec;
    const unkSurface = this.proto.trainer_spec.unk_surface;
    const vocab = this.vocab;
    let text = '';
    let isBosWs = true; // whether a leading U+2581 may still be dropped
    let bosWsSeen = false;
    let byteStart = 0;
    const ids = pieces.map((p) => vocab.pieceToId(p));
    const flushBytes = (begin: number, end: number): void => {
      if (begin >= end) return;
      const bytes = new Uint8Array(end - begin);
      for (let i = begin; i < end; i++) bytes[i - begin] = pieceToByte(pieces[i]!);
      text += decodeBytesLikeSentencePiece(bytes);
    };
    for (let i = 0; i < pieces.length; i++) {
      const id = ids[i]!;
      const type = vocab.type(id);
      if (type === PieceType.BYTE) continue;
      flushBytes(byteStart, i);
      if (bosWsSeen || text.length > 0) isBosWs = false;
      byteStart = i + 1;
      let piece = pieces[i]!;
      bosWsSeen = false;
      if (type === PieceType.CONTROL) continue;
      if (type === PieceType.UNKNOWN) {
        text += vocab.piece(id) === piece ? unkSurface : piece;
        continue;
      }
      if (isBosWs && (ns.add_dummy_prefix || ns.remove_extra_whitespaces) && piece.startsWith(SPACE)) {
        piece = piece.slice(1);
        // With remove_extra_whitespaces every leading space goes, so keep looking.
        bosWsSeen = !ns.remove_extra_whitespaces;
      }
      text += piece.replaceAll(SPACE, ' ');
    }
    flushBytes(byteStart, pieces.length);
    if (this.denormalizer !== null) {
      const n = this.denormalizer.normalize(utf8Encode(text));
      text = utf8Decode(n.bytes, 0, n.length);
    }
    return text;
  }
}
