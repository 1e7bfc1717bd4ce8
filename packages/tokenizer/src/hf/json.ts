// Small typed accessors for tokenizer.json: errors name the path that is wrong
// instead of failing later with "cannot read property of undefined".

/** A parsed JSON object. */
export type JsonObject = { [key: string]: unknown };

/** Thrown for a tokenizer.json we cannot read or do not support. */
export class TokenizerJsonError extends Error {
  override name = 'TokenizerJsonError';
}

/** Asserts `v` is a JSON object. */
export function obj(v: unknown, path: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenizerJsonError(`${path}: expected an object`);
  return v as JsonObject;
}

/** Asserts `v` is an array. */
export function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new TokenizerJsonError(`${path}: expected an array`);
  return v;
}

/** Asserts `v` is a string. */
export function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new TokenizerJsonError(`${path}: expected a string`);
  return v;
}

/** A string or `def` when absent/null. */
export function optStr(v: unknown, def: string | null, path: string): string | null {
  return v === undefined || v === null ? def : str(v, path);
}

/** A boolean or `def` when absent/null. */
export function optBool(v: unknown, def: boolean, path: string): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw new TokenizerJsonError(`${path}: expected a boolean`);
  return v;
}

/** A non-negative integer. */
export function int(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new TokenizerJsonError(`${path}: expected a non-negative integer`);
  return v;
}

/** The `type` tag of a component. */
export function typeOf(v: JsonObject, path: string): string {
  return str(v['type'], `${path}.type`);
}

/** A `pattern` field: { String: s } or { Regex: r } as HF serializes it. */
export function pattern(v: unknown, path: string): { kind: 'String' | 'Regex'; value: string } {
  const o = obj(v, path);
  if (typeof o['String'] === 'string') return { kind: 'String', value: o['String'] };
  if (typeof o['Regex'] === 'string') return { kind: 'Regex', value: o['Regex'] };
  throw new TokenizerJsonError(`${path}: expected {String} or {Regex}`);
}

/** A global JS RegExp for a pattern (Rust regex syntax is close enough for the patterns HF writes). */
export function patternRegExp(p: { kind: 'String' | 'Regex'; value: string }): RegExp {
  const src = p.kind === 'String' ? p.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : p.value;
  return new RegExp(src, 'gu');
}
