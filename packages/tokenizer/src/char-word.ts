// The CHAR and WORD model types (char_model.cc, word_model.cc): no search, one
// piece per character or per whitespace-delimited word, unknowns as unk.

import type { SentencePieceModel } from './bpe.js';
import type { EncodeResult } from './encode-result.js';
import { oneCharLen } from './utf8.js';
import type { Vocab } from './vocab.js';

function pushPiece(vocab: Vocab, text: Uint8Array, b: number, e: number, out: EncodeResult): void {
  const id = vocab.pieceHash.get(text, b, e);
  out.push(b, e, id >= 0 ? id : vocab.unkId);
}

/** One piece per character. */
export class CharModel implements SentencePieceModel {
  /** Creates the model over a vocabulary. */
  constructor(private readonly vocab: Vocab) {}

  /** Encodes normalized bytes character by character. */
  encode(text: Uint8Array, length: number, out: EncodeResult): void {
    for (let pos = 0; pos < length; ) {
      const n = Math.min(oneCharLen(text[pos]!), length - pos);
      pushPiece(this.vocab, text, pos, pos + n, out);
      pos += n;
    }
  }
}

/** One piece per word, words split before (or after, as suffix) each U+2581. */
export class WordModel implements SentencePieceModel {
  /** Creates the model; `treatWsAsSuffix` mirrors TrainerSpec. */
  constructor(
    private readonly vocab: Vocab,
    private readonly treatWsAsSuffix: boolean,
  ) {}

  /** Encodes normalized bytes word by word (SplitIntoWords). */
  encode(text: Uint8Array, length: number, out: EncodeResult): void {
    let wordBegin = 0;
    for (let pos = 0; pos < length; ) {
      const n = Math.min(oneCharLen(text[pos]!), length - pos);
      const isWs = n === 3 && text[pos] === 0xe2 && text[pos + 1] === 0x96 && text[pos + 2] === 0x81;
      if (!this.treatWsAsSuffix && isWs && pos > wordBegin) {
        pushPiece(this.vocab, text, wordBegin, pos, out);
        wordBegin = pos;
      }
      pos += n;
      if (this.treatWsAsSuffix && isWs && pos < length) {
        pushPiece(this.vocab, text, wordBegin, pos, out);
        wordBegin = pos;
      }
    }
    if (length > wordBegin) pushPiece(this.vocab, text, wordBegin, length, out);
  }
}
