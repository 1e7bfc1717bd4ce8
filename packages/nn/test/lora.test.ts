// LoraLinear against PEFT's formula written out in float64 loops: y = x W^T + b + (x A^T B^T) * scaling.
import { describe, expect, it } from 'vitest';
import { Generator, noGrad, randn, tensor, type Tensor } from '@tensorzoo/tensor';
import { init, Linear, LoraLinear, Module, ModuleList, Sequential, type LoraLayerOptions } from '../dist/index.js';

/** Rows of a 2-D tensor as plain arrays. */
function rows(t: Tensor): number[][] {
  return t.tolist() as number[][];
}

/** x [n, in] @ w^T for w [out, in], in float64 loops. */
function mmT(x: number[][], w: number[][]): number[][] {
  return x.map((xr) => w.map((wr) => wr.reduce((s, v, k) => s + v * xr[k]!, 0)));
}

/** PEFT's lora.Linear forward (dropout 0), independently of the library. */
function reference(x: number[][], w: number[][], b: number[] | null, a: number[][], bm: number[][], scaling: number): number[][] {
  const base = mmT(x, w);
  const up = mmT(mmT(x, a), bm);
  return base.map((r, i) => r.map((v, j) => v + (b ? b[j]! : 0) + up[i]![j]! * scaling));
}

/** A float64 LoraLinear with a random (non-zero) B, so the update shows. */
function randomLora(inF: number, outF: number, opts: Omit<LoraLayerOptions, 'generator'> & { bias?: boolean }, seed = 1): LoraLinear {
  const g = new Generator(seed);
  const base = new Linear(inF, outF, { dtype: 'float64', bias: opts.bias ?? true, generator: g });
  base.requiresGrad_(false);
  const l = new LoraLinear(base, { ...opts, generator: g });
  init.normal_(l.lora_B.get('default').weight, 0, 0.5, g);
  return l;
}

