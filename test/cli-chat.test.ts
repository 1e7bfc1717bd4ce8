// tensorzoo chat end to end through stdin (history, /reset, /exit, --system, exit codes), and generate's --stop and
// --repetition-penalty, on a golden checkpoint with a tiny instruct tokenizer. Replies are checked against the
// library: the chat template rendered, then greedy generation stopped at EOS or any special token.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NemotronForCausalLM } from '@tensorzoo/nemotron';
import { AutoTokenizer, type ChatMessage, type PreTrainedTokenizer } from '@tensorzoo/tokenizer';
import { writeTinyChatModel } from './chat.helpers.js';
import { runCli } from './cli.helpers.js';

const MAX = 12;
let dir: string;
let bare: string;
let model: NemotronForCausalLM;
let tok: PreTrainedTokenizer;

/** The reply the CLI must print for a conversation: greedy, ended by EOS (36) or any special token (ids 0-5). */
async function reply(messages: ChatMessage[], opts: { repetitionPenalty?: number } = {}): Promise<string> {
  const ids = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
  const row = ((await model.generate([ids], { maxNewTokens: MAX, eosTokenId: [36, 0, 1, 2, 3, 4, 5], ...opts })).tolist() as number[][])[0]!;
  return tok.decode(row.slice(ids.length), { skipSpecialTokens: true });
}

beforeAll(async () => {
  dir = writeTinyChatModel(undefined, 'causal_lm_generate_eos');
  bare = writeTinyChatModel({}, 'causal_lm_generate_eos');
  model = await NemotronForCausalLM.fromPretrained(dir);
  tok = await AutoTokenizer.fromPretrained(dir);
});
afterAll(() => [dir, bare].forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('tensorzoo chat', () => {
  const greedy = () => ['chat', '--model', dir, '--temperature', '0', '--max-new-tokens', String(MAX)];

  it('keeps the history, forgets it on /reset, and stops reading at /exit', async () => {
    const r = runCli(tmpdir(), greedy(), { input: 'hi\nhi\n/reset\nhi\n/exit\nnot read\n' });
    expect(r.err).toBe('chat: conversation reset\n');
    expect(r.code).toBe(0);
    const r1 = await reply([{ role: 'user', content: 'hi' }]);
    const r2 = await reply([{ role: 'user', content: 'hi' }, { role: 'assistant', content: r1 }, { role: 'user', content: 'hi' }]);
    expect(r1).not.toBe(r2); // the second turn saw the first
    expect(r1.length).toBeGreaterThan(0);
    expect(r.out).toBe(`${r1}\n${r2}\n${r1}\n`);
  });

  it('puts --system first and keeps it across /reset; ends at end of input with exit 0', async () => {
    const r = runCli(tmpdir(), [...greedy(), '--system', 'be kind.'], { input: 'who are you?\n/reset\n\nwho are you?' });
    expect(r.code).toBe(0);
    const expected = await reply([{ role: 'system', content: 'be kind.' }, { role: 'user', content: 'who are you?' }]);
    expect(expected).not.toBe(await reply([{ role: 'user', content: 'who are you?' }]));
    expect(r.out).toBe(`${expected}\n${expected}\n`);
  });

  it('honours --repetition-penalty, and says so for an unknown command without stopping', async () => {
    const r = runCli(tmpdir(), [...greedy(), '--repetition-penalty', '1.5'], { input: '/help\nhi\n' });
    expect(r.code).toBe(0);
    expect(r.err).toBe('chat: unknown command /help; commands: /reset (forget the conversation), /exit\n');
    expect(r.out).toBe(`${await reply([{ role: 'user', content: 'hi' }], { repetitionPenalty: 1.5 })}\n`);
  });

  it('refuses a model without a chat template and bad options, exit 2, before any output', () => {
    const none = runCli(tmpdir(), ['chat', '--model', bare], { input: 'hi\n' });
    expect([none.code, none.out]).toEqual([2, '']);
    expect(none.err).toMatch(/^tensorzoo: chat: the tokenizer in .* has no chat_template \(tokenizer_config.json\); chat needs an instruct checkpoint\n$/);
    const bad = runCli(tmpdir(), ['chat', '--model', dir, '--repetition-penalty', '0'], { input: 'hi\n' });
    expect([bad.code, bad.out, bad.err]).toEqual([2, '', 'tensorzoo: chat: --repetition-penalty "0" is not allowed: expected a number > 0\n']);
  });

  it('says when the conversation outgrows the context and goes on', () => {
    const long = 'a'.repeat(300); // the golden model has 256 positions
    const r = runCli(tmpdir(), greedy(), { input: `${long}\n/exit\n` });
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^chat: the conversation is 3\d\d tokens, the model's context is 256 positions \(max_position_embeddings\); \/reset to start over\n$/);
  });
});

describe('tensorzoo generate --stop and --repetition-penalty', () => {
  const work = mkdtempSync(join(tmpdir(), 'tz-stop-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const args = (...more: string[]) => ['generate', '--model', dir, '--prompt', 'the cat', '--temperature', '0', '--max-new-tokens', '10', ...more];

  it('--stop ends the text right after its first occurrence in the continuation', () => {
    const full = runCli(work, args());
    expect(full.code).toBe(0);
    const continuation = full.out.slice('the cat'.length, -1);
    expect(continuation.length).toBeGreaterThan(3);
    const stop = continuation.slice(1, 3);
    const r = runCli(work, args('--stop', stop));
    expect(r.code).toBe(0);
    expect(r.out).toBe(`the cat${continuation.slice(0, continuation.indexOf(stop) + stop.length)}\n`);
    expect(r.err).not.toMatch(/context limit/);
    const bad = runCli(work, args('--stop', ''));
    expect([bad.code, bad.out, bad.err]).toEqual([2, '', 'tensorzoo: generate: --stop "" is not allowed: expected a non-empty text\n']);
  });

  it('--repetition-penalty changes greedy decoding as the library does', async () => {
    const r = runCli(work, args('--repetition-penalty', '2'));
    expect(r.code).toBe(0);
    const ids = tok.encode('the cat');
    const row = ((await model.generate([ids], { maxNewTokens: 10, repetitionPenalty: 2 })).tolist() as number[][])[0]!;
    const stopAt = row.indexOf(36, ids.length);
    const text = tok.decode(row.slice(0, stopAt < 0 ? undefined : stopAt), { skipSpecialTokens: true });
    expect(r.out).toBe(`${text}\n`);
    expect(r.out).not.toBe(runCli(work, args()).out);
    const bad = runCli(work, args('--repetition-penalty', '-1'));
    expect([bad.code, bad.out]).toEqual([2, '']);
  });
});
