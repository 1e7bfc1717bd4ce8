import { describe, expect, it } from 'vitest';
import { arange, ones, randn, tensor, zeros, Generator, type Tensor } from '@tensorzoo/tensor';
import { Embedding, LayerNorm, Linear, Module, ModuleList, Sequential, ReLU } from '../dist/index.js';

class Block extends Module {
  readonly fc: Linear;
  readonly norm: LayerNorm;
  constructor(g: Generator) {
    super();
    this.fc = this.registerModule('fc', new Linear(4, 3, { generator: g }));
    this.norm = this.registerModule('norm', new LayerNorm(3));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.fc.forward(x));
  }
}

class Tied extends Module {
  readonly embed: Embedding;
  readonly layers: ModuleList<Block>;
  readonly head: Linear;
  constructor(g = new Generator(0)) {
    super();
    this.embed = this.registerModule('embed_tokens', new Embedding(10, 4, { generator: g }));
    this.layers = this.registerModule('layers', new ModuleList([new Block(g), new Block(g)]));
    this.head = this.registerModule('lm_head', new Linear(4, 10, { bias: false, generator: g }));
    this.head.weight.set_(this.embed.weight); // aliasing data, not identity: identity tying is below
  }
}

describe('Module', () => {
  it('names parameters in registration order with dotted paths', () => {
    const m = new Tied();
    expect([...m.namedParameters()].map(([n]) => n)).toEqual([
      'embed_tokens.weight',
      'layers.0.fc.weight', 'layers.0.fc.bias', 'layers.0.norm.weight', 'layers.0.norm.bias',
      'layers.1.fc.weight', 'layers.1.fc.bias', 'layers.1.norm.weight', 'layers.1.norm.bias',
      'lm_head.weight',
    ]);
    expect(m.numParameters()).toBe(40 + 2 * (12 + 3 + 3 + 3) + 40);
  });

  it('lists a parameter shared under two names once, but keeps both keys in the state dict', () => {
    const a = new Linear(3, 3);
    const seq = new Sequential(a, new ReLU(), a);
    expect([...seq.namedParameters()].map(([n]) => n)).toEqual(['0.weight', '0.bias']);
    expect([...seq.stateDict().keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
  });

  it('round-trips a state dict and reports every problem in one error', () => {
    const src = new Tied(new Generator(1));
    const dst = new Tied(new Generator(2));
    dst.loadStateDict(src.stateDict());
    for (const [[n1, p1], [n2, p2]] of [...src.namedParameters()].map((e, i) => [e, [...dst.namedParameters()][i]!] as const)) {
      expect(n1).toBe(n2);
      expect(Array.from(p2.dataSync())).toEqual(Array.from(p1.dataSync()));
    }
    const sd = src.stateDict();
    sd.delete('layers.0.fc.bias');
    sd.set('extra.weight', zeros([1]));
    sd.set('layers.1.fc.weight', zeros([5, 5]));
    let msg = '';
    try {
      dst.loadStateDict(sd);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('size mismatch for layers.1.fc.weight: checkpoint [5,5], model [3,4]');
    expect(msg).toContain('missing keys: layers.0.fc.bias');
    expect(msg).toContain('unexpected keys: extra.weight');
    sd.set('layers.1.fc.weight', zeros([3, 4]));
    const r = dst.loadStateDict(sd, { strict: false });
    expect(r).toEqual({ missingKeys: ['layers.0.fc.bias'], unexpectedKeys: ['extra.weight'] });
  });

  it('copies into existing dtypes by default and adopts the loaded dtype with assign', () => {
    const lin = new Linear(2, 2);
    const w = tensor([[1.5, 2], [3, 4]], { dtype: 'bfloat16' });
    const b = tensor([0.25, -1], { dtype: 'bfloat16' });
    const keepRef = lin.weight;
    lin.loadStateDict({ weight: w, bias: b });
    expect(lin.weight.dtype).toBe('float32');
    lin.loadStateDict({ weight: w, bias: b }, { assign: true });
    expect(lin.weight).toBe(keepRef);
    expect(lin.weight.dtype).toBe('bfloat16');
    expect(lin.weight.requiresGrad).toBe(true);
    expect(lin.forward(tensor([[1, 1]])).tolist()).toEqual([[3.75, 6]]);
  });

  it('switches train/eval recursively, freezes, applies and casts', () => {
    const m = new Tied();
    m.eval();
    expect([...m.modules()].every((x) => !x.training)).toBe(true);
    m.train();
    expect([...m.modules()].every((x) => x.training)).toBe(true);
    m.layers.at(0).requiresGrad_(false);
    expect(m.numParameters(true)).toBe(m.numParameters() - 21);
    const names: string[] = [];
    m.apply((x) => names.push(x.constructor.name));
    expect(names.at(-1)).toBe('Tied');
    m.to('float64');
    expect([...m.parameters()].every((p) => p.dtype === 'float64')).toBe(true);
  });

  it('rejects duplicate and dotted names', () => {
    const m = new Module();
    m.registerParameter('w', ones([1]));
    expect(() => m.registerParameter('w', ones([1]))).toThrow(/already registered/);
    expect(() => m.registerModule('a.b', new Module())).toThrow(/invalid name/);
  });
});

describe('layers', () => {
  it('Linear computes x W^T + b and initializes within torch bounds', () => {
    const lin = new Linear(64, 8, { generator: new Generator(3) });
    const bound = 1 / Math.sqrt(64);
    const w = Array.from(lin.weight.dataSync());
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(bound * 0.9);
    expect(Math.max(...Array.from(lin.bias!.dataSync(), Math.abs))).toBeLessThanOrEqual(bound);
    const x = randn([5, 64], { generator: new Generator(4) });
    const y = lin.forward(x).dataSync();
    const xs = x.dataSync();
    const ws = lin.weight.dataSync();
    const bs = lin.bias!.dataSync();
    for (let i = 0; i < 5; i++) for (let o = 0; o < 8; o++) {
      let s = bs[o]!;
      for (let k = 0; k < 64; k++) s += xs[i * 64 + k]! * ws[o * 64 + k]!;
      expect(y[i * 8 + o]).toBeCloseTo(s, 4);
    }
  });

  it('Embedding looks rows up and gives the padding row no gradient', () => {
    const e = new Embedding(5, 3, { paddingIdx: 0 });
    expect(Array.from(e.weight.dataSync().subarray(0, 3))).toEqual([0, 0, 0]);
    const y = e.forward([[0, 2, 2], [4, 0, 1]]);
    expect(y.shape).toEqual([2, 3, 3]);
    y.sum().backward();
    const g = e.weight.grad!.tolist() as number[][];
    expect(g[0]).toEqual([0, 0, 0]);
    expect(g[2]).toEqual([2, 2, 2]);
    expect(g[3]).toEqual([0, 0, 0]);
    expect(() => e.forward([[7]])).toThrow(/embedding: .*7/);
  });

  it('LayerNorm normalizes rows to zero mean and unit variance', () => {
    const ln = new LayerNorm(6);
    const y = ln.forward(arange(0, 12, 1, { dtype: 'float32' }).reshape(2, 6));
    for (const row of y.tolist() as number[][]) {
      const mu = row.reduce((a, b) => a + b) / 6;
      const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / 6;
      expect(mu).toBeCloseTo(0, 6);
      expect(v).toBeCloseTo(1 / (1 + 1e-5 / (35 / 12)), 5);
    }
  });
});
