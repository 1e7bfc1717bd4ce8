// Forward hooks with PyTorch's rules: registration order, replacement inputs and outputs, removal by handle,
// errors that name the module, no trace left on a module once its last hook is gone, and flat memory.
import { describe, expect, it } from 'vitest';
import { webgpuSkipped } from '../../../test/webgpu-suite.js';
import { Generator, memory, randn, tidy, type Device, type Tensor } from '@tensorzoo/tensor';
import { HookError, Linear, Module, ReLU, Sequential } from '../dist/index.js';


function net(): Sequential {
  const g = new Generator(1);
  return new Sequential(new Linear(4, 8, { generator: g }), new ReLU(), new Linear(8, 2, { generator: g }));
}

const x = randn([3, 4], { generator: new Generator(2) });

describe('forward hooks', () => {
  it('fire in registration order, pre-hooks before the forward and hooks after it', () => {
    const m = net();
    const fc = m.at(0) as Linear;
    const calls: string[] = [];
    fc.registerForwardHook(() => void calls.push('hook 1'));
    fc.registerForwardPreHook(() => void calls.push('pre 1'));
    fc.registerForwardHook((mod, inputs, out) => {
      expect(mod).toBe(fc);
      expect(inputs[0]).toBe(x);
      expect((out as Tensor).shape).toEqual([3, 8]);
      calls.push('hook 2');
    });
    fc.registerForwardPreHook(() => void calls.push('pre 2'));
    m.forward(x);
    expect(calls).toEqual(['pre 1', 'pre 2', 'hook 1', 'hook 2']);
  });

  it('a hook replaces the output and a pre-hook the inputs, and the next hook sees the replacement', () => {
    const m = net();
    const expected = m.forward(x.mul(2)).tolist();
    const first = m.at(0) as Linear;
    const h1 = first.registerForwardPreHook((_, [input]) => [(input as Tensor).mul(2)]);
    expect(m.forward(x).tolist()).toEqual(expected);
    h1.remove();

    const last = m.at(2) as Linear;
    const seen: unknown[] = [];
    const h2 = last.registerForwardHook((_, __, out) => (out as Tensor).mul(0));
    const h3 = last.registerForwardHook((_, __, out) => void seen.push((out as Tensor).tolist()));
    const y = m.forward(x);
    expect(y.tolist()).toEqual([[0, 0], [0, 0], [0, 0]]);
    expect(seen).toEqual([[[0, 0], [0, 0], [0, 0]]]);
    h2.remove();
    h3.remove();
    expect(m.forward(x).tolist()).toEqual(m.forward(x).tolist());
  });

  it('are removed by their handle, and the last removal leaves the module as it was', () => {
    const m = net();
    const fc = m.at(0) as Linear;
    const before = m.forward(x).tolist();
    let n = 0;
    const a = fc.registerForwardHook(() => void n++);
    const b = fc.registerForwardPreHook(() => void n++);
    expect(Object.hasOwn(fc, 'forward')).toBe(true);
    m.forward(x);
    expect(n).toBe(2);
    a.remove();
    a.remove(); // a second remove does nothing
    m.forward(x);
    expect(n).toBe(3);
    b.remove();
    expect(Object.hasOwn(fc, 'forward')).toBe(false);
    expect(fc.forward).toBe(Linear.prototype.forward);
    m.forward(x);
    expect(n).toBe(3);
    expect(m.forward(x).tolist()).toEqual(before);
  });

  it('restore a forward the instance defined itself', () => {
    class Own extends Module {
      forward = (t: Tensor): Tensor => t.add(1);
    }
    const o = new Own();
    const own = o.forward;
    const h = o.registerForwardHook((_, __, out) => (out as Tensor).add(1));
    expect(o.forward(x).tolist()).toEqual(x.add(2).tolist());
    h.remove();
    expect(o.forward).toBe(own);
  });

  it('a hook that throws surfaces as an error naming the module (its qualified name when given)', () => {
    const m = net();
    const fc = m.at(2) as Linear;
    const h = fc.registerForwardHook(() => {
      throw new Error('boom');
    });
    expect(() => m.forward(x)).toThrow(HookError);
    expect(() => m.forward(x)).toThrow('forward hook of Linear failed: boom');
    h.remove();
    fc.registerForwardPreHook(() => {
      throw new Error('bad input');
    }, { name: '2' });
    expect(() => m.forward(x)).toThrow('forward pre-hook of 2 failed: bad input');
    const e = (() => {
      try {
        m.forward(x);
      } catch (err) {
        return err as HookError;
      }
    })();
    expect(e?.moduleName).toBe('2');
    expect((e?.cause as Error).message).toBe('bad input');
  });

  it('a pre-hook must return an array of arguments or nothing', () => {
    const fc = net().at(0) as Linear;
    fc.registerForwardPreHook(() => x as unknown as unknown[]);
    expect(() => fc.forward(x)).toThrow('returns an array of arguments');
  });

  it('refuse a module without forward()', () => {
    expect(() => new Module().registerForwardHook(() => undefined)).toThrow('Module has no forward() to hook');
  });

  // memory() tracks GPU tensors (CPU memory is garbage collected).
  it.skipIf(webgpuSkipped)('leave memory() flat while registered and after removal (webgpu)', async () => {
    const device: Device = 'webgpu';
    const m = net().to(device);
    const input = x.to(device);
    const kept: number[] = [];
    const handles = [...m.modules()].filter((mod) => mod !== m).map((mod) => mod.registerForwardHook((_, __, out) => void kept.push((out as Tensor).shape.length)));
    const run = () => tidy(() => m.forward(input).sum());
    const first = run();
    await first.data();
    first.dispose();
    const before = memory(device);
    for (let i = 0; i < 5; i++) {
      const y = run();
      await y.data();
      y.dispose();
    }
    expect(memory(device).numTensors).toBe(before.numTensors);
    expect(memory(device).numBytes).toBe(before.numBytes);
    for (const h of handles) h.remove();
    const y = run();
    await y.data();
    y.dispose();
    expect(memory(device).numTensors).toBe(before.numTensors);
    expect(kept.length).toBe(6 * 3);
  });
});
