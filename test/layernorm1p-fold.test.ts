// NemotronLayerNorm1P folds `weight + 1` (and a bias cast) once instead of on every forward: its output against a
// float64 reference, one backend op per forward once folded, and the fold following every change to the parameters
// (copy_, an optimizer step, a dtype move), with gradients still reaching the weight when it trains. Plus the version
// counter (torch's Tensor._version) the fold relies on.
import { describe, expect, it, vi } from 'vitest';
import { cpuBackend, Generator, layerNorm, memory, noGrad, randn, tensor, tidy, type Tensor } from '@tensorzoo/tensor';
import { Adam } from '@tensorzoo/nn';
import { NemotronLayerNorm1P } from '@tensorzoo/nemotron';

/** layer_norm(x) * (w + 1) + b over the last dim, in float64 from the tensors' values. */
function reference(x: Tensor, w: Tensor, b: Tensor, eps: number): Float64Array {
  const [X, W, B] = [x, w, b].map((t) => t.to('float64').contiguous().dataSync() as Float64Array) as [Float64Array, Float64Array, Float64Array];
  const n = W.length;
  const out = new Float64Array(X.length);
  for (let r = 0; r < X.length / n; r++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += X[r * n + i]!;
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (X[r * n + i]! - m) ** 2;
    const rs = 1 / Math.sqrt(v / n + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = (X[r * n + i]! - m) * rs * (W[i]! + 1) + B[i]!;
  }
  return out;
}

function maxDiff(got: Tensor, want: Float64Array): number {
  const g = got.contiguous().dataSync();
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(g[i]! - want[i]!));
  return d;
}

/** Backend calls a function makes (every cpuBackend entry point spied on). */
function backendCalls(fn: () => void): number {
  const spies = Object.keys(cpuBackend).filter((k) => typeof (cpuBackend as unknown as Record<string, unknown>)[k] === 'function').map((k) => vi.spyOn(cpuBackend as unknown as Record<string, () => unknown>, k));
  try {
    fn();
    return spies.reduce((s, sp) => s + sp.mock.calls.length, 0);
  } finally {
    for (const sp of spies) sp.mockRestore();
  }
}

describe('NemotronLayerNorm1P: weight + 1 folded once', () => {
  const g = new Generator(3);
  const make = () => {
    const norm = new NemotronLayerNorm1P(16, 1e-5);
    noGrad(() => {
      norm.weight!.copy_(randn([16], { generator: g }).mul(0.1));
      norm.bias!.copy_(randn([16], { generator: g }).mul(0.1));
    });
    return norm;
  };

  it('matches float64 and runs one backend op per forward once folded (float32 and bfloat16 parameters)', () => {
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const norm = make();
      if (dtype === 'bfloat16') norm.to('bfloat16');
      const x = randn([3, 16], { generator: g });
      const first = noGrad(() => norm.forward(x));
      expect(maxDiff(first, reference(x, norm.weight!, norm.bias!, 1e-5))).toBeLessThan(1e-5);
      let again: Tensor | undefined;
      expect(backendCalls(() => noGrad(() => (again = norm.forward(x))))).toBe(1);
      expect(again!.dataSync()).toEqual(first.dataSync());
    }
  });

  it('follows copy_, an optimizer step and a dtype move of its parameters', () => {
    const norm = make();
    const x = randn([2, 16], { generator: g });
    noGrad(() => norm.forward(x));
    noGrad(() => norm.weight!.copy_(randn([16], { generator: g })));
    expect(maxDiff(noGrad(() => norm.forward(x)), reference(x, norm.weight!, norm.bias!, 1e-5))).toBeLessThan(1e-5);
    noGrad(() => norm.bias!.narrow(0, 3, 4).copy_(5)); // a write through a view of the bias
    expect(maxDiff(noGrad(() => norm.forward(x)), reference(x, norm.weight!, norm.bias!, 1e-5))).toBeLessThan(1e-5);
    const opt = new Adam(norm.parameters(), { lr: 0.1 });
    norm.forward(x).square().sum().backward();
    opt.step();
    expect(maxDiff(noGrad(() => norm.forward(x)), reference(x, norm.weight!, norm.bias!, 1e-5))).toBeLessThan(1e-5);
    norm.to('float64');
    const x64 = x.to('float64');
    expect(maxDiff(noGrad(() => norm.forward(x64)), reference(x64, norm.weight!, norm.bias!, 1e-5))).toBeLessThan(1e-12);
  });

  it('passes gradients to the weight and bias when they train, as the unfolded add', () => {
    const norm = make();
    const x = randn([4, 16], { generator: g });
    noGrad(() => norm.forward(x)); // a fold exists; training must not use it
    const c = randn([4, 16], { generator: g });
    norm.forward(x).mul(c).sum().backward();
    const [w, b] = [norm.weight!.detach().clone().requiresGrad_(true), norm.bias!.detach().clone().requiresGrad_(true)];
    layerNorm(x, [16], w.add(1), b, 1e-5).mul(c).sum().backward();
    expect(norm.weight!.grad!.dataSync()).toEqual(w.grad!.dataSync());
    expect(norm.bias!.grad!.dataSync()).toEqual(b.grad!.dataSync());
    expect(Math.max(...[...w.grad!.dataSync()].map(Math.abs))).toBeGreaterThan(0);
  });

  it('keeps memory flat over forwards and frees a stale fold when the weight changes', () => {
    const norm = make();
    const x = randn([2, 16], { generator: g });
    noGrad(() => norm.forward(x)).dispose();
    const before = memory('cpu');
    for (let i = 0; i < 20; i++) {
      tidy(() => void noGrad(() => norm.forward(x)));
      noGrad(() => norm.weight!.copy_(i / 10)); // a new version: the next forward folds again, freeing the old fold
    }
    tidy(() => void noGrad(() => norm.forward(x)));
    const after = memory('cpu');
    expect([after.numTensors, after.numBytes]).toEqual([before.numTensors, before.numBytes]);
  });
});

describe('Tensor._version (torch\'s version counter)', () => {
  it('counts in-place writes to the memory, shared by views; ops that make new tensors leave it', () => {
    const t = tensor([1, 2, 3, 4]);
    expect(t._version).toBe(0);
    const v = t.narrow(0, 1, 2);
    v.copy_(tensor([7, 8]));
    expect(t._version).toBe(1);
    expect(v._version).toBe(1);
    t.copy_(0);
    expect(v._version).toBe(2);
    const u = t.add(1);
    expect(u._version).toBe(0);
    expect(t._version).toBe(2);
  });
});
