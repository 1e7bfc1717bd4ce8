// Fuzzing the reader: random bytes, structured random headers and mutated valid files must either load or throw a
// SafetensorsError: never another exception type, never a hang, never a read outside the file or more bytes
// requested than the file holds.
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import { rawFile } from './safetensors.helpers.js';

/** Opens and fully loads `bytes` through a source that checks every read; returns 'ok' or the error rule. */
async function attempt(bytes: Uint8Array): Promise<string> {
  let requested = 0;
  const source = {
    size: bytes.length,
    read: async (offset: number, length: number) => {
      expect(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0).toBe(true);
      expect(offset + length).toBeLessThanOrEqual(bytes.length);
      requested += length;
      expect(requested).toBeLessThanOrEqual(bytes.length);
      return bytes.slice(offset, offset + length);
    },
  };
  try {
    const f = await T.openSafetensors(source);
    for (const n of f.names) {
      const info = f.info(n);
      const t = await f.get(n);
      expect(t.shape).toEqual(info.shape);
    }
    // The zero-copy buffer path agrees.
    await T.loadSafetensors(bytes);
    return 'ok';
  } catch (e) {
    if (!(e instanceof T.SafetensorsError)) throw new Error(`not a SafetensorsError: ${String(e)}`);
    expect(e.message).toMatch(/^safetensors <(source|buffer)>: /);
    return e.rule;
  }
}

const DT = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U16', 'U32', 'U64', 'F8_E4M3', 'F4', 'C64', 'X'];
const SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F4: 0.5, C64: 8, X: 1 };

