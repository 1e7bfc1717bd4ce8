import { describe, expect, it } from 'vitest';
import { allocF32, allocI32, release, heapStats } from '../dist/backend/cpu/wasm/index.js';

describe('wasm heap', () => {
  it('allocates zero-filled views of the shared heap and frees them', () => {
    const before = heapStats().liveBytes;
    const a = allocF32(1000);
    const b = allocI32(10);
    expect(heapStats().shared).toBe(true);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(a).every((v) => v === 0)).toBe(true);
    a.fill(3);
    expect(heapStats().liveBytes).toBeGreaterThan(before);
    release(a);
    release(a); // twice is fine
    release(new Float32Array(4)); // not from the heap: ignored
    const c = allocF32(1000); // reuses the block, zeroed again
    expect(Array.from(c).every((v) => v === 0)).toBe(true);
    release(c);
    release(b);
    expect(heapStats().liveBytes).toBe(before);
  });

  it('growing the memory keeps existing views valid', () => {
    const a = allocF32(16);
    a.set([1, 2, 3]);
    const cap = heapStats().capacity;
    const big = allocF32(cap / 4 + 1024); // forces a grow
    expect(heapStats().capacity).toBeGreaterThan(cap);
    expect(Array.from(a.subarray(0, 3))).toEqual([1, 2, 3]);
    a[3] = 4;
    expect(a[3]).toBe(4);
    big[big.length - 1] = 7;
    expect(big[big.length - 1]).toBe(7);
    release(big);
    release(a);
  });

  it('size 0 gives an empty array', () => {
    expect(allocF32(0).length).toBe(0);
    expect(() => allocF32(-1)).toThrow();
  });
});
