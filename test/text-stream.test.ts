// TextStream (incremental detokenization for streaming): the pieces it returns, joined, are the text that decoding the
// whole sequence adds after the context, whatever the ids: word-initial spaces, byte-fallback characters split
// across pieces (held back until complete), special ids skipped; and each step decodes a window of bounded length.
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextStream } from '@tensorzoo/nemotron';
import { AutoTokenizer } from '@tensorzoo/tokenizer';

const SHIPPED = fileURLToPath(new URL('../models/kjv-nemotron-mini', import.meta.url));

describe('TextStream', async () => {
  const tok = await AutoTokenizer.fromPretrained(SHIPPED);
  const vocab = tok.vocabSize;
  const decode = (ids: readonly number[]) => tok.decode(ids, { skipSpecialTokens: true });
  const byteIds = Array.from({ length: vocab }, (_, i) => i).filter((i) => /^<0x[0-9A-F]{2}>$/.test(tok.convertIdsToTokens([i])[0] ?? ''));

  it('has byte-fallback pieces to test with', () => expect(byteIds.length).toBe(256));

  it('joined pieces + end() equal what decoding everything adds after the context', () => {
    const id = fc.oneof(fc.integer({ min: 0, max: vocab - 1 }), fc.constantFrom(...byteIds));
    fc.assert(fc.property(fc.array(id, { maxLength: 12 }), fc.array(id, { minLength: 1, maxLength: 40 }), (context, ids) => {
      const whole = decode([...context, ...ids]);
      const before = decode(context);
      fc.pre(whole.startsWith(before)); // a context ending inside a character decodes to U+FFFD there, not to a prefix
      const s = new TextStream({ decode }, context);
      let text = '';
      for (const i of ids) text += s.push(i);
      text += s.end();
      expect(text).toBe(whole.slice(before.length));
    }), { numRuns: 400 });
  });

  it('holds back a character whose UTF-8 bytes arrive as separate pieces, then prints it whole', () => {
    const piece = (b: number) => byteIds[b]!;
    const s = new TextStream({ decode }, tok.encode('In the beginning'));
    const bytes = [...new TextEncoder().encode('é😀')];
    const out = bytes.map((b) => s.push(piece(b)));
    expect(out).toEqual(['', 'é', '', '', '', '😀']);
    expect(s.end()).toBe('');
  });

  it('refuses a tokenizer without decode, naming what it needs', () => {
    expect(() => new TextStream(undefined as unknown as { decode: (ids: readonly number[]) => string })).toThrow(/TextStream: expected a tokenizer with decode\(ids\)/);
    expect(() => new TextStream({} as unknown as { decode: (ids: readonly number[]) => string })).toThrow(TypeError);
  });

  it('decodes a window of bounded length per step, not the whole sequence', () => {
    let longest = 0;
    const counting = { decode: (ids: readonly number[]) => { longest = Math.max(longest, ids.length); return decode(ids); } };
    const ids = tok.encode('And God said, Let there be light: and there was light. '.repeat(40));
    const s = new TextStream(counting, ids.slice(0, 100));
    let text = '';
    for (const i of ids.slice(100)) text += s.push(i);
    expect(ids.length).toBeGreaterThan(400);
    expect(longest).toBeLessThanOrEqual(12);
    expect(text + s.end()).toBe(decode(ids).slice(decode(ids.slice(0, 100)).length));
  });
});
