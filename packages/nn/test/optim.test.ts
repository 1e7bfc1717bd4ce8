import { describe, expect, it } from 'vitest';
import { tensor, zeros, type Tensor } from '@tensorzoo/tensor';
import { Adam, AdamW, SGD, clipGradNorm_, clipGradValue_, getCosineScheduleWithWarmup, getLinearScheduleWithWarmup, type Optimizer } from '../dist/index.js';

// Minimize f(p) = sum(c * p^2 + d * p) in float64; gradient 2cp + d. References below follow torch.optim's documented algorithms.
const C = [0.5, 2, 1.5];
const D = [1, -3, 0.25];
const P0 = [1, -2, 0.5];
const grad = (p: number[]) => p.map((v, i) => 2 * C[i]! * v + D[i]!);

function run(make: (p: Tensor) => Optimizer<{ lr: number }>, steps: number): number[] {
  const p = tensor(P0, { dtype: 'float64', requiresGrad: true });
  const opt = make(p);
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    p.mul(p).mul(tensor(C, { dtype: 'float64' })).add(p.mul(tensor(D, { dtype: 'float64' }))).sum().backward();
    opt.step();
  }
  return Array.from(p.dataSync());
}

function refSgd(steps: number, lr: number, momentum: number, dampening: number, wd: number, nesterov: boolean): number[] {
  const p = [...P0];
  let buf: number[] | null = null;
  for (let s = 0; s < steps; s++) {
    let d = grad(p).map((g, i) => g + wd * p[i]!);
    if (momentum) {
      buf = buf ? buf.map((b, i) => momentum * b + (1 - dampening) * d[i]!) : [...d];
      d = nesterov ? d.map((v, i) => v + momentum * buf![i]!) : buf;
    }
    for (let i = 0; i < 3; i++) p[i]! -= lr * d[i]!;
  }
  return p;
}

function refAdam(steps: number, lr: number, b1: number, b2: number, eps: number, wd: number, decoupled: boolean, amsgrad = false): number[] {
  const p = [...P0];
  const m = [0, 0, 0];
  const v = [0, 0, 0];
  const vmax = [0, 0, 0];
  for (let t = 1; t <= steps; t++) {
    const g = grad(p);
    for (let i = 0; i < 3; i++) {
      let gi = g[i]!;
      if (decoupled) p[i]! *= 1 - lr * wd;
      else gi += wd * p[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      vmax[i] = Math.max(vmax[i]!, v[i]!);
      const bc1 = 1 - b1 ** t;
      const bc2 = 1 - b2 ** t;
      const denom = Math.sqrt(amsgrad ? vmax[i]! : v[i]!) / Math.sqrt(bc2) + eps;
      p[i]! -= (lr / bc1) * (m[i]! / denom);
    }
  }
  return p;
}

const close = (a: number[], b: number[]) => a.forEach((x, i) => expect(x).toBeCloseTo(b[i]!, 12));

describe('optimizers follow torch.optim exactly (float64)', () => {
  it('SGD: plain, momentum+dampening+weight decay, nesterov', () => {
    close(run((p) => new SGD([p], { lr: 0.1 }), 7), refSgd(7, 0.1, 0, 0, 0, false));
    close(run((p) => new SGD([p], { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }), 9), refSgd(9, 0.05, 0.9, 0.1, 0.01, false));
    close(run((p) => new SGD([p], { lr: 0.05, momentum: 0.8, nesterov: true }), 9), refSgd(9, 0.05, 0.8, 0, 0, true));
  });
  it('Adam with L2 decay, AdamW with decoupled decay, amsgrad', () => {
    close(run((p) => new Adam([p], { lr: 0.1, weightDecay: 0.1 }), 10), refAdam(10, 0.1, 0.9, 0.999, 1e-8, 0.1, false));
    close(run((p) => new AdamW([p], { lr: 0.1, betas: [0.8, 0.99], weightDecay: 0.05 }), 10), refAdam(10, 0.1, 0.8, 0.99, 1e-8, 0.05, true));
    close(run((p) => new Adam([p], { lr: 0.3, amsgrad: true }), 12), refAdam(12, 0.3, 0.9, 0.999, 1e-8, 0, false, true));
  });
  it('parameter groups override defaults and state dicts restore the run', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3], { requiresGrad: true });
    const opt = new AdamW([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.01 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.01, 0.5]);
    a.sum().backward();
    b.sum().backward();
    opt.step();
    const sd = opt.stateDict();
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0], [1]]);
    expect(sd.state[0]!.step).toBe(1);
    const opt2 = new AdamW([{ params: [a] }, { params: [b] }]);
    opt2.loadStateDict(sd);
    expect(opt2.paramGroups[1]!.lr).toBe(0.5);
    expect(Array.from((opt2.state.get(a)!.expAvg as Tensor).dataSync())).toEqual(Array.from((opt.state.get(a)!.expAvg as Tensor).dataSync()));
    expect(() => new SGD([a, a])).not.toThrow();
    expect(() => new SGD([{ params: [a] }, { params: [a] }])).toThrow(/more than one parameter group/);
    expect(() => new SGD([])).toThrow(/empty parameter list/);
  });
});

describe('clipping and schedules', () => {
  it('clipGradNorm_ scales to maxNorm and returns the original norm', () => {
    const a = zeros([2], { requiresGrad: true });
    const b = zeros([1], { requiresGrad: true });
    a.grad = tensor([3, 0]);
    b.grad = tensor([4]);
    const n = clipGradNorm_([a, b], 1);
    expect(n.item()).toBeCloseTo(5, 6);
    expect(a.grad.tolist()).toEqual([expect.closeTo(0.6, 5), 0]);
    expect((b.grad.tolist() as number[])[0]).toBeCloseTo(0.8, 5);
    clipGradNorm_([a, b], 10); // below the limit: unchanged
    expect((b.grad.tolist() as number[])[0]).toBeCloseTo(0.8, 5);
    expect(clipGradNorm_([a, b], 1, Infinity).item()).toBeCloseTo(0.8, 5);
    clipGradValue_([a], 0.5);
    expect((a.grad.tolist() as number[])[0]).toBe(0.5);
  });
  it('linear and cosine warmup schedules match transformers', () => {
    const p = zeros([1], { requiresGrad: true });
    const opt = new SGD([p], { lr: 1 });
    const lin = getLinearScheduleWithWarmup(opt, 2, 6);
    const lrs = [opt.paramGroups[0]!.lr];
    for (let i = 0; i < 7; i++) { lin.step(); lrs.push(opt.paramGroups[0]!.lr); }
    expect(lrs).toEqual([0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0]);
    const opt2 = new SGD([p], { lr: 2 });
    const cos = getCosineScheduleWithWarmup(opt2, 1, 5);
    const c = [opt2.paramGroups[0]!.lr];
    for (let i = 0; i < 5; i++) { cos.step(); c.push(opt2.paramGroups[0]!.lr); }
    const expected = [0, 2, ...[1, 2, 3, 4].map((s) => 2 * 0.5 * (1 + Math.cos((Math.PI * s) / 4)))];
    c.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
  });
});
