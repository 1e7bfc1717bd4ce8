// A small strict JSON parser for safetensors headers and index files. JSON.parse is not enough: it silently
// keeps the last of duplicate keys, turns 1e2 and 1.0 into integers, and rounds integers above 2^53. This parser
// keeps objects as Maps in file order, rejects duplicate keys at every level, records whether a number was
// written as an integer literal, rejects lone surrogates, and limits nesting depth (like serde_json's 128)
// so that no input can overflow the stack. It runs in linear time and never throws anything but JsonError.

/** A number together with how it was written. */
export interface JsonNumber {
  readonly kind: 'number';
  readonly value: number;
  /** Written without fraction or exponent. */
  readonly integer: boolean;
  readonly text: string;
}
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | Map<string, JsonValue>;

export class JsonError extends Error {
  constructor(
    message: string,
    readonly position: number,
    /** Set for duplicate keys: the repeated key and the path of the object holding it. */
    readonly duplicate?: { key: string; path: string[] },
  ) {
    super(message);
  }
}

const MAX_DEPTH = 128;

export function parseJson(text: string): JsonValue {
  let i = 0;
  const n = text.length;
  const path: string[] = [];

  const fail = (msg: string, at = i): never => {
    throw new JsonError(`${msg} at character ${at}`, at);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const describe = (at: number) => (at >= n ? 'end of input' : JSON.stringify(text[at]));

  const parseString = (): string => {
    // text[i] === '"'
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c >= 0xd800 && c <= 0xdfff) {
        // Only well-formed surrogate pairs (the UTF-8 decoder never yields lone ones, but be safe).
        const d = text.charCodeAt(i + 1);
        if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) fail('lone surrogate in string');
        i += 2;
        continue;
      }
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      i++;
      if (i >= n) fail('unterminated escape');
      const e = text[i]!;
      i++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = () => {
            const h = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('invalid \\u escape');
            i += 4;
            return parseInt(h, 16);
          };
          const u = hex();
          if (u >= 0xd800 && u <= 0xdbff) {
            if (text[i] !== '\\' || text[i + 1] !== 'u') fail('lone leading surrogate in \\u escape');
            i += 2;
            const v = hex();
            if (!(v >= 0xdc00 && v <= 0xdfff)) fail('invalid trailing surrogate in \\u escape');
            out += String.fromCharCode(u, v);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            fail('lone trailing surrogate in \\u escape');
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          fail(`invalid escape \\${e}`, i - 1);
      }
      start = i;
    }
  };

  const parseNumber = (): JsonNumber => {
    const s = i;
    if (text[i] === '-') i++;
    const digits = () => {
      const d0 = i;
      while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
      return i - d0;
    };
    if (text[i] === '0') i++;
    else if (digits() === 0) fail('invalid number', s);
    let integer = true;
    if (text[i] === '.') {
      i++;
      integer = false;
      if (digits() === 0) fail('invalid number', s);
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      integer = false;
      if (text[i] === '+' || text[i] === '-') i++;
      if (digits() === 0) fail('invalid number', s);
    }
    const t = text.slice(s, i);
    return { kind: 'number', value: Number(t), integer, text: t };
  };

  const parseValue = (depth: number): JsonValue => {
    ws();
    if (i >= n) fail('unexpected end of input');
    const c = text[i]!;
    if (c === '{') {
      if (depth >= MAX_DEPTH) fail('nesting too deep');
      i++;
      const obj = new Map<string, JsonValue>();
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a string key, got ${describe(i)}`);
        const keyAt = i;
        const key = parseString();
        if (obj.has(key)) {
          throw new JsonError(`duplicate key ${JSON.stringify(key)} at character ${keyAt}`, keyAt, { key, path: [...path] });
        }
        ws();
        if (text[i] !== ':') fail(`expected ':', got ${describe(i)}`);
        i++;
        path.push(key);
        obj.set(key, parseValue(depth + 1));
        path.pop();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail(`expected ',' or '}', got ${describe(i)}`);
      }
    }
    if (c === '[') {
      if (depth >= MAX_DEPTH) fail('nesting too deep');
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail(`expected ',' or ']', got ${describe(i)}`);
      }
    }
    if (c === '"') return parseString();
    if (c === '-' || (c >= '0' && c <= '9')) return parseNumber();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    return fail(`unexpected ${describe(i)}`);
  };

  const v = parseValue(0);
  ws();
  if (i < n) fail(`trailing characters after the JSON value: ${describe(i)}`);
  return v;
}

export function isJsonObject(v: JsonValue): v is Map<string, JsonValue> {
  return v instanceof Map;
}
export function isJsonNumber(v: JsonValue): v is JsonNumber {
  return typeof v === 'object' && v !== null && !(v instanceof Map) && !Array.isArray(v) && v.kind === 'number';
}
export function jsonTypeName(v: JsonValue): string {
  if (v === null) return 'null';
  if (v instanceof Map) return 'object';
  if (Array.isArray(v)) return 'array';
  if (isJsonNumber(v)) return 'number';
  return typeof v;
}
