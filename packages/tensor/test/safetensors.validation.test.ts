// Every validation rule of the reader, each with a hand-made bad file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import { concat, expectRule, file, le, rawFile } from './safetensors.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tz-safetensors-val-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const open_ = (b: Uint8Array) => T.openSafetensors(b);
const F32x2 = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
const good = () => file({ a: F32x2 }, le('F32', [1, 2]));

/** A source that records every read. */
function recording(bytes: Uint8Array) {
  const reads: [number, number][] = [];
  return {
    reads,
    source: { size: bytes.length, read: async (o: number, l: number) => (reads.push([o, l]), bytes.slice(o, o + l)) },
  };
}

describe('safetensors validation: header length', () => {
  it('header-too-small: fewer than 8 bytes', async () => {
    await expectRule(open_(new Uint8Array(0)), 'header-too-small', { tensor: null });
    await expectRule(open_(new Uint8Array(7)), 'header-too-small');
  });
  it('header-too-large: N > 100,000,000 (also 2^64 - 1), without reading or allocating N bytes', async () => {
    const r = recording(rawFile('{}', new Uint8Array(0), { n: 100_000_001n }));
    await expectRule(T.openSafetensors(r.source), 'header-too-large', { file: '<source>', match: /100000001/ });
    expect(r.reads).toEqual([[0, 8]]);
    await expectRule(open_(rawFile('{}', new Uint8Array(0), { n: 2n ** 64n - 1n })), 'header-too-large');
  });
  it('invalid-header-length: 8 + N past the end of the file (N at the limit is checked against the size)', async () => {
    const r = recording(rawFile('{}', new Uint8Array(0), { n: 100_000_000n }));
    await expectRule(T.openSafetensors(r.source), 'invalid-header-length', { file: '<source>' });
    expect(r.reads).toEqual([[0, 8]]);
    await expectRule(open_(rawFile('{}', new Uint8Array(0), { n: 3n })), 'invalid-header-length');
  });
  it('an empty header (N = 0) is not a JSON object', async () => {
    await expectRule(open_(rawFile('')), 'invalid-json');
  });
});

describe('safetensors validation: header text', () => {
  it('invalid-utf8', async () => {
    const b = rawFile('{"a":1}  ');
    b[10] = 0xff;
    await expectRule(open_(b), 'invalid-utf8');
    // Overlong encoding and a lone surrogate encoded in UTF-8 are invalid too.
    const c = concat(le('U8', [8, 0, 0, 0, 0, 0, 0, 0]), new TextEncoder().encode('{"'), new Uint8Array([0xed, 0xa0, 0x80]), new TextEncoder().encode('":1}'));
    await expectRule(open_(c), 'invalid-utf8');
  });
  it('invalid-json: syntax errors, BOM, NaN, trailing commas, single quotes, trailing data, too deep nesting', async () => {
    for (const bad of ['{', '{"a":}', '\uFEFF{}', '{"a":NaN}', '{"a":[1,]}', "{'a':1}", '{} x', '{"a":"\\x"}', '{"a":"\u0001"}', '{"a":01}', '{"a":"\\ud800"}', '[' .repeat(100_000), '{"a":'.repeat(10_000)]) {
      await expectRule(open_(rawFile(bad)), 'invalid-json', { tensor: null });
    }
  });
  it('not-an-object: the header must be a JSON object', async () => {
    for (const bad of ['[]', '"x"', '1', 'null', 'true']) await expectRule(open_(rawFile(bad)), 'not-an-object', { match: /JSON object/ });
  });
  it('trailing spaces and JSON whitespace are accepted; an empty object is a valid empty file', async () => {
    expect((await open_(rawFile(' \n\t{ }\r\n    '))).names).toEqual([]);
    expect((await T.loadSafetensors(rawFile('{}'))).size).toBe(0);
  });
});

