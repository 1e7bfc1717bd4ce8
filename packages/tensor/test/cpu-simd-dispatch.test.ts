// Large float32 operands off the heap take the SIMD kernels (copied in and out): the results must be the TypeScript
// loops' bit for bit, specials included, for each layout the kernels take (full, scalar, row broadcast, and long
// innermost rows of any other broadcast, taken row by row).
import { afterEach, describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';

afterEach(() => setWasmAccelerators(true));

const SPECIALS = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -3.4e38];

function operand(shape: number[], seed: number): tz.Tensor {
  const t = tz.randn(shape, { generator: new tz.Generator(seed) });
  const d = t.dataSync() as Float32Array;
  SPECIALS.forEach((v, i) => (d[i * 97] = v));
  return tz.tensor(d, { dtype: 'float32' }).reshape(shape);
}

/** f's values with the SIMD kernels on and with the TypeScript loops only. */
function both(f: () => tz.Tensor): [number[], number[]] {
  const simd = Array.from(f().dataSync());
  setWasmAccelerators(false);
  const ts = Array.from(f().dataSync());
  setWasmAccelerators(true);
  return [simd, ts];
}

describe('cpu elementwise dispatch on large operands off the heap', () => {
  const x = operand([4, 128, 128], 1);
  const y = operand([4, 128, 128], 2);
  const row = operand([1, 128, 128], 3);
  for (const [name, f] of [
    ['relu', () => tz.relu(x)],
    ['square', () => tz.square(x)],
    ['relu2', () => tz.relu2(x)],
    ['add', () => tz.add(x, y)],
    ['mul by a scalar', () => tz.mul(x, 0.125)],
    ['add of a broadcast row (attention mask)', () => tz.add(x, row)],
    ['sub, row first (not commutative)', () => tz.sub(row, x)],
  ] as const) {
    it(`${name} equals the TypeScript loop bit for bit`, () => {
      const [simd, ts] = both(f);
      expect(simd.length).toBe(4 * 128 * 128);
      expect(Object.is(simd[0], ts[0])).toBe(true);
      expect(simd.filter((v, i) => !Object.is(v, ts[i])).length).toBe(0);
    });
  }
});

describe('cpu argmax / argmin dispatch on rows off the heap', () => {
  const x = operand([4, 128, 128], 1); // NaN, both zeros, infinities in the first rows
  for (const [name, f] of [
    ['argmax', () => tz.argmax(x, -1)],
    ['argmin', () => tz.argmin(x, -1)],
    ['argmax over a column (strided rows copied first)', () => tz.argmax(x, 1)],
  ] as const) {
    it(`${name} equals the TypeScript loop`, () => {
      const [simd, ts] = both(f);
      expect(simd.length).toBe(4 * 128);
      expect(simd).toEqual(ts);
      expect(new Set(simd).size).toBeGreaterThan(10); // not a constant answer
    });
  }
});

describe('cpu elementwise dispatch: a broadcast over long innermost rows runs row by row', () => {
  // [b, h, s] scores and a [b, 1, s] mask: per batch a different row, repeated over heads (odd row length: the tail)
  const scores = operand([3, 2, 4099], 4);
  const mask = operand([3, 1, 4099], 5);
  for (const [name, f] of [
    ['add of a per-batch mask over heads', () => tz.add(scores, mask)],
    ['sub, mask first (not commutative)', () => tz.sub(mask, scores)],
    ['mul of a strided (transposed) operand by a dense one', () => tz.mul(scores.transpose(0, 1), scores.transpose(0, 1).contiguous())],
  ] as const) {
    it(`${name} equals the TypeScript loop bit for bit`, () => {
      const [simd, ts] = both(f);
      expect(simd.length).toBe(3 * 2 * 4099);
      expect(simd.filter((v, i) => !Object.is(v, ts[i])).length).toBe(0);
    });
  }
});
