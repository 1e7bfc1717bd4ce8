import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import type { DType, Tensor } from '../dist/index.js';
import { decodeElements, encodeElements, FILE_DTYPES } from '../dist/safetensors/format.js';
import { concat, expectRule, file, le } from './safetensors.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'tz-safetensors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The raw storage elements of a tensor (16-bit floats as bits), row-major. */
function raw(t: Tensor): number[] {
  const c = t.isContiguous() ? t : t.contiguous();
  const all = T.getBackend('cpu').readSync!(c.storage);
  return Array.from(all.subarray(c.offset, c.offset + c.numel()));
}
function bitsOf(t: Tensor): string {
  // Compare floats by bits (NaN payloads, -0).
  const vals = raw(t);
  if (t.dtype === 'float32') return Buffer.from(new Float32Array(vals).buffer).toString('hex');
  if (t.dtype === 'float64') return Buffer.from(new Float64Array(vals).buffer).toString('hex');
  return vals.join(',');
}
function expectSame(a: Tensor, b: Tensor): void {
  expect(b.dtype).toBe(a.dtype);
  expect(b.shape).toEqual(a.shape);
  expect(bitsOf(b)).toBe(bitsOf(a));
}

const DTYPES: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'bool'];

function sample(dtype: DType, shape: number[], seed = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  if (dtype === 'float16' || dtype === 'bfloat16') return T.fromBits(Uint16Array.from({ length: n }, () => Math.floor(rnd() * 65536)), shape, dtype);
  if (dtype === 'bool') return T.tensor(Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0)), { dtype, shape });
  if (dtype === 'int32') return T.tensor(Int32Array.from({ length: n }, () => Math.floor(rnd() * 2 ** 32) | 0), { dtype, shape });
  return T.tensor(Float64Array.from({ length: n }, () => (rnd() - 0.5) * 1e3), { dtype, shape });
}