describe('safetensors validation: names and metadata', () => {
  it('duplicate-key: a tensor name twice (JSON.parse would silently keep the last)', async () => {
    const h = `{"a":${JSON.stringify(F32x2)},"a":${JSON.stringify(F32x2)}}`;
    await expectRule(open_(rawFile(h, le('F32', [1, 2]))), 'duplicate-key', { tensor: 'a' });
    // The same name written with an escape is still the same name.
    const h2 = `{"ab":${JSON.stringify(F32x2)},"a\\u0062":${JSON.stringify(F32x2)}}`;
    await expectRule(open_(rawFile(h2, le('F32', [1, 2]))), 'duplicate-key', { tensor: 'ab' });
  });
  it('duplicate-key: a field twice inside a tensor entry, a key twice in __metadata__, __metadata__ twice', async () => {
    await expectRule(open_(rawFile('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', le('F32', [1, 2]))), 'duplicate-key', { tensor: 'a', match: /field "dtype"/ });
    await expectRule(open_(rawFile('{"__metadata__":{"k":"1","k":"2"}}')), 'duplicate-key', { tensor: null, match: /"k"/ });
    await expectRule(open_(rawFile('{"__metadata__":{},"__metadata__":{}}')), 'duplicate-key', { match: /__metadata__/ });
  });
  it('invalid-metadata: __metadata__ must be an object of string -> string', async () => {
    for (const md of ['1', '"x"', '[]', '{"a":1}', '{"a":null}', '{"a":{"b":"c"}}', '{"a":["x"]}']) {
      await expectRule(open_(rawFile(`{"__metadata__":${md}}`)), 'invalid-metadata', { tensor: null });
    }
    // null is "no metadata", as the reference's Option<HashMap> reads it.
    expect((await open_(rawFile('{"__metadata__":null}'))).metadata).toEqual({});
    expect((await open_(rawFile('{"__metadata__":{"a":"b","":""}}'))).metadata).toEqual({ a: 'b', '': '' });
  });
});

