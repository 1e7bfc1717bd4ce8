// Proof that nn trains: a classifier on a non-linear task, a head on a frozen backbone, and resumable training.
import { describe, expect, it } from 'vitest';
import { argmax, crossEntropy, eq, Generator, randn, tensor, type Tensor } from '@tensorzoo/tensor';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdamW, Linear, ReLU, SGD, Sequential, getCosineScheduleWithWarmup, loadTrainingState, saveTrainingState, type Module, type OptimizerStateDict, type AdamOptions } from '../dist/index.js';

/** Three interleaved spiral arms in 2-D: not linearly separable. */
function spirals(n: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new Generator(seed);
  const xs: number[][] = [];
  const ys: number[] = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const r = i / n;
      const th = c * ((2 * Math.PI) / 3) + r * 4 + g.normal() * 0.15;
      xs.push([r * Math.cos(th), r * Math.sin(th)]);
      ys.push(c);
    }
  }
  return { x: tensor(xs), y: tensor(ys, { dtype: 'int32' }) };
}

function mlp(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential(new Linear(2, 64, { generator: g }), new ReLU(), new Linear(64, 64, { generator: g }), new ReLU(), new Linear(64, 3, { generator: g }));
}

function accuracy(model: Sequential, x: Tensor, y: Tensor): number {
  return eq(argmax(model.forward(x), -1), y).float().mean().item();
}

describe('training', () => {
  it('an MLP learns three spirals to high held-out accuracy with AdamW', () => {
    const train = spirals(200, 1);
    const test = spirals(100, 2);
    const model = mlp(0);
    const opt = new AdamW(model.parameters(), { lr: 0.01, weightDecay: 1e-4 });
    const sched = getCosineScheduleWithWarmup(opt, 20, 400);
    const before = accuracy(model, test.x, test.y);
    for (let step = 0; step < 400; step++) {
      opt.zeroGrad();
      crossEntropy(model.forward(train.x), train.y).backward();
      opt.step();
      sched.step();
    }
    expect(before).toBeLessThan(0.6);
    expect(accuracy(model, train.x, train.y)).toBeGreaterThan(0.97);
    expect(accuracy(model, test.x, test.y)).toBeGreaterThan(0.93);
  });

  it('trains a new head on a frozen backbone without touching the backbone', () => {
    const g = new Generator(5);
    const backbone = new Sequential(new Linear(2, 32, { generator: g }), new ReLU(), new Linear(32, 32, { generator: g }), new ReLU());
    backbone.requiresGrad_(false);
    const frozen = [...backbone.parameters()].map((p) => Array.from(p.dataSync()));
    const head = new Linear(32, 3, { generator: g });
    const data = spirals(100, 3);
    const opt = new AdamW(head.parameters(), { lr: 0.05 });
    const loss0 = crossEntropy(head.forward(backbone.forward(data.x)), data.y).item();
    let loss = loss0;
    for (let step = 0; step < 100; step++) {
      opt.zeroGrad();
      const l = crossEntropy(head.forward(backbone.forward(data.x)), data.y);
      l.backward();
      opt.step();
      loss = l.item();
    }
    expect(loss).toBeLessThan(loss0 * 0.8);
    [...backbone.parameters()].forEach((p, i) => {
      expect(p.grad).toBeNull();
      expect(Array.from(p.dataSync())).toEqual(frozen[i]);
    });
    expect(head.weight.grad).not.toBeNull();
  });

  it('save, reload and continue gives bit-identical results to an uninterrupted run', async () => {
    const data = spirals(50, 4);
    const batches = Array.from({ length: 8 }, (_, i) => {
      const idx = randn([32], { generator: new Generator(100 + i) }).abs().mul(149).clamp(0, 149).int();
      return { x: data.x.indexSelect(0, idx), y: data.y.indexSelect(0, idx) };
    });
    const stepOn = (m: Module & { forward(x: Tensor): Tensor }, opt: AdamW, b: { x: Tensor; y: Tensor }) => {
      opt.zeroGrad();
      crossEntropy(m.forward(b.x), b.y).backward();
      opt.step();
    };
    const straight = mlp(7);
    const opt1 = new AdamW(straight.parameters(), { lr: 0.01 });
    for (const b of batches) stepOn(straight, opt1, b);

    const first = mlp(7);
    const optA = new AdamW(first.parameters(), { lr: 0.01 });
    for (const b of batches.slice(0, 4)) stepOn(first, optA, b);
    const saved: { model: Map<string, Tensor>; opt: OptimizerStateDict<AdamOptions> } = {
      model: new Map([...first.stateDict()].map(([k, v]) => [k, v.clone()])),
      opt: optA.stateDict(),
    };
    const resumed = mlp(99); // different init: everything must come from the checkpoint
    resumed.loadStateDict(saved.model);
    const optB = new AdamW(resumed.parameters(), { lr: 0.01 });
    optB.loadStateDict(saved.opt);
    for (const b of batches.slice(4)) stepOn(resumed, optB, b);

    const a = [...straight.parameters()].map((p) => Array.from(p.dataSync()));
    const b = [...resumed.parameters()].map((p) => Array.from(p.dataSync()));
    expect(b).toEqual(a);

    // the same through a file: model, AdamW moments and the schedule position
    const path = join(mkdtempSync(join(tmpdir(), 'tz-resume-')), 'state.safetensors');
    const m1 = mlp(7);
    const o1 = new AdamW(m1.parameters(), { lr: 0.01 });
    const s1 = getCosineScheduleWithWarmup(o1, 2, 8);
    for (const b of batches.slice(0, 4)) { stepOn(m1, o1, b); s1.step(); }
    await saveTrainingState(path, { model: m1, optimizer: o1, scheduler: s1, extra: { step: 4 } });
    const m2 = mlp(123);
    const o2 = new AdamW(m2.parameters(), { lr: 0.5 });
    const s2 = getCosineScheduleWithWarmup(o2, 2, 8);
    expect(await loadTrainingState(path, { model: m2, optimizer: o2, scheduler: s2 })).toEqual({ step: 4 });
    for (const bt of batches.slice(4)) { stepOn(m1, o1, bt); s1.step(); stepOn(m2, o2, bt); s2.step(); }
    expect([...m2.parameters()].map((p) => Array.from(p.dataSync()))).toEqual([...m1.parameters()].map((p) => Array.from(p.dataSync())));
    await expect(loadTrainingState(path, { model: m2, optimizer: new SGD(m2.parameters()) })).rejects.toThrow(/holds AdamW state, not SGD/);
  });
});
