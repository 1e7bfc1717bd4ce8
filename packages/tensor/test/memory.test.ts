// memory() on the host device: live CPU storages and bytes, exact under dispose() and tidy(), reclaimed by the
// garbage collector when dropped; and the wasm heap's live bytes (pinned weights) as kernelBytes.
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';

const settle = async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  expect(gc, 'vitest runs with --expose-gc').toBeTypeOf('function');
  gc!();
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
};

describe('memory() on the cpu', () => {
  it('counts storages (views share theirs); dispose and tidy bring it back exactly', () => {
    const m0 = tz.memory();
    expect(m0.device).toBe('cpu');
    const t = tz.ones([1000]);
    const v = t.reshape([10, 100]).t();
    expect(tz.memory().numTensors).toBe(m0.numTensors + 1);
    expect(tz.memory().numBytes).toBe(m0.numBytes + 4000);
    v.dispose();
    expect(tz.memory().numTensors).toBe(m0.numTensors);
    const kept = tz.tidy(() => tz.ones([10]).mul(2).add(1));
    expect(tz.memory().numTensors).toBe(m0.numTensors + 1);
    expect(tz.memory().numBytes).toBe(m0.numBytes + 40);
    kept.dispose();
    expect(tz.memory()).toEqual(m0);
  });

  it('tensors dropped without dispose() are counted out when the garbage collector reclaims them', async () => {
    await settle();
    const m0 = tz.memory('cpu');
    (() => {
      for (let i = 0; i < 5; i++) tz.ones([3000]).exp();
    })();
    expect(tz.memory('cpu').numTensors).toBeGreaterThanOrEqual(m0.numTensors + 10);
    await settle();
    expect(tz.memory('cpu').numTensors).toBe(m0.numTensors);
    expect(tz.memory('cpu').numBytes).toBe(m0.numBytes);
  });

  it('a disposed tensor is counted out once: the garbage collector reclaiming it later changes nothing', async () => {
    await settle();
    const m0 = tz.memory('cpu');
    (() => {
      for (let i = 0; i < 20; i++) tz.ones([100]).mul(3).dispose(); // the ones are dropped, the products disposed
    })();
    await settle();
    expect(tz.memory('cpu').numTensors).toBe(m0.numTensors);
    expect(tz.memory('cpu').numBytes).toBe(m0.numBytes);
  });

  it('small tensors (cut from shared slabs) start zeroed and never share elements', () => {
    const ts = Array.from({ length: 200 }, (_, i) => tz.zeros([17 + (i % 5) * 60], { dtype: i % 3 === 0 ? 'int32' : i % 3 === 1 ? 'float32' : 'float64' }));
    for (const t of ts) expect(Array.from(t.dataSync()).every((v) => v === 0)).toBe(true);
    ts.forEach((t, i) => t.copy_(i + 1));
    ts.forEach((t, i) => expect(Array.from(t.dataSync()).every((v) => v === i + 1)).toBe(true));
    for (const t of ts) t.dispose();
  });

  it('pinned tensors occupy the wasm heap (kernelBytes) until disposed', () => {
    const m0 = tz.memory();
    const w = tz.randn([64, 64]).pin_();
    expect(tz.memory().kernelBytes).toBeGreaterThanOrEqual(m0.kernelBytes + 64 * 64 * 4);
    w.dispose();
    expect(tz.memory().kernelBytes).toBe(m0.kernelBytes);
  });
});
