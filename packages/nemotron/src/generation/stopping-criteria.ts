// Stopping criteria beyond EOS and the length limit (transformers' generation/stopping_criteria.py).

/** What a stop-string check needs of a tokenizer: ids to text. */
export interface TokenTextDecoder {
  decode(ids: readonly number[]): string;
}

/**
 * StopStringCriteria: a row is done when its decoded text ends with one of the stop strings. Only the last tokens
 * are decoded: enough of them to hold the longest stop string even if every token were a single character.
 */
export class StopStringCriteria {
  private readonly stops: string[];
  private readonly window: number;

  /** Stop strings (non-empty) and the tokenizer that turns ids into text. */
  constructor(private readonly tokenizer: TokenTextDecoder, stopStrings: string | readonly string[]) {
    this.stops = typeof stopStrings === 'string' ? [stopStrings] : [...stopStrings];
    if (this.stops.length === 0 || this.stops.some((s) => typeof s !== 'string' || s === '')) {
      throw new Error(`generate: stopStrings must be non-empty strings, got ${JSON.stringify(stopStrings)}`);
    }
    // a token decodes to at least one character unless special; a few extra cover special tokens in between
    this.window = Math.max(...this.stops.map((s) => s.length)) + 8;
  }

  /** True when the text of `row` ends with a stop string. */
  isDone(row: readonly number[]): boolean {
    const text = this.tokenizer.decode(row.slice(-this.window));
    return this.stops.some((s) => text.endsWith(s));
  }
}
