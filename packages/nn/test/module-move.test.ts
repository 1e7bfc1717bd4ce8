// Module.to / loadStateDict replace the memory of every parameter, buffer and gradient they touch: each tensor object
// keeps its identity (as torch's param.data = ...), the memory it had is freed, and memory a caller lent through
// loadStateDict({ assign: true }) stays valid. CPU here; the device moves are in test/module-move.webgpu.test.ts.
import { describe, expect, it } from 'vitest';
import { Generator, memory, noGrad, quantize, randn, tensor, type Tensor } from '@tensorzoo/tensor';
import { Embedding, Linear, Module } from '@tensorzoo/nn';

/** Embedding and output projection sharing one weight (tied), plus a bias and a buffer. */
class Tied extends Module {
  readonly emb: Embedding;
  readonly head: Linear;
  readonly scale: Tensor;
  constructor() {
    super();
    const g = new Generator(1);
    this.emb = this.registerModule('emb', new Embedding(6, 4, { generator: g }));
    this.head = this.registerModule('head', new Linear(4, 6, { weight: this.emb.weight, generator: g }));
    this.scale = this.registerBuffer('scale', tensor([2, 3, 4, 5]));
  }
}

const snapshot = () => {
  const m = memory('cpu');
  return { numTensors: m.numTensors, numBytes: m.numBytes, kernelBytes: m.kernelBytes };
};

describe('Module.to(dtype) frees what it replaces', () => {
  it('keeps each parameter object, frees its old memory, keeps ties and leaves memory() flat over round trips', async () => {
    const m = new Tied();
    const w = m.head.weight;
    const values = await w.clone().data();
    const before = snapshot();
    const old = [...m.parameters(), m.scale].map((t) => t.storage);
    m.to('float64');
    expect(old.every((s) => s.disposed)).toBe(true);
    expect(m.head.weight).toBe(w);
    expect(m.emb.weight.storage).toBe(m.head.weight.storage);
    expect(w.dtype).toBe('float64');
    expect(w.requiresGrad).toBe(true);
    m.to('float32');
    const after = snapshot();
    expect(after).toEqual(before);
    for (let i = 0; i < 2; i++) m.to('bfloat16').to('float32');
    expect(snapshot()).toEqual(after);
    expect(await w.data()).toEqual(values.map(bf16));
  });

  it('casts and frees gradients with their parameters', () => {
    const lin = new Linear(3, 2, { generator: new Generator(2) });
    lin.forward(randn([4, 3], { generator: new Generator(3) })).sum().backward();
    const grad = lin.weight.grad!;
    const oldGrad = grad.storage;
    lin.to('float64');
    expect(lin.weight.grad).toBe(grad);
    expect(grad.dtype).toBe('float64');
    expect(oldGrad.disposed).toBe(true);
  });

  it('frees views of the old memory with it (stateDict() entries share it); clones survive', async () => {
    const lin = new Linear(3, 2, { generator: new Generator(4) });
    const view = lin.stateDict().get('weight')!;
    const copy = view.clone();
    lin.to('float64');
    expect(view.isDisposed).toBe(true);
    expect(Array.from(await copy.data())).toEqual(Array.from(await lin.weight.data()));
  });

  it('leaves int32 buffers alone on a dtype cast', () => {
    const m = new Module();
    const ids = m.registerBuffer('ids', tensor([1, 2, 3], { dtype: 'int32' }));
    const storage = ids.storage;
    m.to('float64');
    expect(ids.storage).toBe(storage);
    expect(storage.disposed).toBe(false);
  });

  it('leaves quantized weights alone on a dtype cast (torch casts only floating tensors)', () => {
    // as fromPretrained({ dtype: 'q8' }) loads a Linear: the parameter object takes the quantized blocks
    const m = new Linear(64, 4, { generator: new Generator(1) });
    const q = quantize(m.weight, 'q8_0');
    noGrad(() => m.weight.set_(q));
    const storage = m.weight.storage;
    m.to('bfloat16');
    expect(m.weight.dtype).toBe('q8_0');
    expect(m.weight.storage).toBe(storage);
    expect(storage.disposed).toBe(false);
    expect(m.bias!.dtype).toBe('bfloat16');
  });
});

describe('loadStateDict frees what it replaces', () => {
  it('assign: the old memory is freed; the caller\'s tensors stay valid, also after a later to()', async () => {
    const lin = new Linear(3, 2, { generator: new Generator(5) });
    const old = [lin.weight.storage, lin.bias!.storage];
    const weight = randn([2, 3], { generator: new Generator(6) }).pin_();
    const bias = randn([2], { generator: new Generator(7) });
    const values = [await weight.clone().data(), await bias.clone().data()];
    lin.loadStateDict({ weight, bias }, { assign: true });
    expect(old.every((s) => s.disposed)).toBe(true);
    expect(await lin.weight.data()).toEqual(values[0]);
    lin.to('float64');
    // the pinned weight was adopted as it is (the module shares its memory) and the bias copied into place: both stay
    // the caller's, untouched by the module replacing its own memory
    expect(weight.isDisposed).toBe(false);
    expect(bias.isDisposed).toBe(false);
    expect(await weight.data()).toEqual(values[0]);
    expect(await bias.data()).toEqual(values[1]);
  });

  it('copy (the default): memory() is flat over repeated loads', () => {
    const lin = new Linear(3, 2, { generator: new Generator(8) });
    const dict = new Map([['weight', randn([2, 3], { dtype: 'float64' })], ['bias', randn([2], { dtype: 'float64' })]]);
    lin.loadStateDict(dict);
    const before = snapshot();
    for (let i = 0; i < 3; i++) lin.loadStateDict(dict);
    expect(snapshot()).toEqual(before);
  });
});

/** v rounded to the nearest bfloat16 (ties to even), as a float32 bit pattern's upper half. */
function bf16(v: number): number {
  const u = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  const r = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
  return new Float32Array(new Uint32Array([r >>> 0]).buffer)[0]!;
}
