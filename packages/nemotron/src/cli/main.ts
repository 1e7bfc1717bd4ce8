#!/usr/bin/env node
// tensorzoo: generate, chat, train-head, finetune (alias train-lora), classify, eval, info, quantize, bench, trace, compare and conformance on a Nemotron model folder.
import './engine-flags.js';
import { commandHelp, parseOptions, UsageError, type Command } from './args.js';
import { benchCommand } from './bench.js';
import { chatCommand } from './chat.js';
import { classifyCommand } from './classify.js';
import { compareCommand } from './compare.js';
import { conformanceCommand } from './conformance.js';
import { evalCommand } from './evaluate.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { quantizeCommand } from './quantize.js';
import { trainHeadCommand } from './train-head.js';
import { finetuneCommand, trainLoraCommand } from './finetune.js';
import { traceCommand } from './trace.js';
import { tensorzooVersion } from './version.js';

const COMMANDS: Command[] = [generateCommand, chatCommand, trainHeadCommand, finetuneCommand, trainLoraCommand, classifyCommand, evalCommand, infoCommand, quantizeCommand, benchCommand, traceCommand, compareCommand, conformanceCommand];

function usage(): string {
  return `usage: tensorzoo <command> [options]\n\nCommands:\n${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}\n\nRun tensorzoo <command> --help for its options, tensorzoo --version for the version. Without --model, commands use the model shipped in models/.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`tensorzoo ${tensorzooVersion()}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(cmd));
    return 0;
  }
  return (await cmd.run(parseOptions(cmd, rest))) ?? 0;
}

/** Items kept of a long list in an error line (a checkpoint that does not match lists every tensor). */
const LIST_ITEMS = 2;

/** One short line for a multi-line message: its detail lines' long 'what: a; b; c ...' lists keep their first items. */
function oneLine(message: string): string {
  return message.split('\n').map((line, i) => {
    const m = i > 0 ? /^(\s*[\w ]+: )(.*)$/.exec(line) : null;
    if (!m) return line.trim();
    const sep = m[2]!.includes('; ') ? '; ' : ', ';
    const items = m[2]!.split(sep);
    return items.length <= LIST_ITEMS ? line.trim() : `${m[1]!.trim()} ${items.slice(0, LIST_ITEMS).join(sep)}${sep}... (${items.length - LIST_ITEMS} more)`;
  }).filter((l) => l !== '').join('; ').replace(/:; /g, ': ');
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // One line, no stack trace: the message names the problem (set TENSORZOO_DEBUG=1 for the stack).
    process.stderr.write(`tensorzoo: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    if (process.env.TENSORZOO_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
