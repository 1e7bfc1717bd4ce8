// Off-heap weights read as W^T are multiplied in blocks of output columns; the result must not depend on blocking.
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, linear, randn } from '../dist/index.js';
import { setOffHeapChunkBytes } from '../dist/backend/cpu/matmul.js';

describe('column-blocked matmul of off-heap weights', () => {
  afterAll(() => setOffHeapChunkBytes(128 * 2 ** 20));
  for (const dtype of ['float32', 'bfloat16'] as const) {
    it(`${dtype} W^T [N, K] in blocks equals the unblocked product (m = 1 and m = 5)`, () => {
      const g = new Generator(4);
      const w = randn([203, 96], { generator: g }).to(dtype); // an unpinned tensor: a plain array, off the heap
      for (const m of [1, 5]) {
        const x = randn([m, 96], { generator: g });
        setOffHeapChunkBytes(128 * 2 ** 20);
        const whole = Array.from(linear(x, w).dataSync());
        setOffHeapChunkBytes(2000); // forces blocks of 16 columns
        const blocked = Array.from(linear(x, w).dataSync());
        expect(blocked).toEqual(whole);
      }
    });
  }
});
