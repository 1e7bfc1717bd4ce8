// Hand-built safetensors bytes for the safetensors tests, written straight from the format description
// (8-byte little-endian N, N bytes of JSON, data), independent of the writer under test.
import { expect } from 'vitest';
import { SafetensorsError, type SafetensorsRule } from '../dist/index.js';

export interface RawTensor {
  dtype: string;
  shape: unknown;
  data_offsets: unknown;
  [k: string]: unknown;
}

/** Bytes of a file with the given header JSON text (not padded unless asked) and data. */
export function rawFile(headerJson: string, data: Uint8Array = new Uint8Array(0), opts: { n?: bigint; pad?: boolean } = {}): Uint8Array {
  let h = new TextEncoder().encode(headerJson);
  if (opts.pad) {
    const p = new Uint8Array(Math.ceil(h.length / 8) * 8).fill(0x20);
    p.set(h);
    h = p;
  }
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, opts.n ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** A file from a header object (serialized with JSON.stringify) and data bytes. */
export function file(header: Record<string, unknown>, data: Uint8Array | number = 0): Uint8Array {
  return rawFile(JSON.stringify(header), typeof data === 'number' ? new Uint8Array(data) : data, { pad: true });
}

/** Little-endian bytes of numbers of a file dtype. */
export function le(dtype: 'F32' | 'F64' | 'I64' | 'U64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'F16' | 'BF16' | 'BOOL', values: (number | bigint)[]): Uint8Array {
  const size = { F32: 4, F64: 8, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, F16: 2, BF16: 2, I8: 1, U8: 1, BOOL: 1 }[dtype];
  const out = new Uint8Array(values.length * size);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => {
    const o = i * size;
    switch (dtype) {
      case 'F32': dv.setFloat32(o, Number(v), true); break;
      case 'F64': dv.setFloat64(o, Number(v), true); break;
      case 'I64': dv.setBigInt64(o, BigInt(v), true); break;
      case 'U64': dv.setBigUint64(o, BigInt(v), true); break;
      case 'I32': dv.setInt32(o, Number(v), true); break;
      case 'U32': dv.setUint32(o, Number(v), true); break;
      case 'I16': dv.setInt16(o, Number(v), true); break;
      case 'U16': case 'F16': case 'BF16': dv.setUint16(o, Number(v), true); break;
      case 'I8': dv.setInt8(o, Number(v)); break;
      case 'U8': case 'BOOL': dv.setUint8(o, Number(v)); break;
    }
  });
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Awaits a rejection and checks it is a SafetensorsError with the rule, the file and (if given) the tensor in its message. */
export async function expectRule(p: Promise<unknown>, rule: SafetensorsRule, opts: { tensor?: string | null; file?: string; match?: RegExp } = {}): Promise<SafetensorsError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected rule ${rule}`).toBeInstanceOf(SafetensorsError);
  const e = err as SafetensorsError;
  expect(e.rule, e.message).toBe(rule);
  expect(e.message).toContain(`safetensors ${opts.file ?? '<buffer>'}:`);
  expect(e.message).toContain(`(rule: ${rule})`);
  if (opts.tensor !== undefined) {
    expect(e.tensor).toBe(opts.tensor);
    if (opts.tensor !== null) expect(e.message).toContain(`tensor ${JSON.stringify(opts.tensor)}`);
  }
  if (opts.match) expect(e.message).toMatch(opts.match);
  return e;
}
