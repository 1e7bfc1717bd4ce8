// Memory discipline of training: after a warm-up step, repeated zeroGrad / forward+backward / optimizer steps leave
// the live GPU tensors and bytes exactly where they were (GPU memory is not garbage collected, so a leak is visible),
// and on every device the optimizer state keeps its identity (updated in place) and zeroGrad frees the gradients.
import { describe, expect, it } from 'vitest';
import { describeWebGPU } from '../../../test/webgpu-suite.js';
import { crossEntropy, Generator, memory, randint, randn, tidy, type Device, type Tensor } from '@tensorzoo/tensor';
import { Adam, AdamW, Linear, ReLU, SGD, Sequential, clipGradNorm_, type Optimizer } from '@tensorzoo/nn';


type MakeOpt = (params: Tensor[]) => Optimizer<{ lr: number }>;
const optimizers: [string, MakeOpt][] = [
  ['SGD with momentum', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
  ['Adam (amsgrad)', (p) => new Adam(p, { lr: 0.01, amsgrad: true, weightDecay: 0.01 })],
  ['AdamW', (p) => new AdamW(p, { lr: 0.01 })],
];

function setup(device: Device, make: MakeOpt) {
  const g = new Generator(3);
  const model = new Sequential(new Linear(8, 16, { generator: g }), new ReLU(), new Linear(16, 4, { generator: g })).to(device);
  const x = randn([32, 8], { generator: g }).to(device);
  const y = randint(0, 4, [32], { generator: g }).to(device);
  const opt = make([...model.parameters()]);
  const step = () => {
    opt.zeroGrad();
    tidy(() => crossEntropy(model.forward(x), y).backward());
    clipGradNorm_(model.parameters(), 1).dispose();
    opt.step();
  };
  return { model, opt, step };
}

describe('optimizer state and gradients (cpu)', () => {
  for (const [name, make] of optimizers) {
    it(`${name}: state tensors are updated in place; zeroGrad frees the gradients`, () => {
      const { model, opt, step } = setup('cpu', make);
      step();
      const p = [...model.parameters()][0]!;
      const state = { ...opt.state.get(p)! };
      const grad = p.grad!;
      step();
      for (const [k, v] of Object.entries(state)) if (typeof v !== 'number') expect(opt.state.get(p)![k], k).toBe(v);
      expect(grad.isDisposed).toBe(true); // freed by the second step's zeroGrad
      opt.zeroGrad();
      expect(p.grad).toBe(null);
    });
  }
  it('gradients accumulate in place across backward calls (the grad tensor keeps its identity)', () => {
    const { model } = setup('cpu', optimizers[0]![1]);
    const x = randn([4, 8], { generator: new Generator(1) });
    model.forward(x).sum().backward();
    const p = [...model.parameters()][0]!;
    const first = p.grad!;
    const once = first.clone();
    model.forward(x).sum().backward();
    expect(p.grad).toBe(first);
    expect(p.grad!.tolist()).toEqual(once.mul(2).tolist());
  });
});

describeWebGPU('training memory is flat on webgpu', () => {
  for (const [name, make] of optimizers) {
    it(`${name}: zeroGrad + forward/backward + clipGradNorm_ + step, 5 times`, async () => {
      const { step } = setup('webgpu', make);
      step();
      // earlier garbage is reclaimed first, so the FinalizationRegistry cannot count it out mid-loop
      (globalThis as { gc?: () => void }).gc?.();
      for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
      const before = memory('webgpu');
      for (let i = 0; i < 5; i++) step();
      const after = memory('webgpu');
      expect(after.numTensors).toBe(before.numTensors);
      expect(after.numBytes).toBe(before.numBytes);
    });
  }
});