describe('LoraLinear (PEFT lora.Linear)', () => {
  it('names its parts as PEFT does', () => {
    const l = randomLora(5, 3, { r: 2 });
    expect([...l.stateDict().keys()]).toEqual(['base_layer.weight', 'base_layer.bias', 'lora_A.default.weight', 'lora_B.default.weight']);
    expect(l.lora_A.get('default').weight.shape).toEqual([2, 5]);
    expect(l.lora_B.get('default').weight.shape).toEqual([3, 2]);
    expect([l.inFeatures, l.outFeatures, l.weight, l.bias]).toEqual([5, 3, l.base_layer.weight, l.base_layer.bias]);
  });

  for (const [label, opts, scaling] of [
    ['lora_alpha / r', { r: 4, loraAlpha: 16 }, 4],
    ['rsLoRA: lora_alpha / sqrt(r)', { r: 4, loraAlpha: 16, useRslora: true }, 8],
    ['no bias, r 1', { r: 1, loraAlpha: 3, bias: false }, 3],
  ] as const) {
    it(`forward is base(x) + B A x * scaling in float64 (${label})`, () => {
      const l = randomLora(6, 5, opts);
      expect(l.scaling).toBe(scaling);
      const x = randn([7, 6], { generator: new Generator(2), dtype: 'float64' });
      const want = reference(rows(x), rows(l.weight), l.bias ? (l.bias.tolist() as number[]) : null, rows(l.lora_A.get('default').weight), rows(l.lora_B.get('default').weight), scaling);
      const got = rows(l.forward(x));
      for (let i = 0; i < want.length; i++) for (let j = 0; j < 5; j++) expect(got[i]![j]).toBeCloseTo(want[i]![j]!, 12);
    });
  }

  it('equals the merged linear in float64, on inputs with leading batch dims', () => {
    const l = randomLora(6, 4, { r: 3, loraAlpha: 5 });
    const x = randn([2, 3, 6], { generator: new Generator(3), dtype: 'float64' });
    const adapted = l.forward(x).dataSync();
    const merged = new Linear(6, 4, { dtype: 'float64' });
    merged.weight.copy_(l.weight.add(l.getDeltaWeight()));
    merged.bias!.copy_(l.bias!);
    const plain = merged.forward(x).dataSync();
    for (let i = 0; i < plain.length; i++) expect(Math.abs(adapted[i]! - plain[i]!)).toBeLessThan(1e-12);
    l.merge();
    expect(l.merged).toBe(true);
    const afterMerge = l.forward(x).dataSync();
    for (let i = 0; i < plain.length; i++) expect(Math.abs(afterMerge[i]! - plain[i]!)).toBeLessThan(1e-12);
  });

  it('initialises A as kaiming-uniform(a = sqrt 5) from the generator and B as zeros: the update starts at 0', () => {
    const make = (seed: number) => new LoraLinear(new Linear(50, 7, { generator: new Generator(0) }), { r: 8, generator: new Generator(seed) });
    const l = make(5);
    const a = l.lora_A.get('default').weight.dataSync();
    const bound = 1 / Math.sqrt(50); // sqrt(3) * gain(leaky_relu, sqrt 5) / sqrt(fan_in) = 1 / sqrt(fan_in)
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect([...l.lora_B.get('default').weight.dataSync()].every((v) => v === 0)).toBe(true);
    expect([...make(5).lora_A.get('default').weight.dataSync()]).toEqual([...a]);
    expect([...make(6).lora_A.get('default').weight.dataSync()]).not.toEqual([...a]);
    const x = randn([3, 50], { generator: new Generator(1) });
    expect([...l.forward(x).dataSync()]).toEqual([...l.base_layer.forward(x).dataSync()]);
  });

  it('sends gradients to A and B only, and they match finite differences in float64', () => {
    const l = randomLora(4, 3, { r: 2, loraAlpha: 6 });
    const x = randn([5, 4], { generator: new Generator(4), dtype: 'float64' });
    const target = randn([5, 3], { generator: new Generator(5), dtype: 'float64' });
    const loss = () => l.forward(x).sub(target).square().sum();
    loss().backward();
    expect(l.base_layer.weight.grad).toBeNull();
    expect(l.base_layer.bias!.grad).toBeNull();
    for (const p of [l.lora_A.get('default').weight, l.lora_B.get('default').weight]) {
      const g = p.grad!.dataSync();
      const data = Float64Array.from(p.dataSync());
      const at = (i: number, v: number) => {
        const d = Float64Array.from(data);
        d[i] = v;
        noGrad(() => p.copy_(tensor(d, { dtype: 'float64' }).reshape(p.shape)));
        return loss().item();
      };
      for (let i = 0; i < data.length; i++) {
        const eps = 1e-6;
        const up = at(i, data[i]! + eps);
        const down = at(i, data[i]! - eps);
        at(i, data[i]!);
        expect(Math.abs((up - down) / (2 * eps) - g[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(g[i]!)));
      }
    }
  });

  it('merge then unmerge restores the float32 base weight within rounding', () => {
    const g = new Generator(7);
    const base = new Linear(16, 12, { generator: g });
    const before = Float32Array.from(base.weight.dataSync());
    const l = new LoraLinear(base, { r: 4, loraAlpha: 8, generator: g });
    init.normal_(l.lora_B.get('default').weight, 0, 1, g);
    l.merge();
    const merged = base.weight.dataSync();
    expect(merged.some((v, i) => v !== before[i])).toBe(true);
    l.unmerge();
    const after = base.weight.dataSync();
    const ulp = (v: number) => Math.max(Math.abs(v), 1) * 2 ** -23;
    for (let i = 0; i < before.length; i++) expect(Math.abs(after[i]! - before[i]!)).toBeLessThanOrEqual(4 * ulp(merged[i]!));
  });

  it('rejects a rank that is not a positive integer', () => {
    expect(() => new LoraLinear(new Linear(2, 2), { r: 0 })).toThrow(/r should be a positive integer, got 0/);
    expect(() => new LoraLinear(new Linear(2, 2), { r: 1.5 })).toThrow(/positive integer/);
  });
});

describe('Module.setSubmodule', () => {
  class Net extends Module {
    readonly fc: Linear;
    readonly seq: Sequential;
    readonly list: ModuleList<Linear>;
    constructor() {
      super();
      this.fc = this.registerModule('fc', new Linear(2, 2));
      this.seq = this.registerModule('seq', new Sequential(new Linear(2, 2)));
      this.list = this.registerModule('list', new ModuleList([new Linear(2, 2)]));
    }
  }

  it('replaces the registration and the field (or container slot) forward uses', () => {
    const n = new Net();
    const [a, b, c] = [new Linear(2, 2), new Linear(2, 2), new Linear(2, 2)];
    n.setSubmodule('fc', a);
    n.setSubmodule('seq.0', b);
    n.setSubmodule('list.0', c);
    expect(n.fc).toBe(a);
    expect(n.seq.at(0)).toBe(b);
    expect(n.list.at(0)).toBe(c);
    const names = new Map([...n.namedModules()].map(([k, m]) => [k, m]));
    expect([names.get('fc'), names.get('seq.0'), names.get('list.0')]).toEqual([a, b, c]);
    const x = tensor([[1, 2]]);
    expect(n.seq.forward(x).tolist()).toEqual(b.forward(x).tolist());
  });

  it('names the missing part of a bad path', () => {
    expect(() => new Net().setSubmodule('nope.fc', new Linear(2, 2))).toThrow(/Net has no submodule 'nope'/);
    expect(() => new Net().setSubmodule('seq.3', new Linear(2, 2))).toThrow(/Sequential has no submodule '3'/);
  });
});
