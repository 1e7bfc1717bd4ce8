// The command-line parser: every command declares its options once (type, range, choices, help), and a value
// outside what is declared is a usage error before the command prints or computes anything.
import type { NemotronConfig } from '../index.js';

/** A bound that depends on the model, e.g. the vocabulary size or the context length. */
export interface ModelBound {
  of: (config: NemotronConfig) => number;
  /** The config field it comes from, shown in the error. */
  name: string;
}

/** One option of a command. */
export type OptionSpec = {
  help: string;
  /** Placeholder shown in the help, e.g. 'DIR'. */
  arg?: string;
  required?: boolean;
} & (
  | { type: 'boolean'; default?: boolean }
  | { type: 'string'; default?: string; choices?: readonly string[] }
  | { type: 'int'; default?: number; min?: number; max?: number | ModelBound }
  /** A finite number in a range; minOpen/maxOpen make that end exclusive. */
  | { type: 'number'; default?: number; min?: number; max?: number; minOpen?: boolean; maxOpen?: boolean }
);

/** Parsed option values, by option name. */
export type Options = Record<string, string | number | boolean | undefined>;

/** A command: its description, options and what it does (resolving to an exit code, 0 when void). */
export interface Command {
  name: string;
  summary: string;
  options: Record<string, OptionSpec>;
  /** Required positional arguments, in order (stored in the options under their names). */
  positionals?: readonly { name: string; help: string }[];
  /** Text shown after the options in --help (e.g. the input formats). */
  details?: string;
  run(opts: Options): Promise<void | number>;
}

/** A user mistake: printed as one line without a stack trace, exit code 2. */
export class UsageError extends Error {}

/** Seeds are non-negative integers that a double holds exactly. */
export const SEED: OptionSpec = { type: 'int', arg: 'S', help: 'random seed', default: 0, min: 0, max: Number.MAX_SAFE_INTEGER };

/** The --dtype option of the commands that run a causal LM: fromPretrained's weight quantization ('q8' / 'q4'). */
export const WEIGHT_DTYPE: OptionSpec = {
  type: 'string', arg: 'q8|q4', choices: ['q8', 'q4'],
  help: "quantize the weights on load: the decoder layers' Linears to int8 (q8) or int4 (q4) blocks of 32 with an f16 scale, lm_head to q8; default: as stored",
};

/** --temperature, --top-k, --top-p and --repetition-penalty of the commands that sample (generate, chat). */
export function samplingOptions(temperature: number, penalized: string): Record<string, OptionSpec> {
  return {
    temperature: { type: 'number', arg: 'T', help: 'sampling temperature; 0 = greedy', default: temperature, min: 0 },
    'top-k': { type: 'int', arg: 'K', help: 'sample from the K most likely tokens (0 = all)', default: 40, min: 0, max: { of: (c) => c.vocab_size, name: 'vocab_size' } },
    'top-p': { type: 'number', arg: 'P', help: 'nucleus sampling mass', default: 0.95, min: 0, minOpen: true, max: 1 },
    'repetition-penalty': { type: 'number', arg: 'R', min: 0, minOpen: true, help: `penalty on tokens already in ${penalized} (1 = none); default: generation_config.json, else 1` },
  };
}

/** The --device option every command that computes has. */
export const DEVICE: OptionSpec = { type: 'string', arg: 'cpu|webgpu', help: 'where to run', default: 'cpu', choices: ['cpu', 'webgpu'] };

const NUMBER_SYNTAX = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function allowed(spec: OptionSpec, config?: NemotronConfig): string {
  if (spec.type === 'string') return spec.choices ? `one of ${spec.choices.join(', ')}` : 'a string';
  if (spec.type === 'boolean') return 'true or false';
  const kind = spec.type === 'int' ? 'an integer' : 'a number';
  const max = typeof spec.max === 'object' ? (config ? spec.max.of(config) : undefined) : spec.max;
  const maxNote = typeof spec.max === 'object' && config ? ` (the model's ${spec.max.name})` : '';
  const { min } = spec;
  const minOpen = spec.type === 'number' && spec.minOpen;
  const maxOpen = spec.type === 'number' && spec.maxOpen;
  if (max === Number.MAX_SAFE_INTEGER) return `${kind} in [${min ?? -max}, 2^53 - 1]`;
  if (min !== undefined && max !== undefined) {
    return `${kind} in ${minOpen ? '(' : '['}${min}, ${max}${maxOpen ? ')' : ']'}${maxNote}`;
  }
  if (min !== undefined) return `${kind} ${minOpen ? '>' : '>='} ${min}`;
  if (max !== undefined) return `${kind} ${maxOpen ? '<' : '<='} ${max}${maxNote}`;
  return kind;
}

