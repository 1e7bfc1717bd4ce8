// A small command-line parser: declared options with types and help text, `--key value` / `--key=value` / flags.

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'number' | 'boolean';
  help: string;
  default?: string | number | boolean;
  /** Placeholder shown in the help, e.g. 'DIR'. */
  arg?: string;
}

/** A command: its description, options and what it does. */
export interface Command {
  name: string;
  summary: string;
  options: Record<string, OptionSpec>;
  run(opts: Record<string, string | number | boolean | undefined>): Promise<void>;
}

/** A user mistake: printed as one line without a stack trace. */
export class UsageError extends Error {}

/** Parses argv for a command, validating names and number values. */
export function parseOptions(cmd: Command, argv: readonly string[]): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const [k, spec] of Object.entries(cmd.options)) out[k] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new UsageError(`${cmd.name}: unexpected argument '${a}' (see tensorzoo ${cmd.name} --help)`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = cmd.options[name];
    if (!spec) throw new UsageError(`${cmd.name}: unknown option --${name} (see tensorzoo ${cmd.name} --help)`);
    if (spec.type === 'boolean') {
      out[name] = eq < 0 ? true : a.slice(eq + 1) !== 'false';
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`${cmd.name}: --${name} needs a value`);
    if (spec.type === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${cmd.name}: --${name} must be a number, got '${value}'`);
      out[name] = n;
    } else out[name] = value;
  }
  return out;
}

/** The --help text of a command. */
export function commandHelp(cmd: Command): string {
  const rows = Object.entries(cmd.options).map(([k, s]) => {
    const left = `  --${k}${s.type === 'boolean' ? '' : ` ${s.arg ?? s.type.toUpperCase()}`}`;
    const def = s.default !== undefined && s.default !== false ? ` (default: ${s.default})` : '';
    return `${left.padEnd(30)} ${s.help}${def}`;
  });
  return `tensorzoo ${cmd.name}: ${cmd.summary}\n\nOptions:\n${rows.join('\n')}\n  --help                       show this help\n`;
}
