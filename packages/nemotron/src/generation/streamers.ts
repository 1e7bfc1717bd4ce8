// Streaming generated ids as text. Deviation from transformers' TextStreamer (which re-decodes the ids since the last
// newline and prints up to the last space): this decodes a window of a few ids, as text-generation-inference's
// decode_token does, so the cost per token does not grow with the length of a line.

import type { TokenTextDecoder } from './stopping-criteria.js';

/** Context ids the first decode starts from (SentencePiece's word-initial space needs at least one before it). */
const LOOKBACK = 5;

/**
 * The text of a growing id sequence, piece by piece. Each step decodes a short window that starts a few ids before the
 * unprinted ones and returns what follows the window's printed part: decoding the new ids alone would drop the space
 * SentencePiece marks on a word's first piece, and decoding everything each step costs O(n^2) over a generation.
 * A trailing incomplete byte-fallback character is held back until its next piece (or `end`).
 */
export class TextStream {
  /** ids[0, readOffset) were printed last (or are the context's last ids); the rest are not printed yet */
  private ids: number[];
  private readOffset: number;

  /** `context`: the ids already shown (the prompt), which the first new pieces are decoded after. Special ids are
   * the tokenizer's to skip (pass `{ decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }) }`). */
  constructor(private readonly tokenizer: TokenTextDecoder, context: readonly number[] = []) {
    if (typeof tokenizer?.decode !== 'function') throw new TypeError('TextStream: expected a tokenizer with decode(ids), e.g. { decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }) }');
    this.ids = context.slice(-LOOKBACK);
    this.readOffset = this.ids.length;
  }

  /** Appends an id; returns the text it completes ('' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    return this.take(false);
  }

  /** The text still held back (an incomplete character at the end); the stream then continues as if it were shown. */
  end(): string {
    return this.take(true);
  }

  private decode(from: number, to: number): string {
    return this.tokenizer.decode(this.ids.slice(from, to));
  }

  private take(final: boolean): string {
    const prefix = this.decode(0, this.readOffset);
    const text = this.decode(0, this.ids.length);
    if (text.length <= prefix.length || (!final && text.endsWith('\uFFFD'))) return '';
    // the next window starts at the ids printed now; the ones before are no longer needed
    this.ids = this.ids.slice(this.readOffset);
    this.readOffset = this.ids.length;
    return text.slice(prefix.length);
  }
}