describe('safetensors round trip', () => {
  for (const dtype of DTYPES) {
    for (const shape of [[], [0], [3, 0, 2], [7], [2, 3, 4]]) {
      it(`${dtype} shape [${shape.join(',')}] (memory and file)`, async () => {
        const t = sample(dtype, shape, shape.length + 7);
        const bytes = T.serializeSafetensors({ x: t });
        const back = (await T.loadSafetensors(bytes)).get('x')!;
        expectSame(t, back);
        const p = join(tmp, `${dtype}-${shape.join('x')}.safetensors`);
        await T.saveSafetensors(p, { x: t });
        expect(new Uint8Array(readFileSync(p))).toEqual(bytes);
        expectSame(t, (await T.loadSafetensors(p)).get('x')!);
      });
    }
  }

  it('bf16 and f16: every one of the 65536 bit patterns survives exactly (NaN payloads, -0, subnormals)', async () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const m = new Map([
      ['b', T.fromBits(all, [256, 256], 'bfloat16')],
      ['h', T.fromBits(all, [65536], 'float16')],
    ]);
    const back = await T.loadSafetensors(T.serializeSafetensors(m));
    expect(back.get('b')!.dtype).toBe('bfloat16');
    expect(back.get('h')!.dtype).toBe('float16');
    expect(raw(back.get('b')!)).toEqual(Array.from(all));
    expect(raw(back.get('h')!)).toEqual(Array.from(all));
    // And they decode like the core decodes them.
    expect(Array.from(back.get('b')!.dataSync())).toEqual(Array.from(all, (b) => T.bf16ToNumber(b)));
  });

  it('float32/float64 NaN payloads and -0 keep their bits', async () => {
    const f32 = new Float32Array(new Uint32Array([0x7fc00001, 0xffa00000, 0x80000000, 0x00000001, 0x7f800000]).buffer);
    const f64 = new Float64Array(new BigUint64Array([0x7ff8000000000001n, 0x8000000000000000n, 1n]).buffer);
    const m = { a: T.tensor(f32, { dtype: 'float32' }), b: T.tensor(f64, { dtype: 'float64' }) };
    const back = await T.loadSafetensors(T.serializeSafetensors(m));
    expectSame(m.a, back.get('a')!);
    expectSame(m.b, back.get('b')!);
  });

  it('non-contiguous views and views with a storage offset are written as their logical values', async () => {
    const base = T.arange(0, 24, 1, { dtype: 'float32' }).reshape([2, 3, 4]);
    const tr = base.transpose(0, 2); // [4,3,2], non-contiguous
    const sl = base.select(0, 1); // contiguous with offset 12
    const bf = T.fromBits(Uint16Array.from({ length: 12 }, (_, i) => 0x3f80 + i), [3, 4], 'bfloat16').transpose(0, 1);
    const back = await T.loadSafetensors(T.serializeSafetensors({ tr, sl, bf }));
    expect(back.get('tr')!.shape).toEqual([4, 3, 2]);
    expect(Array.from(back.get('tr')!.dataSync())).toEqual(Array.from(tr.dataSync()));
    expect(Array.from(back.get('sl')!.dataSync())).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
    expect(raw(back.get('bf')!)).toEqual(raw(bf));
  });

  it('metadata round trips; names come back in file order; Record and Map inputs are equivalent', async () => {
    const rec = { 'b.w': sample('float32', [2]), 'a.w': sample('float32', [3]), i: sample('int32', [2]), h: sample('bfloat16', [1]), z: sample('float64', [1]), m: sample('bool', [4]) };
    const bytes = T.serializeSafetensors(rec, { format: 'pt', note: 'ünïcødé ✓ 𝔘' });
    expect(T.serializeSafetensors(new Map(Object.entries(rec)), { format: 'pt', note: 'ünïcødé ✓ 𝔘' })).toEqual(bytes);
    const f = await T.openSafetensors(bytes);
    expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcødé ✓ 𝔘' });
    // The reference's order: descending dtype alignment (F64, F32, I32, BF16, F16, BOOL), then name.
    expect(f.names).toEqual(['z', 'a.w', 'b.w', 'i', 'h', 'm']);
    expect(f.info('h')).toEqual({ dtype: 'BF16', shape: [1], byteLength: 2, dataOffsets: [36, 38] }); // z 8 + a.w 12 + b.w 8 + i 8
    await f.close();
  });

  it('writes the reference layout: compact JSON, __metadata__ first, space padding to 8 bytes', () => {
    const bytes = T.serializeSafetensors({ w: T.tensor([1, 2], { dtype: 'float32' }) }, { k: 'v' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const json = '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + n))).toBe(json.padEnd(n, ' '));
    expect(bytes.length).toBe(8 + n + 8);
    expect(Array.from(bytes.subarray(8 + n))).toEqual(Array.from(le('F32', [1, 2])));
    // Empty dict: "{}" padded to 8.
    const empty = T.serializeSafetensors({});
    expect(Array.from(empty)).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode('{}      ')]);
  });

  it('names sort by code point (UTF-8 byte order), as the reference sorts Rust strings', async () => {
    const names = ['\u{1F600}', '\uFF21', 'a', 'B', ''];
    const bytes = T.serializeSafetensors(Object.fromEntries(names.map((n) => [n, T.tensor([1], { dtype: 'float32' })])));
    const f = await T.openSafetensors(bytes);
    expect(f.names).toEqual(['', 'B', 'a', '\uFF21', '\u{1F600}']);
  });

  it('the writer rejects bad input with a named error', async () => {
    const t = T.tensor([1], { dtype: 'float32' });
    await expectRule(Promise.resolve().then(() => T.serializeSafetensors({ __metadata__: t })), 'invalid-argument', { tensor: '__metadata__' });
    await expectRule(Promise.resolve().then(() => T.serializeSafetensors({ x: 3 as unknown as Tensor })), 'invalid-argument', { tensor: 'x' });
    await expectRule(Promise.resolve().then(() => T.serializeSafetensors({ ['\uD800']: t })), 'invalid-argument');
    await expectRule(Promise.resolve().then(() => T.serializeSafetensors({ x: t }, { a: 1 as unknown as string })), 'invalid-metadata', { tensor: null });
    await expectRule(T.saveSafetensors(join(tmp, 'no/such/dir/x.safetensors'), { x: t }), 'io', { file: join(tmp, 'no/such/dir/x.safetensors') });
  });

  it('saveSafetensors leaves no temporary file behind and overwrites atomically', async () => {
    const dir = mkdtempSync(join(tmp, 'atomic-'));
    const p = join(dir, 'm.safetensors');
    writeFileSync(p, 'old');
    await T.saveSafetensors(p, { a: T.ones([3]) }, { v: '1' });
    expect(readdirSync(dir)).toEqual(['m.safetensors']);
    const f = await T.openSafetensors(p);
    expect(f.metadata).toEqual({ v: '1' });
    await f.close();
  });

  it('saveSafetensors writes a tensor of several 16 MiB pieces exactly, and fails on a tensor disposed mid-save', async () => {
    const dir = mkdtempSync(join(tmp, 'pieces-'));
    const p = join(dir, 'big.safetensors');
    const big = T.arange(0, 5 * 2 ** 20 + 3).mul(0.5); // 20 MiB of float32: two pieces
    await T.saveSafetensors(p, { big, small: T.ones([5]) });
    const f = await T.openSafetensors(p);
    expect(bitsOf(await f.get('big'))).toBe(bitsOf(big));
    await f.close();
    big.dispose();
    // the CPU backend reuses a disposed tensor's array: a save that went on would write another tensor's bytes
    const huge = T.full([20 * 2 ** 20], 3); // 80 MiB: five pieces
    const q = join(dir, 'gone.safetensors');
    const saving = T.saveSafetensors(q, { huge });
    const written = () => readdirSync(dir).filter((n) => n.endsWith('.tmp')).reduce((a, n) => a + statSync(join(dir, n)).size, 0);
    while (written() < 16 * 2 ** 20) await new Promise((r) => setImmediate(r)); // the first piece is on disk
    huge.dispose();
    const other = T.full([20 * 2 ** 20], 7); // takes huge's array
    await expectRule(saving, 'invalid-argument', { tensor: 'huge', file: q, match: /disposed while it was being saved/ });
    expect(readdirSync(dir)).toEqual(['big.safetensors']);
    other.dispose();
  });

  it('property: random dicts of random tensors round trip exactly through bytes', async () => {
    const dtypeArb = fc.constantFrom<DType>(...DTYPES);
    const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });
    const entry = fc.tuple(dtypeArb, shapeArb, fc.integer());
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }).filter((s) => s !== '__metadata__'), entry, { maxKeys: 6 }), fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), { maxKeys: 3 }), async (spec, md) => {
        const m = new Map(Object.entries(spec).map(([k, [d, s, seed]]) => [k, sample(d, s, seed)] as const));
        const bytes = T.serializeSafetensors(m, md);
        const f = await T.openSafetensors(bytes);
        expect([...f.names].sort()).toEqual([...m.keys()].sort());
        expect({ ...f.metadata }).toEqual({ ...md });
        for (const [k, t] of m) expectSame(t, await f.get(k));
        // Re-serializing what was read gives the same bytes.
        expect(T.serializeSafetensors(await T.loadSafetensors(bytes), md)).toEqual(bytes);
      }),
      { numRuns: 150 },
    );
  });
});

