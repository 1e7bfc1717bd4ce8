// The CPU backend's pool of disposed arrays: a disposed storage's buffer serves the next storage of its byte size,
// zeroed; nothing shared (slab cuts, the WebAssembly heap) is given away; the pool stays within its limit, dropping
// the size classes used longest ago; memory() reports it; values read out never alias a reused buffer.
import { afterEach, describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import { arr } from '../dist/backend/cpu/storage.js';
import { drainRecycled, recycledMemory, setRecycledLimit } from '../dist/backend/cpu/recycle.js';

const LIMIT = 256 * 2 ** 20;
afterEach(() => {
  setRecycledLimit(LIMIT);
  drainRecycled();
});

const bufferOf = (t: tz.Tensor) => arr(t.storage).buffer;

describe('recycled CPU arrays', () => {
  it('a disposed array serves the next storage of its byte size, zeroed, whatever its dtype', () => {
    drainRecycled();
    const a = tz.full([4096], 7); // 16 KiB of float32
    const buf = bufferOf(a);
    a.dispose();
    expect(recycledMemory()).toEqual({ pooledBuffers: 1, pooledBytes: 16384 });
    const b = tz.zeros([4096], { dtype: 'int32' }); // same bytes, another dtype
    expect(bufferOf(b)).toBe(buf);
    expect([...b.dataSync()].every((v) => v === 0)).toBe(true);
    expect(recycledMemory()).toEqual({ pooledBuffers: 0, pooledBytes: 0 });
    const c = tz.ones([4096]).mul(3); // the op's output is a fresh storage: not the buffer b holds
    expect(bufferOf(c)).not.toBe(buf);
    expect(c.dataSync()[4095]).toBe(3);
  });

  it('an op over disposed temporaries reuses their buffers and gets exact values', () => {
    drainRecycled();
    const x = tz.arange(0, 8192).reshape([64, 128]);
    const ref = x.mul(2).add(1).dataSync();
    for (let i = 0; i < 5; i++) {
      const y = tz.tidy(() => x.mul(2).add(1));
      expect(y.dataSync()).toEqual(ref);
      y.dispose();
    }
    // mul's output was disposed by tidy and add's by the test: two 32 KiB buffers, reused round after round
    expect(recycledMemory().pooledBuffers).toBe(2);
    expect(recycledMemory().pooledBytes).toBe(2 * 32768);
  });

  it('values read out are copies: a reused buffer never changes them', () => {
    drainRecycled();
    const a = tz.full([4096], 5);
    const read = a.dataSync();
    a.dispose();
    const b = tz.full([4096], 9);
    expect(read[0]).toBe(5);
    expect(read[4095]).toBe(5);
    expect(b.dataSync()[0]).toBe(9);
  });

  it('data() is the caller\'s own array: writing it changes neither the tensor nor a view of it (it is read()\'s copy, not copied again)', async () => {
    const a = tz.arange(0, 5000);
    const whole = await a.data();
    whole[0] = -1;
    const part = a.narrow(0, 10, 20);
    const p = await part.data();
    p[0] = -2;
    expect(a.dataSync()[0]).toBe(0);
    expect(a.dataSync()[10]).toBe(10);
    expect(p.length).toBe(20);
    expect((await a.data())[0]).toBe(0);
    a.dispose();
  });

  it('small arrays (slab cuts) and pinned heap arrays are not pooled', () => {
    drainRecycled();
    tz.ones([100]).dispose(); // 400 bytes: a slab cut
    const p = tz.ones([8192]);
    p.pin_();
    p.dispose(); // the heap block goes back to the heap
    expect(recycledMemory()).toEqual({ pooledBuffers: 0, pooledBytes: 0 });
  });

  it('every array past the slabs is pooled, from 4 KiB + 1 (a fresh one costs Chromium 20-46 us), and the tiniest are slab cuts too', () => {
    drainRecycled();
    tz.ones([1025]).dispose(); // 4,100 bytes: past the 4 KiB slab limit
    expect(recycledMemory()).toEqual({ pooledBuffers: 1, pooledBytes: 4100 });
    tz.ones([1024]).dispose(); // 4,096 bytes: a slab cut
    expect(recycledMemory().pooledBuffers).toBe(1);
    // a one-float array shares a 64 KiB slab: V8 would keep it on its own heap, and the CPU heap's lookups reading its
    // .buffer would then move it to a backing store of its own (9 to 16 us a time in Chromium)
    const one = tz.ones([1]);
    expect(arr(one.storage).buffer.byteLength).toBe(65536);
    one.dispose();
  });

  it('stays within its limit, dropping the size classes used longest ago first', () => {
    drainRecycled();
    setRecycledLimit(49200); // the three classes below fit (49,164 bytes), a fourth does not
    const sizes = [4096, 4097, 4098]; // three size classes of about 16 KiB
    for (const n of sizes) tz.ones([n]).dispose();
    expect(recycledMemory().pooledBuffers).toBe(3);
    const kept = tz.ones([4096]); // takes (and so refreshes) the first class
    kept.dispose();
    tz.ones([4099]).dispose(); // over the limit: the 4097 class, now the oldest, goes
    expect(recycledMemory().pooledBuffers).toBe(3);
    expect(recycledMemory().pooledBytes).toBeLessThanOrEqual(49200);
    const probe = (n: number) => {
      const before = recycledMemory().pooledBuffers;
      const t = tz.zeros([n]);
      const hit = recycledMemory().pooledBuffers === before - 1;
      t.dispose();
      return hit;
    };
    expect(probe(4097)).toBe(false);
    expect(probe(4096)).toBe(true);
    expect(probe(4099)).toBe(true);
    setRecycledLimit(0);
    expect(recycledMemory()).toEqual({ pooledBuffers: 0, pooledBytes: 0 });
    tz.ones([4096]).dispose();
    expect(recycledMemory()).toEqual({ pooledBuffers: 0, pooledBytes: 0 });
  });

  it('memory() reports the pool and stays flat over repeated steps', () => {
    drainRecycled();
    const w = tz.randn([256, 256]);
    const step = () => tz.tidy(() => tz.randn([64, 256]).matmul(w).relu().square().sum());
    step().dispose();
    const m0 = tz.memory();
    for (let i = 0; i < 20; i++) step().dispose();
    const m1 = tz.memory();
    expect(m1.numTensors).toBe(m0.numTensors);
    expect(m1.numBytes).toBe(m0.numBytes);
    expect(m1.pooledBytes).toBe(m0.pooledBytes);
    expect(m1.pooledBytes).toBe(recycledMemory().pooledBytes);
    expect(m1.pooledBytes).toBeGreaterThan(0);
    w.dispose();
  });

  it('emptyCache() frees the pool, as torch.cuda.empty_cache(); live tensors are untouched', () => {
    drainRecycled();
    const live = tz.full([4096], 3);
    tz.ones([8192]).dispose();
    expect(tz.memory().pooledBuffers).toBe(1);
    const m = tz.memory();
    tz.emptyCache();
    expect(tz.memory()).toEqual({ ...m, pooledBuffers: 0, pooledBytes: 0 });
    expect(live.dataSync()[4095]).toBe(3);
    live.dispose();
  });
});
