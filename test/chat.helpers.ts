// A tiny instruct model folder for chat tests: a golden Nemotron checkpoint (vocabulary of 40) with a character-level
// tokenizer.json over that vocabulary and a tokenizer_config.json carrying Nemotron-Mini-4B-Instruct's chat format.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from './nemotron.helpers.js';

/** Nemotron-Mini-4B-Instruct's format: <extra_id_0>System\n{system}\n\n<extra_id_1>User\n{prompt}\n<extra_id_1>Assistant\n */
export const NEMOTRON_CHAT_TEMPLATE = [
  "{{ '<extra_id_0>System' }}",
  "{% for message in messages %}{% if message['role'] == 'system' %}{{ '\\n' + message['content'].strip() }}{% endif %}{% endfor %}",
  "{{ '\\n\\n' }}",
  '{% for message in messages %}',
  "{% if message['role'] == 'user' %}{{ '<extra_id_1>User\\n' + message['content'].strip() + '\\n' }}",
  "{% elif message['role'] == 'assistant' %}{{ '<extra_id_1>Assistant\\n' + message['content'].strip() + '\\n' }}{% endif %}",
  '{% endfor %}',
  "{% if add_generation_prompt %}{{ '<extra_id_1>Assistant\\n' }}{% endif %}",
].join('');

/** Ids 0-5 are special; then newline, the word boundary and 32 characters: 40 ids, the golden models' vocab_size. */
export const SPECIALS = ['<pad>', '<unk>', '<s>', '</s>', '<extra_id_0>', '<extra_id_1>'];
export const CHARS = ['\n', '\u2581', ...'abcdefghijklmnopqrstuvwxyz', 'S', 'U', 'A', '.', '?', '!'];

/** tokenizer.json of a character-level BPE (no merges) over SPECIALS and CHARS; spaces become U+2581 and back. */
export function tinyTokenizerJson(): object {
  const vocab = Object.fromEntries([...SPECIALS, ...CHARS].map((t, i) => [t, i]));
  return {
    version: '1.0',
    added_tokens: SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'Fuse' }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', fuse_unk: true, byte_fallback: false, vocab, merges: [] },
  };
}

/** Copies a golden causal LM into a new temporary folder and adds the tokenizer files; returns the folder. */
export function writeTinyChatModel(tokenizerConfig: Record<string, unknown> = { chat_template: NEMOTRON_CHAT_TEMPLATE }, fixture = 'causal_lm_generate'): string {
  const dir = mkdtempSync(join(tmpdir(), 'tz-chat-'));
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors']) copyFileSync(join(FIXTURES, fixture, f), join(dir, f));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson()));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({
    bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', add_bos_token: false, add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(SPECIALS.map((content, id) => [String(id), { content, special: true }])),
    ...tokenizerConfig,
  }));
  return dir;
}
