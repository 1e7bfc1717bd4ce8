// The piece tables shared by the models (sentencepiece's ModelInterface state):
// id <-> piece lookups (a piece hash; a byte trie built only when a model needs
// prefix search), byte-fallback ids, the unk id and the user-defined-symbol
// matcher. Also validates the vocabulary as the reference does.

import { ByteTrie } from './byte-trie.js';
import { PieceHash } from './piece-hash.js';
import { PieceType, type ModelProto, type PieceTable } from './model-proto.js';
import { utf8Encode } from './utf8.js';

/** Thrown when a ModelProto's vocabulary is inconsistent. */
export class VocabError extends Error {
  override name = 'VocabError';
}

/** `<0xNN>` for a byte value (ByteToPiece). */
export function byteToPiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** The byte of a `<0xNN>` piece, or -1 (PieceToByte). */
export function pieceToByte(piece: string): number {
  const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
  return m === null ? -1 : parseInt(m[1]!, 16);
}

/** Vocabulary lookups used by encoders and decoders. */
export class Vocab {
  readonly size: number;
  readonly table: PieceTable;
  /** NORMAL, USER_DEFINED and UNUSED pieces (the reference's `pieces_`): only these come from text. */
  readonly pieceHash: PieceHash;
  private trieCache: ByteTrie | null = null;
  /** Trie of USER_DEFINED pieces only, matched first and never split; null when there are none. */
  readonly userDefined: ByteTrie | null;
  /** Id of the `<0xNN>` piece for each byte, when byte fallback is on. */
  readonly byteToId: Int32Array;
  readonly unkId: number;
  readonly byteFallback: boolean;
  /** CONTROL, UNKNOWN and BYTE pieces (the reference's reserved_id_map_), first id wins. */
  private readonly reservedMap = new Map<string, number>();

  /** Builds the tables and checks them (InitializePieces): throws VocabError on a bad vocabulary. */
  constructor(proto: ModelProto) {
    const t = proto.pieces;
    this.table = t;
    this.size = t.size;
    this.byteFallback = proto.trainer_spec.byte_fallback;
    this.byteToId = new Int32Array(256).fill(-1);
    let unk = -1;
    let userDefined: ByteTrie | null = null;
    // Duplicates are detected per map, as the reference keeps `pieces_` and `reserved_id_map_` apart.
    for (let i = 0; i < t.size; i++) {
      const type = t.types[i]!;
      const b = t.pieceBegin[i]!;
      const e = t.pieceEnd[i]!;
      if (isEncodable(type)) {
        if (type === PieceType.USER_DEFINED) {
          userDefined ??= new ByteTrie(64);
          userDefined.insert(t.bytes, b, e, i);
        }
      } else {
        const p = t.pieces[i]!;
        if (this.reservedMap.has(p)) throw new VocabError(`${p} is already defined.`);
        this.reservedMap.set(p, i);
        if (type === PieceType.UNKNOWN) {
          if (unk >= 0) throw new VocabError('unk is already defined.');
          unk = i;
        } else if (type === PieceType.BYTE) {
          if (!this.byteFallback) throw new VocabError(`byte piece ${p} is found although \`byte_fallback\` is false.`);
          const byte = pieceToByte(p);
          if (byte < 0) throw new VocabError(`byte piece ${p} is invalid.`);
          this.byteToId[byte] = i;
        }
      }
    }
    this.pieceHash = new PieceHash(
      t,
      (i) => isEncodable(t.types[i]!),
      (i) => {
        throw new VocabError(`${t.pieces[i]} is already defined.`);
      },
    );
    if (unk < 0) throw new VocabError('unk is not defined.');
    if (this.byteFallback && this.byteToId.includes(-1)) {
      throw new VocabError('there are not 256 byte pieces although `byte_fallback` is true.');
    }
    this.unkId = unk;
    this.userDefined = userDefined;
  }

  /** Piece string of an id (no range check). */
  piece(id: number): string {
    return this.table.pieces[id]!;
  }

  /** Piece type of an id. */
  type(id: number): PieceType {
    return this.table.types[id]! as PieceType;
  }

  /** PieceToId: reserved pieces first, then normal ones (through the byte trie); anything else is unk. */
  pieceToId(piece: string): number {
    const r = this.reservedMap.get(piece);
    if (r !== undefined) return r;
    const bytes = utf8Encode(piece);
    const id = this.pieceHash.get(bytes, 0, bytes.length);
    return id >= 0 ? id : this.unkId;
  }

  /** Byte trie of the encodable pieces, built on first use (Unigram needs prefix search; BPE does not). */
  get trie(): ByteTrie {
    if (this.trieCache === null) {
      const t = this.table;
      let total = 0;
      for (let i = 0; i < t.size; i++) total += t.pieceEnd[i]! - t.pieceBegin[i]!;
      const trie = new ByteTrie(total);
      for (let i = 0; i < t.size; i++) if (isEncodable(t.types[i]!)) trie.insert(t.bytes, t.pieceBegin[i]!, t.pieceEnd[i]!, i);
      this.trieCache = trie;
    }
    return this.trieCache;
  }
}

/** Types the reference keeps in `pieces_`: the only ones text can produce. */
function isEncodable(type: number): boolean {
  return type === PieceType.NORMAL || type === PieceType.USER_DEFINED || type === PieceType.UNUSED;
}
