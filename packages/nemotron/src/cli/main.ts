#!/usr/bin/env node
// tensorzoo: generate, train-head, classify, eval, info and bench on a Nemotron model folder.
import { commandHelp, parseOptions, UsageError, type Command } from './args.js';
import { benchCommand } from './bench.js';
import { classifyCommand } from './classify.js';
import { evalCommand } from './evaluate.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { trainHeadCommand } from './train-head.js';

const COMMANDS: Command[] = [generateCommand, trainHeadCommand, classifyCommand, evalCommand, infoCommand, benchCommand];

function usage(): string {
  return `usage: tensorzoo <command> [options]\n\nCommands:\n${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}\n\nRun tensorzoo <command> --help for its options. Without --model, commands use the model shipped in models/.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(cmd));
    return 0;
  }
  await cmd.run(parseOptions(cmd, rest));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // One line, no stack trace: the message names the problem (set TENSORZOO_DEBUG=1 for the stack).
    const msg = (e instanceof Error ? e.message : String(e)).replace(/\n\s*/g, '; ');
    process.stderr.write(`tensorzoo: ${msg}\n`);
    if (process.env.TENSORZOO_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
