// Loads the repository's copy of the SentencePiece fixture models.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory of test/fixtures/sentencepiece in this repository. */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'sentencepiece');

/** Bytes of a fixture .model file. */
export function modelBytes(name: 'nemotron_like_bpe' | 'unigram_nmt_nfkc'): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, `${name}.model`)));
}