describe('safetensors in the browser', () => {
  it('no compiled safetensors module imports a Node built-in statically (only node.js, dynamically)', () => {
    const dist = join(dirname(fileURLToPath(import.meta.url)), '../dist/safetensors');
    for (const f of readdirSync(dist).filter((x) => x.endsWith('.js'))) {
      const src = readFileSync(join(dist, f), 'utf8');
      expect(src, f).not.toMatch(/^\s*import\s[^(]*from\s*['"](node:|fs|path)/m);
      expect(src, f).not.toMatch(/\brequire\(/);
      if (f !== 'node.js') expect(src, f).not.toMatch(/import\(\s*['"]node:/);
    }
    // And the public API exists on the package entry.
    expect(typeof T.loadSafetensors).toBe('function');
    expect(T.SAFETENSORS_MAX_HEADER_SIZE).toBe(100_000_000);
    expect([...T.SAFETENSORS_DTYPES.keys()]).toContain('BF16');
  });
});

describe('safetensors file dtypes (hand-built bytes)', () => {
  const one = async (dtype: string, shape: number[], data: Uint8Array) =>
    (await T.loadSafetensors(file({ t: { dtype, shape, data_offsets: [0, data.length] } }, data))).get('t')!;

  it('widens I32, I16, I8, U8, U16 to int32 and narrows I64, U32, U64 in range', async () => {
    const cases: [Parameters<typeof le>[0], (number | bigint)[]][] = [
      ['I32', [-2147483648, 2147483647, 0, -1]],
      ['I16', [-32768, 32767, -1, 5]],
      ['I8', [-128, 127, -1, 0]],
      ['U8', [0, 255, 128, 1]],
      ['U16', [0, 65535, 32768, 7]],
      ['I64', [-2147483648n, 2147483647n, -1n, 0n]],
      ['U32', [0, 2147483647, 1, 2]],
      ['U64', [0n, 2147483647n, 1n, 3n]],
    ];
    for (const [dt, vals] of cases) {
      const t = await one(dt, [2, 2], le(dt, vals));
      expect(t.dtype, dt).toBe('int32');
      expect(t.shape).toEqual([2, 2]);
      expect(Array.from(t.dataSync()), dt).toEqual(vals.map(Number));
    }
  });

  it('I64/U32/U64 outside int32 fail with the tensor, the value and its index', async () => {
    let e = await expectRule(one('I64', [3], le('I64', [1n, 2n, 2147483648n])), 'value-out-of-range', { tensor: 't' });
    expect(e.message).toMatch(/I64 value 2147483648 at flat index 2 does not fit in int32/);
    e = await expectRule(one('I64', [2], le('I64', [-2147483649n, 0n])), 'value-out-of-range', { tensor: 't' });
    expect(e.message).toMatch(/-2147483649 at flat index 0/);
    e = await expectRule(one('I64', [1], le('I64', [-(2n ** 63n)])), 'value-out-of-range', { tensor: 't' });
    expect(e.message).toContain(String(-(2n ** 63n)));
    await expectRule(one('U32', [1], le('U32', [2 ** 31])), 'value-out-of-range', { tensor: 't' });
    await expectRule(one('U64', [1], le('U64', [2n ** 64n - 1n])), 'value-out-of-range', { tensor: 't', match: /18446744073709551615/ });
    await expectRule(one('U64', [1], le('U64', [2n ** 32n])), 'value-out-of-range', { tensor: 't' });
  });

  it('BOOL bytes must be 0 or 1', async () => {
    expect(Array.from((await one('BOOL', [3], le('BOOL', [0, 1, 1]))).dataSync())).toEqual([0, 1, 1]);
    await expectRule(one('BOOL', [3], le('BOOL', [0, 2, 1])), 'invalid-bool', { tensor: 't', match: /byte 2 at flat index 1/ });
  });

  it('F16/BF16 are kept as 16-bit storage with the exact bits; F32/F64 decode', async () => {
    const h = await one('F16', [2], le('F16', [0x3c00, 0x7e01]));
    expect(h.dtype).toBe('float16');
    expect(raw(h)).toEqual([0x3c00, 0x7e01]);
    const b = await one('BF16', [2], le('BF16', [0x3f80, 0xc040]));
    expect(b.dtype).toBe('bfloat16');
    expect(Array.from(b.dataSync())).toEqual([1, -3]);
    expect(Array.from((await one('F32', [2], le('F32', [1.5, -2]))).dataSync())).toEqual([1.5, -2]);
    expect(Array.from((await one('F64', [1], le('F64', [Math.PI]))).dataSync())).toEqual([Math.PI]);
  });

  it('dtypes valid in the format but without a tensorzoo dtype: header readable, get() names the problem', async () => {
    const f = await T.openSafetensors(file({ q: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] }, c: { dtype: 'C64', shape: [1], data_offsets: [4, 12] } }, 12));
    expect(f.info('q')).toMatchObject({ dtype: 'F8_E4M3', shape: [4], byteLength: 4 });
    await expectRule(f.get('q'), 'unsupported-dtype', { tensor: 'q' });
    await expectRule(f.get('c'), 'unsupported-dtype', { tensor: 'c' });
  });

  it('unaligned data (odd offsets inside a buffer) decodes correctly', async () => {
    const data = concat(le('U8', [9]), le('F32', [1.25, -3]), le('I64', [5n]), le('BF16', [0x4000]), le('F64', [2.5]));
    const bytes = file({
      a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
      b: { dtype: 'F32', shape: [2], data_offsets: [1, 9] },
      c: { dtype: 'I64', shape: [], data_offsets: [9, 17] },
      d: { dtype: 'BF16', shape: [1], data_offsets: [17, 19] },
      e: { dtype: 'F64', shape: [1], data_offsets: [19, 27] },
    }, data);
    // Also from a Uint8Array that itself starts at an odd byte offset of its buffer.
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    for (const src of [bytes, shifted]) {
      const m = await T.loadSafetensors(src);
      expect(Array.from(m.get('b')!.dataSync())).toEqual([1.25, -3]);
      expect(m.get('c')!.item()).toBe(5);
      expect(m.get('d')!.item()).toBe(2);
      expect(m.get('e')!.item()).toBe(2.5);
    }
  });

  it('the DataView (big-endian host) path decodes and encodes like the typed-array path', () => {
    const ctx = { file: '<test>', tensor: 't' };
    for (const [dt, vals] of [['F32', [1.5, -2, 3e-5]], ['F64', [Math.E, -0.5]], ['I32', [-7, 2 ** 31 - 1]], ['I64', [-5n, 6n]], ['U64', [0n, 9n]], ['BF16', [0x3f80, 0xffff]], ['F16', [1, 2]], ['I16', [-3, 4]], ['U16', [65535]], ['I8', [-1]], ['U8', [200]], ['U32', [12]], ['BOOL', [1, 0]]] as const) {
      const bytes = le(dt, [...vals]);
      const fd = FILE_DTYPES.get(dt)!;
      const fast = decodeElements(bytes, fd, vals.length, ctx, true);
      const slow = decodeElements(bytes, fd, vals.length, ctx, false);
      expect(Array.from(slow), dt).toEqual(Array.from(fast));
      if (['F32', 'F64', 'I32', 'BF16', 'F16', 'BOOL'].includes(dt)) {
        const td = fd.tensorDtype!;
        expect(Array.from(encodeElements(fast, td, false)), dt).toEqual(Array.from(bytes));
      }
    }
  });
});