function inRange(spec: OptionSpec, n: number, config?: NemotronConfig): boolean {
  if (spec.type !== 'int' && spec.type !== 'number') return true;
  if (spec.type === 'int' && !Number.isSafeInteger(n)) return false;
  const max = typeof spec.max === 'object' ? (config ? spec.max.of(config) : Infinity) : spec.max ?? Infinity;
  const minOpen = spec.type === 'number' && spec.minOpen;
  const maxOpen = spec.type === 'number' && spec.maxOpen;
  const min = spec.min ?? -Infinity;
  return (minOpen ? n > min : n >= min) && (maxOpen ? n < max : n <= max);
}

function invalid(cmd: Command, name: string, value: string, spec: OptionSpec, config?: NemotronConfig): UsageError {
  return new UsageError(`${cmd.name}: --${name} ${JSON.stringify(value)} is not allowed: expected ${allowed(spec, config)}`);
}

/** Parses argv for a command: names, value syntax, ranges and choices; required options must be present. */
export function parseOptions(cmd: Command, argv: readonly string[]): Options {
  const out: Options = {};
  for (const [k, spec] of Object.entries(cmd.options)) out[k] = spec.default;
  const positionals = cmd.positionals ?? [];
  let given = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      if (given >= positionals.length) throw new UsageError(`${cmd.name}: unexpected argument '${a}' (see tensorzoo ${cmd.name} --help)`);
      out[positionals[given++]!.name] = a;
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = cmd.options[name];
    if (!spec) throw new UsageError(`${cmd.name}: unknown option --${name} (see tensorzoo ${cmd.name} --help)`);
    if (spec.type === 'boolean') {
      const v = eq < 0 ? 'true' : a.slice(eq + 1);
      if (v !== 'true' && v !== 'false') throw invalid(cmd, name, v, spec);
      out[name] = v === 'true';
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`${cmd.name}: --${name} needs a value (${allowed(spec)})`);
    if (spec.type === 'string') {
      if (spec.choices && !spec.choices.includes(value)) throw invalid(cmd, name, value, spec);
      out[name] = value;
      continue;
    }
    const n = Number(value);
    if (!NUMBER_SYNTAX.test(value.trim()) || !inRange(spec, n)) throw invalid(cmd, name, value, spec);
    out[name] = n;
  }
  if (given < positionals.length) throw new UsageError(`${cmd.name}: ${positionals[given]!.name} is required (usage: tensorzoo ${cmd.name} ${positionals.map((p) => p.name).join(' ')} [options])`);
  for (const [k, spec] of Object.entries(cmd.options)) {
    if (spec.required && out[k] === undefined) throw new UsageError(`${cmd.name}: --${k}${spec.arg ? ` ${spec.arg}` : ''} is required`);
  }
  return out;
}

/** Checks the options whose bounds come from the model (vocabulary, context) once its config is known. */
export function checkModelBounds(cmd: Command, opts: Options, config: NemotronConfig): void {
  for (const [k, spec] of Object.entries(cmd.options)) {
    const v = opts[k];
    if (spec.type === 'int' && typeof spec.max === 'object' && typeof v === 'number' && !inRange(spec, v, config)) {
      throw invalid(cmd, k, String(v), spec, config);
    }
  }
}

/** The --help text of a command. */
export function commandHelp(cmd: Command): string {
  const rows = Object.entries(cmd.options).map(([k, s]) => {
    const left = `  --${k}${s.type === 'boolean' ? '' : ` ${s.arg ?? s.type.toUpperCase()}`}`;
    const def = s.default !== undefined && s.default !== false ? ` (default: ${s.default})` : '';
    const req = s.required ? ' (required)' : '';
    return `${left.padEnd(30)} ${s.help}${req}${def}`;
  });
  const pos = cmd.positionals ?? [];
  const usage = pos.length ? `\nUsage: tensorzoo ${cmd.name} ${pos.map((p) => p.name).join(' ')} [options]\n${pos.map((p) => `  ${p.name.padEnd(28)} ${p.help}`).join('\n')}\n` : '';
  return `tensorzoo ${cmd.name}: ${cmd.summary}\n${usage}\nOptions:\n${rows.join('\n')}\n  --help                       show this help\n${cmd.details ? `\n${cmd.details}\n` : ''}`;
}
