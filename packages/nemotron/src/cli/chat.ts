// tensorzoo chat: an interactive conversation with an instruct checkpoint. Each line on stdin is a user turn (or a
// command: /reset, /exit); the whole conversation is rendered by the tokenizer's chat template and the assistant's
// reply streams to stdout, one reply per turn. The reply ends at EOS or at any special token (the next turn's marker).
import { createInterface } from 'node:readline';
import type { ChatMessage } from '@tensorzoo/tokenizer';
import { NemotronForCausalLM, TextStream, type StopReason } from '../index.js';
import { DEVICE, SEED, samplingOptions, UsageError, type Command } from './args.js';
import { CONTEXT } from './context.js';
import { loadingProgress, loadTokenizer, openModelDir, useDevice } from './model-dir.js';

/** --max-new-tokens per reply when neither the option nor generation_config.json sets it. */
const FALLBACK_MAX_NEW_TOKENS = 256;

const COMMANDS = '/reset (forget the conversation), /exit';

export const chatCommand: Command = {
  name: 'chat',
  summary: "talk with an instruct model (its tokenizer's chat template); one line per turn, /reset, /exit",
  options: {
    model: { type: 'string', arg: 'DIR', help: 'model folder whose tokenizer_config.json has a chat_template; default: the shipped model' },
    system: { type: 'string', arg: 'TEXT', help: 'system prompt, kept across /reset' },
    'max-new-tokens': { type: 'int', arg: 'N', min: 1, help: `tokens per reply at most; default: generation_config.json, else ${FALLBACK_MAX_NEW_TOKENS}` },
    ...samplingOptions(0.7, 'the conversation'),
    seed: SEED,
    device: DEVICE,
  },
  async run(o) {
    const device = await useDevice(String(o.device));
    const { dir } = await openModelDir(this, o);
    const tok = await loadTokenizer(dir);
    if (tok.chatTemplate === null) throw new UsageError(`chat: the tokenizer in ${dir} has no chat_template (tokenizer_config.json); chat needs an instruct checkpoint`);
    const model = await NemotronForCausalLM.fromPretrained(dir, { ...loadingProgress(), device });
    const gen = model.generationConfig;
    const limit = model.config.max_position_embeddings;
    const eosIds = gen?.eosTokenId ?? model.config.eos_token_id;
    const stops = new Set([...(eosIds == null ? [] : Array.isArray(eosIds) ? eosIds : [eosIds]), ...tok.allSpecialIds]);
    const maxNew = (o['max-new-tokens'] as number | undefined) ?? gen?.maxNewTokens ?? FALLBACK_MAX_NEW_TOKENS;
    const temperature = o.temperature as number;
    const start: ChatMessage[] = o.system === undefined ? [] : [{ role: 'system', content: o.system as string }];
    let history = [...start];
    let seed = o.seed as number;
    let interrupted = false;

    /** Streams one reply to stdout and returns its text. */
    async function respond(ids: number[], steps: number): Promise<string> {
      const stream = new TextStream({ decode: (x) => tok.decode(x, { skipSpecialTokens: true }) });
      let reply = '';
      let stoppedBy: StopReason | undefined;
      for await (const step of model.stream([ids], {
        maxNewTokens: steps, doSample: temperature > 0, temperature: temperature > 0 ? temperature : 1,
        topK: o['top-k'] as number, topP: o['top-p'] as number,
        repetitionPenalty: (o['repetition-penalty'] as number | undefined) ?? gen?.repetitionPenalty ?? 1, seed: seed++, eosTokenId: [...stops],
        prefillChunkSize: 64,
      })) {
        const t = step.tokens[0]!;
        stoppedBy = step.stoppedBy;
        if (stops.has(t)) break;
        const text = stream.push(t);
        process.stdout.write(text);
        reply += text;
        if (interrupted) break; // Ctrl-C: leaving the loop ends the stream and frees its cache
      }
      const rest = stream.end();
      reply += rest;
      await new Promise<void>((r) => process.stdout.write(`${rest}\n`, () => r()));
      if (stoppedBy === 'context') {
        process.stderr.write(`chat: the reply stopped at the context limit of ${limit} positions (${CONTEXT}); /reset to start over\n`);
      }
      return reply;
    }

    const onSigint = () => (interrupted = true);
    process.on('SIGINT', onSigint);
    const tty = process.stdin.isTTY === true;
    const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
    if (tty) process.stderr.write(`chat with ${dir}: type a message, or ${COMMANDS}\n`);
    try {
      rl.setPrompt('> ');
      if (tty) rl.prompt();
      for await (const raw of rl) {
        const line = raw.trim();
        if (line === '/exit' || line === '/quit') break;
        if (line === '/reset') {
          history = [...start];
          process.stderr.write('chat: conversation reset\n');
        } else if (line.startsWith('/')) {
          process.stderr.write(`chat: unknown command ${line.split(/\s/)[0]}; commands: ${COMMANDS}\n`);
        } else if (line !== '') {
          const messages = [...history, { role: 'user', content: line }];
          const ids = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
          if (ids.length >= limit) {
            process.stderr.write(`chat: the conversation is ${ids.length} tokens, the model's context is ${limit} positions (${CONTEXT}); /reset to start over\n`);
          } else {
            const reply = await respond(ids, Math.min(maxNew, limit - ids.length));
            history = [...messages, { role: 'assistant', content: reply }];
          }
        }
        if (interrupted) break;
        if (tty) rl.prompt();
      }
    } finally {
      rl.close();
      process.off('SIGINT', onSigint);
    }
    if (interrupted) {
      process.stderr.write('chat: interrupted\n');
      return 130;
    }
  },
};
