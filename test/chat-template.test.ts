// applyChatTemplate: tokenizer_config.json's chat_template rendered as transformers' apply_chat_template, checked
// against rendered strings written out here.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoTokenizer, type ChatMessage } from '@tensorzoo/tokenizer';
import { NEMOTRON_CHAT_TEMPLATE, writeTinyChatModel } from './chat.helpers.js';

const dirs: string[] = [];
function folder(config?: Record<string, unknown>): string {
  const d = writeTinyChatModel(config);
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const conversation: ChatMessage[] = [
  { role: 'system', content: 'be brief.' },
  { role: 'user', content: 'hi there' },
  { role: 'assistant', content: 'hello!' },
  { role: 'user', content: 'who are you?' },
];

describe('applyChatTemplate', () => {
  it("renders Nemotron-Mini-4B-Instruct's format", async () => {
    const tok = await AutoTokenizer.fromPretrained(folder());
    expect(tok.applyChatTemplate(conversation.slice(0, 2), { tokenize: false, addGenerationPrompt: true }))
      .toBe('<extra_id_0>System\nbe brief.\n\n<extra_id_1>User\nhi there\n<extra_id_1>Assistant\n');
    expect(tok.applyChatTemplate(conversation, { tokenize: false, addGenerationPrompt: true }))
      .toBe('<extra_id_0>System\nbe brief.\n\n<extra_id_1>User\nhi there\n<extra_id_1>Assistant\nhello!\n<extra_id_1>User\nwho are you?\n<extra_id_1>Assistant\n');
    // no system message, no generation prompt
    expect(tok.applyChatTemplate([{ role: 'user', content: '  hi  ' }], { tokenize: false }))
      .toBe('<extra_id_0>System\n\n<extra_id_1>User\nhi\n');
  });

  it('tokenizes the rendered text without adding special tokens; the template markers are single special ids', async () => {
    const tok = await AutoTokenizer.fromPretrained(folder({ chat_template: NEMOTRON_CHAT_TEMPLATE, add_bos_token: true }));
    const ids = tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
    // <extra_id_0> S y s t e m \n \n <extra_id_1> U s e r \n h i \n <extra_id_1> A s s i s t a n t \n
    const c = (s: string) => [...s].map((ch) => tok.convertTokenToId(ch)!);
    expect(ids).toEqual([4, ...c('System\n\n'), 5, ...c('User\nhi\n'), 5, ...c('Assistant\n')]);
    expect(ids[0]).toBe(4); // no BOS although add_bos_token is set: the template decides
    expect(tok.decode(ids)).toBe('<extra_id_0>System\n\n<extra_id_1>User\nhi\n<extra_id_1>Assistant\n');
  });

  it("puts the special tokens in the template's context and runs raise_exception", async () => {
    const llama = "{{ bos_token }}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate user/assistant') }}{% endif %}"
      + "{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";
    const tok = await AutoTokenizer.fromPretrained(folder({ chat_template: llama }));
    expect(tok.applyChatTemplate(conversation.slice(1), { tokenize: false })).toBe('<s>[INST] hi there [/INST] hello! </s>[INST] who are you? [/INST]');
    expect(() => tok.applyChatTemplate(conversation, { tokenize: false })).toThrow(/roles must alternate/);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { tokenize: false, templateVars: { bos_token: '<<' } })).toBe('<<[INST] x [/INST]');
  });

  it('picks named templates, reads chat_template.jinja, and says when there is none', async () => {
    const named = await AutoTokenizer.fromPretrained(folder({ chat_template: [{ name: 'default', template: 'D{{ messages[0].content }}' }, { name: 'tool_use', template: 'T{{ messages[0].content }}' }] }));
    const one = [{ role: 'user', content: 'q' }];
    expect(named.applyChatTemplate(one, { tokenize: false })).toBe('Dq');
    expect(named.applyChatTemplate(one, { tokenize: false, chatTemplate: 'tool_use' })).toBe('Tq');
    const bare = folder({});
    const none = await AutoTokenizer.fromPretrained(bare);
    expect(() => none.applyChatTemplate(one)).toThrow(/no chat_template/);
    expect(none.applyChatTemplate(one, { tokenize: false, chatTemplate: '{{ messages | length }}{{ add_generation_prompt }}' })).toBe('1false');
    writeFileSync(join(bare, 'chat_template.jinja'), 'J{{ messages[0].content }}');
    expect((await AutoTokenizer.fromPretrained(bare)).applyChatTemplate(one, { tokenize: false })).toBe('Jq');
    expect(() => named.applyChatTemplate([{ role: 'user' } as ChatMessage])).toThrow(/messages\[0\] must be/);
  });
});
