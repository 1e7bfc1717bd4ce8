import { describe, expect, it } from 'vitest';
import { ProtoReader, ProtobufError } from '../src/protobuf.js';
import { parseModelProto } from '../src/model-proto.js';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('ProtoReader', () => {
  it('reads varints, including negative int32 as 10-byte varints', () => {
    expect(new ProtoReader(bytes(0x96, 0x01)).varint32()).toBe(150);
    const minus1 = bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    expect(new ProtoReader(minus1).varint32()).toBe(-1);
    expect(new ProtoReader(bytes(0x80, 0x80, 0x80, 0x80, 0x10)).varint64()).toBe(2 ** 32);
  });

  it('reads float32 little-endian', () => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, -3.5, true);
    expect(new ProtoReader(b).float32()).toBe(-3.5);
  });

  it('rejects truncated and malformed input', () => {
    expect(() => new ProtoReader(bytes(0x80)).varint32()).toThrow(ProtobufError);
    expect(() => new ProtoReader(bytes(...new Array(11).fill(0x80))).varint64()).toThrow(/longer than 10/);
    expect(() => new ProtoReader(bytes(0x05, 1, 2)).lengthDelimited()).toThrow(/runs past the end/);
    expect(() => new ProtoReader(bytes(1, 2)).float32()).toThrow(/truncated/);
    expect(() => new ProtoReader(bytes(0x0b)).skip(3)).toThrow(/wire type/);
  });

  it('skips unknown fields of every wire type', () => {
    const r = new ProtoReader(bytes(0x08, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 0x01, 0x00, 0x25, 1, 2, 3, 4));
    for (let i = 0; i < 4; i++) {
      const [, wire] = r.tag();
      r.skip(wire);
    }
    expect(r.more()).toBe(false);
  });
});

describe('parseModelProto errors', () => {
  it('rejects empty input, bad wire types and empty pieces', () => {
    expect(() => parseModelProto(new Uint8Array(0))).toThrow(/empty/);
    expect(() => parseModelProto(bytes(0x08, 0x01))).toThrow(/wire type/); // field 1 as varint
    expect(() => parseModelProto(bytes(0x0a, 0x00))).toThrow(/piece must not be empty/);
    expect(() => parseModelProto(bytes(0x0a, 0x05, 0x0a, 0x01))).toThrow(/runs past the end/);
  });
});