describe('safetensors validation: tensor entries', () => {
  const one = (info: unknown, data: Uint8Array | number = 8) => open_(file({ t: info as Record<string, unknown> }, data));
  it('invalid-tensor-info: not an object, or a missing/ill-typed field', async () => {
    for (const info of [1, 'x', null, [], { shape: [2], data_offsets: [0, 8] }, { dtype: 'F32', data_offsets: [0, 8] }, { dtype: 'F32', shape: [2] }, { dtype: 7, shape: [2], data_offsets: [0, 8] }]) {
      await expectRule(one(info), 'invalid-tensor-info', { tensor: 't' });
    }
  });
  it('unknown fields in an entry are ignored (as serde does for the reference)', async () => {
    expect((await T.loadSafetensors(file({ t: { ...F32x2, extra: [1, { x: 2 }] } }, le('F32', [3, 4])))).get('t')!.shape).toEqual([2]);
  });
  it('unknown-dtype (names are case-sensitive)', async () => {
    for (const dt of ['F128', 'f32', 'float32', '', 'I4']) await expectRule(one({ dtype: dt, shape: [2], data_offsets: [0, 8] }), 'unknown-dtype', { tensor: 't' });
  });
  it('invalid-shape: not a list of non-negative safe integer literals', async () => {
    for (const shape of ['[-1]', '[1.5]', '[2.0]', '[2e0]', '["2"]', '[null]', '[[2]]', '2', '{}', '[9007199254740992]', '[18446744073709551616]']) {
      await expectRule(open_(rawFile(`{"t":{"dtype":"F32","shape":${shape},"data_offsets":[0,8]}}`, new Uint8Array(8))), 'invalid-shape', { tensor: 't' });
    }
  });
  it('invalid-offsets: not [begin, end] of non-negative integer literals with begin <= end', async () => {
    for (const off of ['[0]', '[0,8,8]', '["0",8]', '[-1,8]', '[0,8.0]', '[0,8e0]', '{}', '8', 'null']) {
      await expectRule(open_(rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":${off}}}`, new Uint8Array(8))), 'invalid-offsets', { tensor: 't' });
    }
    await expectRule(open_(rawFile('{"t":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}', new Uint8Array(8))), 'invalid-offsets', { tensor: 't', match: /begin is after end/ });
  });
  it('overflow: product(shape) or its byte size beyond 2^53', async () => {
    await expectRule(one({ dtype: 'F32', shape: [2 ** 26, 2 ** 26, 2 ** 26], data_offsets: [0, 8] }), 'overflow', { tensor: 't' });
    await expectRule(one({ dtype: 'F64', shape: [2 ** 50], data_offsets: [0, 8] }), 'overflow', { tensor: 't' });
    // A zero anywhere makes a huge shape empty, as the reference's checked multiplication allows.
    const f = await one({ dtype: 'F32', shape: [0, 2 ** 52], data_offsets: [0, 0] }, 0);
    expect(f.info('t')).toMatchObject({ shape: [0, 2 ** 52], byteLength: 0 });
  });
  it('misaligned-size: sub-byte dtypes must fill whole bytes', async () => {
    await expectRule(one({ dtype: 'F4', shape: [3], data_offsets: [0, 2] }, 2), 'misaligned-size', { tensor: 't' });
    expect((await one({ dtype: 'F4', shape: [4], data_offsets: [0, 2] }, 2)).info('t').byteLength).toBe(2);
  });
  it('size-mismatch: end - begin must equal product(shape) * dtype size', async () => {
    await expectRule(one({ dtype: 'F32', shape: [3], data_offsets: [0, 8] }), 'size-mismatch', { tensor: 't', match: /span 8 bytes but shape \[3\] of F32 needs 12/ });
    await expectRule(one({ dtype: 'F32', shape: [], data_offsets: [0, 8] }), 'size-mismatch', { tensor: 't' });
    await expectRule(one({ dtype: 'BF16', shape: [0], data_offsets: [0, 2] }, 2), 'size-mismatch', { tensor: 't' });
  });
  it('offset-out-of-bounds: data past the end of the file', async () => {
    await expectRule(one({ dtype: 'F32', shape: [4], data_offsets: [0, 16] }, 8), 'offset-out-of-bounds', { tensor: 't' });
    await expectRule(open_(rawFile('{"t":{"dtype":"U8","shape":[0],"data_offsets":[99999999999999999999,99999999999999999999]}}')), 'offset-out-of-bounds', { tensor: 't' });
  });
});

describe('safetensors validation: layout of the data buffer', () => {
  it('offsets-not-contiguous: first tensor not at 0, gaps, overlaps, identical spans', async () => {
    const u8 = (b: number, e: number) => ({ dtype: 'U8', shape: [e - b], data_offsets: [b, e] });
    await expectRule(open_(file({ a: u8(4, 8) }, 8)), 'offsets-not-contiguous', { tensor: 'a', match: /start at offset 0/ });
    await expectRule(open_(file({ a: u8(0, 2), b: u8(4, 8) }, 8)), 'offsets-not-contiguous', { tensor: 'b', match: /gap/ });
    await expectRule(open_(file({ a: u8(0, 6), b: u8(4, 8) }, 8)), 'offsets-not-contiguous', { tensor: 'b', match: /overlap.*"a"/ });
    await expectRule(open_(file({ a: u8(0, 8), b: u8(0, 8) }, 8)), 'offsets-not-contiguous', { match: /overlap/ });
  });
  it('header order does not matter, offsets do; zero-size tensors may sit anywhere in the sequence', async () => {
    const f = await open_(file({ c: { dtype: 'U8', shape: [2], data_offsets: [6, 8] }, z: { dtype: 'F32', shape: [0], data_offsets: [6, 6] }, a: { dtype: 'U8', shape: [6], data_offsets: [0, 6] } }, 8));
    expect(f.names).toEqual(['a', 'z', 'c']);
  });
  it('incomplete-buffer: the data must end exactly at the end of the file', async () => {
    await expectRule(open_(file({ a: F32x2 }, concat(le('F32', [1, 2]), new Uint8Array(1)))), 'incomplete-buffer', { tensor: null, match: /ends at byte 8 .* 9 data bytes/ });
    await expectRule(open_(file({}, 1)), 'incomplete-buffer');
  });
});

describe('safetensors handles and sources', () => {
  it('open reads only the 8 length bytes and the header; get() reads only that tensor with one positioned read', async () => {
    const bytes = file({ a: F32x2, b: { dtype: 'I32', shape: [3], data_offsets: [8, 20] } }, concat(le('F32', [1, 2]), le('I32', [4, 5, 6])));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const r = recording(bytes);
    const f = await T.openSafetensors(r.source);
    expect(r.reads).toEqual([[0, 8], [8, n]]);
    expect(f.info('b')).toEqual({ dtype: 'I32', shape: [3], byteLength: 12, dataOffsets: [8, 20] });
    expect(Array.from((await f.get('b')).dataSync())).toEqual([4, 5, 6]);
    expect(r.reads.slice(2)).toEqual([[8 + n + 8, 12]]);
  });
  it('unknown-tensor, closed, and io errors (a failing or short-reading source)', async () => {
    const f = await open_(good());
    expect(f.has('a')).toBe(true);
    expect(f.has('zz')).toBe(false);
    expect(() => f.info('zz')).toThrow(/tensor "zz".*unknown-tensor/);
    await expectRule(f.get('zz'), 'unknown-tensor', { tensor: 'zz' });
    await f.close();
    await expectRule(f.get('a'), 'closed', { tensor: 'a' });
    const bytes = good();
    let calls = 0;
    const failing = { size: bytes.length, read: async (o: number, l: number) => (++calls > 2 ? Promise.reject(new Error('disk on fire')) : bytes.slice(o, o + l)) };
    const g = await T.openSafetensors(failing);
    await expectRule(g.get('a'), 'io', { tensor: 'a', file: '<source>', match: /disk on fire/ });
    const short = { size: bytes.length, read: async (o: number, l: number) => bytes.slice(o, o + Math.max(0, l - 1)) };
    await expectRule(T.openSafetensors(short), 'io', { file: '<source>', match: /returned 7 bytes/ });
    await expectRule(T.openSafetensors({ size: -1, read: async () => new Uint8Array(0) }), 'invalid-argument', { file: '<source>' });
    await expectRule(T.openSafetensors(42 as unknown as Uint8Array), 'invalid-argument', { file: '<source>' });
  });
  it('concurrent get() calls on one file handle (shared scratch buffer) each get their own data', async () => {
    const p = join(tmp, 'many.safetensors');
    const m = new Map(Array.from({ length: 40 }, (_, i) => [`t${i}`, T.full([i + 1, 3], i, { dtype: i % 2 ? 'float32' : 'int32' })] as const));
    await T.saveSafetensors(p, m);
    const f = await T.openSafetensors(p);
    const got = await Promise.all(f.names.map((n) => f.get(n)));
    got.forEach((t, k) => {
      const i = Number(f.names[k]!.slice(1));
      expect(t.shape).toEqual([i + 1, 3]);
      expect(Array.from(t.dataSync()).every((v) => v === i)).toBe(true);
    });
    await f.close();
  });
  it('errors on files name the path', async () => {
    const p = join(tmp, 'bad.safetensors');
    writeFileSync(p, file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8));
    await expectRule(T.loadSafetensors(p), 'size-mismatch', { file: p, tensor: 'w' });
    await expectRule(T.loadSafetensors(join(tmp, 'missing.safetensors')), 'io', { file: join(tmp, 'missing.safetensors') });
    await expectRule(T.loadSafetensors(tmp), 'io', { file: tmp });
  });
  it('a 5 GB file: opens and loads a tensor stored past 4 GiB with a positioned read (sparse file, little memory)', async () => {
    const big = 5 * 2 ** 30;
    const p = join(tmp, 'big.safetensors');
    const hdr = JSON.stringify({ zeros: { dtype: 'U8', shape: [big], data_offsets: [0, big] }, tail: { dtype: 'F32', shape: [2], data_offsets: [big, big + 8] } });
    const head = rawFile(hdr, new Uint8Array(0), { pad: true });
    const fh = await open(p, 'w');
    try {
      await fh.truncate(head.length + big + 8);
      await fh.write(head, 0, head.length, 0);
      await fh.write(le('F32', [7.5, -1]), 0, 8, head.length + big);
    } finally {
      await fh.close();
    }
    const f = await T.openSafetensors(p);
    try {
      expect(f.info('zeros').byteLength).toBe(big);
      expect(Array.from((await f.get('tail')).dataSync())).toEqual([7.5, -1]);
    } finally {
      await f.close();
    }
    rmSync(p);
  });
});
