// A tiny PNG encoder (8-bit RGB, no interlace; zlib deflate from node:zlib, CRC-32 of our own) and a line-plot
// canvas for the training script's loss curve. No plotting dependency.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG and zlib use) of bytes. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes width x height RGB pixels (row-major, 3 bytes a pixel) as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`encodePng: bad size ${width}x${height}`);
  if (rgb.length !== width * height * 3) throw new Error(`encodePng: expected ${width * height * 3} bytes of RGB, got ${rgb.length}`);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter
  ihdr[12] = 0; // interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

export type Rgb = [number, number, number];

// 3x5 bitmap glyphs (rows top to bottom, 3 bits each, MSB left) for tick labels and the legend.
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 1, 1], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], ' ': [0, 0, 0, 0, 0], k: [4, 5, 6, 5, 5], M: [5, 7, 7, 5, 5],
  a: [0, 6, 3, 5, 7], e: [0, 7, 7, 4, 7], i: [2, 0, 2, 2, 2], l: [6, 2, 2, 2, 7], n: [0, 6, 5, 5, 5], o: [0, 7, 5, 5, 7],
  r: [0, 6, 5, 4, 4], s: [0, 7, 6, 3, 7], t: [2, 7, 2, 2, 3], v: [0, 5, 5, 5, 2], p: [0, 7, 5, 7, 4], c: [0, 7, 4, 4, 7],
  x: [0, 5, 2, 2, 5], u: [0, 5, 5, 5, 7], d: [1, 1, 7, 5, 7], g: [7, 4, 5, 5, 7], h: [4, 4, 7, 5, 5], m: [0, 7, 7, 5, 5],
  '(': [1, 2, 2, 2, 1], ')': [4, 2, 2, 2, 4], ',': [0, 0, 0, 2, 4], '/': [1, 1, 2, 4, 4], ':': [0, 2, 0, 2, 0],
};

/** An RGB raster with a few drawing primitives. */
export class Canvas {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: Rgb = [255, 255, 255]) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, i * 3);
  }
  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.pixels.set(c, (y * this.width + x) * 3);
  }
  rect(x0: number, y0: number, w: number, h: number, c: Rgb): void {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) this.set(x, y, c);
  }
  /** A line of the given thickness (Bresenham-like stepping along the longer axis). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = Math.floor((thickness - 1) / 2);
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n;
      const y = y0 + ((y1 - y0) * i) / n;
      if (thickness <= 1) this.set(x, y, c);
      else this.rect(Math.round(x) - r, Math.round(y) - r, thickness, thickness, c);
    }
  }
  /** Text in the 3x5 font scaled by `scale`; returns the width drawn. Unknown characters draw as blanks. */
  text(s: string, x: number, y: number, c: Rgb, scale = 2): number {
    let cx = x;
    for (const ch of s) {
      const g = GLYPHS[ch] ?? GLYPHS[ch.toLowerCase()] ?? GLYPHS[' ']!;
      g.forEach((row, ry) => {
        for (let bx = 0; bx < 3; bx++) if (row & (4 >> bx)) this.rect(cx + bx * scale, y + ry * scale, scale, scale, c);
      });
      cx += 4 * scale;
    }
    return cx - x;
  }
  toPng(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }
}

export interface Series {
  label: string;
  color: Rgb;
  points: [number, number][];
}

function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

function fmt(v: number, step: number): string {
  if (Math.abs(v) >= 1000 && step >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(d);
}

/** Draws series as lines on white with axes, ticks, tick labels, axis titles and a legend; returns the PNG. */
export function linePlot(series: Series[], opts: { width?: number; height?: number; xLabel?: string; yLabel?: string } = {}): Buffer {
  const W = opts.width ?? 800;
  const H = opts.height ?? 480;
  const c = new Canvas(W, H);
  const L = 70, R = 20, T = 36, B = 60;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  let [x0, x1] = pts.length ? [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))] : [0, 1];
  let [y0, y1] = pts.length ? [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))] : [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const ys = niceStep(y1 - y0, 6);
  y0 = Math.floor(y0 / ys) * ys;
  y1 = Math.ceil(y1 / ys) * ys;
  x0 = Math.min(0, x0);
  const xs = niceStep(x1 - x0, 8);
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const axis: Rgb = [0, 0, 0];
  const grid: Rgb = [225, 225, 225];
  for (let y = y0; y <= y1 + ys / 2; y += ys) {
    c.line(L, py(y), W - R, py(y), grid);
    c.line(L - 6, py(y), L, py(y), axis);
    const s = fmt(y, ys);
    c.text(s, L - 10 - s.length * 8, py(y) - 5, axis);
  }
  for (let x = Math.ceil(x0 / xs) * xs; x <= x1 + 1e-9; x += xs) {
    c.line(px(x), H - B, px(x), H - B + 6, axis);
    const s = fmt(x, xs);
    c.text(s, px(x) - (s.length * 8) / 2, H - B + 10, axis);
  }
  c.line(L, T, L, H - B, axis, 2);
  c.line(L, H - B, W - R, H - B, axis, 2);
  if (opts.xLabel) c.text(opts.xLabel, L + (W - L - R) / 2 - opts.xLabel.length * 4, H - B + 32, axis);
  if (opts.yLabel) c.text(opts.yLabel, 10, 8, axis);
  for (const s of series) {
    for (let i = 1; i < s.points.length; i++) {
      const [a, b] = [s.points[i - 1]!, s.points[i]!];
      c.line(px(a[0]), py(a[1]), px(b[0]), py(b[1]), s.color, 2);
    }
    if (s.points.length === 1) c.rect(px(s.points[0]![0]) - 2, py(s.points[0]![1]) - 2, 5, 5, s.color);
  }
  let ly = T + 10;
  for (const s of series) {
    c.line(W - R - 150, ly + 5, W - R - 120, ly + 5, s.color, 3);
    c.text(s.label, W - R - 110, ly, axis);
    ly += 20;
  }
  return c.toPng();
}