/** A mostly-valid file: consistent tensors, then a chance of small lies in the header. */
const structured = fc
  .record({
    tensors: fc.array(fc.record({ name: fc.string({ maxLength: 4 }), dtype: fc.constantFrom(...DT), shape: fc.array(fc.nat(4), { maxLength: 3 }) }), { maxLength: 5 }),
    lie: fc.option(fc.record({ which: fc.nat(), field: fc.constantFrom('shape', 'data_offsets', 'dtype', 'extra'), value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.tuple(fc.nat(40), fc.nat(40)), fc.array(fc.nat(4), { maxLength: 3 })) }), { freq: 2 }),
    metadata: fc.option(fc.oneof({ arbitrary: fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }), weight: 6 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 }), { freq: 3 }),
    extraData: fc.oneof(fc.constant(0), fc.nat(3)),
    shuffle: fc.boolean(),
  })
  .map(({ tensors, lie, metadata, extraData, shuffle }) => {
    const entries: [string, unknown][] = [];
    let off = 0;
    for (const t of tensors) {
      const bytes = Math.ceil(t.shape.reduce((a, b) => a * b, 1) * SIZE[t.dtype]!);
      entries.push([t.name, { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] }]);
      off += bytes;
    }
    if (lie && entries.length) {
      const e = entries[lie.which % entries.length]![1] as Record<string, unknown>;
      e[lie.field] = lie.value;
    }
    if (shuffle) entries.reverse();
    const parts = entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`); // duplicates of names are kept
    if (metadata !== null) parts.unshift(`"__metadata__":${JSON.stringify(metadata)}`);
    const data = new Uint8Array(off + extraData);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 1; // 0/1 so BOOL data is valid
    return rawFile(`{${parts.join(',')}}`, data, { pad: true });
  });

/** Valid files from the writer, to mutate. */
const valid = fc
  .array(fc.tuple(fc.string({ maxLength: 3 }), fc.constantFrom<T.DType>('float32', 'float64', 'float16', 'bfloat16', 'int32', 'bool'), fc.array(fc.nat(3), { maxLength: 2 })), { maxLength: 4 })
  .map((spec) => T.serializeSafetensors(Object.fromEntries(spec.filter(([n]) => n !== '__metadata__').map(([n, d, s]) => [n, T.zeros(s, { dtype: d })])), { format: 'pt' }));

type Mutation = { kind: 'flip'; pos: number; bit: number } | { kind: 'set'; pos: number; byte: number } | { kind: 'truncate'; len: number } | { kind: 'insert'; pos: number; byte: number } | { kind: 'delete'; pos: number } | { kind: 'digit'; pos: number; ch: string } | { kind: 'n'; delta: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat() }),
  fc.record({ kind: fc.constant('digit' as const), pos: fc.nat(), ch: fc.oneof({ arbitrary: fc.constantFrom(...'0123456789'), weight: 4 }, fc.constantFrom('-', '.', 'e', '"', ',', ']', '}', '[', '{', ' ', '\\')) }),
  fc.record({ kind: fc.constant('n' as const), delta: fc.integer({ min: -16, max: 16 }) }),
);

function mutate(b: Uint8Array, ms: Mutation[]): Uint8Array {
  let x = b.slice();
  for (const m of ms) {
    const at = (p: number) => (x.length ? p % x.length : 0);
    switch (m.kind) {
      case 'flip': if (x.length) x[at(m.pos)]! ^= 1 << m.bit; break;
      case 'set': if (x.length) x[at(m.pos)] = m.byte; break;
      case 'truncate': x = x.slice(0, m.len % (x.length + 1)); break;
      case 'insert': { const p = m.pos % (x.length + 1); const y = new Uint8Array(x.length + 1); y.set(x.subarray(0, p)); y[p] = m.byte; y.set(x.subarray(p), p + 1); x = y; break; }
      case 'delete': if (x.length) { const p = at(m.pos); x = new Uint8Array([...x.subarray(0, p), ...x.subarray(p + 1)]); } break;
      case 'digit': {
        // Edit inside the header text, where the JSON is.
        if (x.length > 8) { const n = Math.min(x.length - 8, Number(new DataView(x.buffer).getBigUint64(0, true) % 100000n)); if (n > 0) x[8 + (m.pos % n)] = m.ch.charCodeAt(0); }
        break;
      }
      case 'n': if (x.length >= 8) { const dv = new DataView(x.buffer); dv.setBigUint64(0, BigInt.asUintN(64, dv.getBigUint64(0, true) + BigInt(m.delta)), true); } break;
    }
  }
  return x;
}

const tmp = mkdtempSync(join(tmpdir(), 'tz-safetensors-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('safetensors fuzz', () => {
  it('random bytes', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (b) => void (await attempt(b))), { numRuns: 3000 });
  });

  it('random bytes after a plausible header length', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(64), fc.uint8Array({ maxLength: 100 }), async (n, rest) => {
        const b = new Uint8Array(8 + rest.length);
        b[0] = n;
        b.set(rest, 8);
        await attempt(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('structured random headers (with lies, duplicates, bad metadata, trailing data)', async () => {
    const rules = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(structured, async (b) => {
        const r = await attempt(b);
        rules.set(r, (rules.get(r) ?? 0) + 1);
      }),
      { numRuns: 5000 },
    );
    // The generator reaches both valid files and many different rules.
    if (process.env.FUZZ_STATS) console.log(rules);
    expect(rules.get('ok')).toBeGreaterThan(100);
    expect(rules.size).toBeGreaterThan(8);
  });

  it('mutated valid files (bit flips, byte edits, truncation, insertion, deletion, header text edits, N edits)', async () => {
    const rules = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }), async (b, ms) => {
        const r = await attempt(mutate(b, ms));
        rules.set(r, (rules.get(r) ?? 0) + 1);
      }),
      { numRuns: 5000 },
    );
    if (process.env.FUZZ_STATS) console.log(rules);
    expect(rules.size).toBeGreaterThan(6);
  });

  it('through a real file (FileHandle positioned reads), mutated files give the same outcome as from memory', async () => {
    const p = join(tmp, 'm.safetensors');
    await fc.assert(
      fc.asyncProperty(fc.oneof(structured, fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 2 })).map(([b, ms]) => mutate(b, ms))), async (b) => {
        const mem = await attempt(b);
        writeFileSync(p, b);
        let fromFile = 'ok';
        try {
          await T.loadSafetensors(p);
        } catch (e) {
          if (!(e instanceof T.SafetensorsError)) throw e;
          expect(e.message.startsWith(`safetensors ${p}: `)).toBe(true);
          fromFile = e.rule;
        }
        expect(fromFile).toBe(mem);
      }),
      { numRuns: 400 },
    );
  });
});
