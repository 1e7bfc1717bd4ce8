// The loss-curve PNG encoder of scripts/png.ts: signature, chunk layout, CRC-32 and the deflated pixel rows,
// checked by decoding with node:zlib and an independent bitwise CRC.
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, encodePng, linePlot } from '../scripts/png.js';

/** Bitwise CRC-32 (no table), independent of the encoder's. */
function refCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk { type: string; data: Buffer; crc: number; crcInput: Buffer }
function chunks(png: Buffer): Chunk[] {
  const out: Chunk[] = [];
  let o = 8;
  while (o < png.length) {
    const len = png.readUInt32BE(o);
    out.push({ type: png.toString('ascii', o + 4, o + 8), data: png.subarray(o + 8, o + 8 + len), crc: png.readUInt32BE(o + 8 + len), crcInput: png.subarray(o + 4, o + 8 + len) });
    o += 12 + len;
  }
  expect(o).toBe(png.length);
  return out;
}

describe('png encoder', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const rnd = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) & 255);
    expect(crc32(rnd)).toBe(refCrc(rnd));
  });

  it('writes signature, IHDR, IDAT, IEND with valid CRCs and the exact pixels', () => {
    const w = 5, h = 3;
    const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) & 255);
    const png = encodePng(w, h, rgb);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const cs = chunks(png);
    expect(cs.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    for (const c of cs) expect(c.crc).toBe(refCrc(c.crcInput));
    const ihdr = cs[0]!.data;
    expect(ihdr.length).toBe(13);
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]]).toEqual([w, h, 8, 2, 0, 0, 0]);
    const raw = inflateSync(cs[1]!.data);
    expect(raw.length).toBe(h * (w * 3 + 1));
    for (let y = 0; y < h; y++) {
      expect(raw[y * (w * 3 + 1)]).toBe(0);
      expect([...raw.subarray(y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1))]).toEqual([...rgb.subarray(y * w * 3, (y + 1) * w * 3)]);
    }
    expect(cs[2]!.data.length).toBe(0);
  });

  it('rejects a wrong pixel count', () => {
    expect(() => encodePng(2, 2, new Uint8Array(5))).toThrow(/expected 12 bytes/);
  });

  it('draws a line plot on a white canvas with coloured series', () => {
    const png = linePlot([
      { label: 'train', color: [31, 119, 180], points: [[0, 8], [50, 5], [100, 4]] },
      { label: 'held-out', color: [214, 39, 40], points: [[50, 5.5], [100, 4.5]] },
    ], { width: 320, height: 200, xLabel: 'step', yLabel: 'loss' });
    const cs = chunks(png);
    expect(cs[0]!.data.readUInt32BE(0)).toBe(320);
    expect(cs[0]!.data.readUInt32BE(4)).toBe(200);
    const raw = inflateSync(Buffer.concat(cs.filter((c) => c.type === 'IDAT').map((c) => c.data)));
    const colours = new Set<string>();
    for (let y = 0; y < 200; y++) for (let x = 0; x < 320; x++) {
      const o = y * 961 + 1 + x * 3;
      colours.add(`${raw[o]},${raw[o + 1]},${raw[o + 2]}`);
    }
    for (const c of ['255,255,255', '0,0,0', '31,119,180', '214,39,40']) expect(colours.has(c)).toBe(true);
  });
});
