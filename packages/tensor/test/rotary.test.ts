// applyRotaryEmb: the fused CPU kernel against a float64 reference and bit for bit against the composite (narrow, neg,
// cat, mul, add: what runs when a backend has no kernel or cos / sin need a gradient), full and partial rotary, broadcast
// cos / sin, strided inputs; the gradient through the kernel against the composite's.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyRotaryEmb, cpuBackend, Generator, noGrad, randn, type Tensor } from '@tensorzoo/tensor';
import { disableWasm } from '../dist/backend/cpu/wasm/index.js';

/** x * cos + rotate_half(x) * sin on the first d channels, in float64 from the tensors' values. */
function reference(x: Tensor, cos: Tensor, sin: Tensor): Float64Array {
  const D = x.shape[x.ndim - 1]!;
  const d = cos.shape[cos.ndim - 1]!;
  const X = x.contiguous().dataSync();
  const shape = [...x.shape.slice(0, -1), d];
  const C = cos.expand(shape).contiguous().dataSync();
  const S = sin.expand(shape).contiguous().dataSync();
  const out = new Float64Array(X.length);
  for (let r = 0; r < X.length / D; r++) {
    for (let i = 0; i < D; i++) {
      if (i >= d) out[r * D + i] = X[r * D + i]!;
      else {
        const rot = i < d / 2 ? -X[r * D + i + d / 2]! : X[r * D + i - d / 2]!;
        out[r * D + i] = X[r * D + i]! * C[r * d + i]! + rot * S[r * d + i]!;
      }
    }
  }
  return out;
}

/** Runs fn with the CPU backend's rotary kernel removed, so applyRotaryEmb takes the composite. */
function withoutKernel<T>(fn: () => T): T {
  const kernel = cpuBackend.rotaryEmbedding;
  delete (cpuBackend as { rotaryEmbedding?: unknown }).rotaryEmbedding;
  try {
    return fn();
  } finally {
    cpuBackend.rotaryEmbedding = kernel;
  }
}

describe('applyRotaryEmb', () => {
  afterEach(() => vi.restoreAllMocks());
  const g = new Generator(5);
  const cases: [string, number[], number, number][] = [
    // name, x shape [b, heads, s, D], rotary channels d
    ['full rotary', [2, 3, 5, 8], 8, 0], ['partial rotary (half)', [1, 4, 7, 64], 32, 0], ['one position', [1, 4, 1, 64], 32, 0], ['odd pass-through', [2, 2, 3, 10], 4, 0],
  ];
  for (const [name, shape, d] of cases) {
    it(`${name}: x ${JSON.stringify(shape)}, d ${d}: fused equals float64 and the composite bit for bit`, () => {
      const spy = vi.spyOn(cpuBackend, 'rotaryEmbedding');
      const [b, , s, D] = shape as [number, number, number, number];
      // x transposed out of [b, s, heads, D] as the attention's heads are; cos / sin [b, 1, s, d] broadcast over heads
      const x = randn([b, s, shape[1]!, D], { generator: g }).transpose(1, 2);
      const cos = randn([b, 1, s, d], { generator: g });
      const sin = randn([b, 1, s, d], { generator: g });
      const got = noGrad(() => applyRotaryEmb(x, cos, sin));
      expect(spy).toHaveBeenCalledTimes(1);
      expect(got.shape).toEqual(shape);
      const want = reference(x, cos, sin);
      const gd = got.dataSync();
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(gd[i]! - want[i]!));
      expect(err).toBeLessThan(1e-5);
      const recorded = applyRotaryEmb(x.clone().requiresGrad_(true), cos, sin);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(Array.from(recorded.detach().dataSync())).toEqual(Array.from(gd));
      const composite = withoutKernel(() => applyRotaryEmb(x, cos, sin));
      expect(spy).toHaveBeenCalledTimes(2);
      expect(Array.from(composite.dataSync())).toEqual(Array.from(gd));
      // float64 inputs run the kernel without float32 rounding
      const got64 = noGrad(() => applyRotaryEmb(x.double(), cos.double(), sin.double())).dataSync();
      for (let i = 0; i < want.length; i++) expect(Math.abs(got64[i]! - want[i]!)).toBeLessThan(1e-12);
    });
  }

  it('records the gradient through the kernel (d/dx of the rotation is its transpose), equal to the composite\'s', () => {
    const x = randn([1, 2, 3, 6], { generator: g }).requiresGrad_(true);
    const cos = randn([1, 1, 3, 4], { generator: g });
    const sin = randn([1, 1, 3, 4], { generator: g });
    const gy = randn([1, 2, 3, 6], { generator: g });
    const xc = x.detach().clone().requiresGrad_(true);
    withoutKernel(() => applyRotaryEmb(xc, cos, sin).mul(gy).sum().backward());
    const spy = vi.spyOn(cpuBackend, 'rotaryEmbedding');
    applyRotaryEmb(x, cos, sin).mul(gy).sum().backward();
    expect(spy).toHaveBeenCalledTimes(2);
    const gc = xc.grad!.dataSync();
    x.grad!.dataSync().forEach((v, i) => expect(v).toBeCloseTo(gc[i]!, 5));
    // x . rot^T(gy) equals rot(x) . gy for every x: check with the analytic transpose
    const X = x.detach().dataSync();
    const G = x.grad!.dataSync();
    const want = noGrad(() => applyRotaryEmb(x.detach(), cos, sin)).mul(gy).sum().item();
    let dot = 0;
    for (let i = 0; i < X.length; i++) dot += X[i]! * G[i]!;
    expect(dot).toBeCloseTo(want, 4);
  });

  it('the SIMD kernel (rotary width a multiple of 8) equals the TypeScript kernel bit for bit, forward and gradient', () => {
    // the last case's x has a strided last dim (as the key's gradient arriving through k^T): copied, then the kernel
    for (const [shape, d, strided] of [[[2, 4, 9, 64], 32, false], [[1, 3, 5, 24], 16, false], [[2, 2, 4, 8], 8, false], [[2, 4, 6, 64], 32, true]] as const) {
      const [b, h, s, D] = shape;
      const x0 = strided ? randn([b, h, D, s], { generator: g }).transpose(2, 3) : randn([b, s, h, D], { generator: g }).transpose(1, 2);
      const cos = randn([b, 1, s, d], { generator: g });
      const sin = randn([b, 1, s, d], { generator: g });
      const gy = strided ? randn([b, h, D, s], { generator: g }).transpose(2, 3) : randn([...shape], { generator: g });
      const run = () => {
        const x = x0.detach().clone().requiresGrad_(true);
        const y = applyRotaryEmb(x, cos, sin);
        y.mul(gy).sum().backward();
        return [Array.from(y.detach().dataSync()), Array.from(x.grad!.dataSync())];
      };
      const simd = run();
      disableWasm(true);
      let ts: number[][];
      try {
        ts = run();
      } finally {
        disableWasm(false);
      }
      expect(simd[0]).toEqual(ts[0]);
      expect(simd[1]).toEqual(ts[1]);
      const composite = withoutKernel(run);
      expect(simd[1]).toEqual(composite[1]);
    }
  });

  it('rejects cos / sin of different shapes or an odd or too long rotary dim', () => {
    const x = randn([1, 2, 3, 8]);
    expect(() => applyRotaryEmb(x, randn([3, 4]), randn([3, 6]))).toThrow(/applyRotaryEmb/);
    expect(() => applyRotaryEmb(x, randn([3, 5]), randn([3, 5]))).toThrow(/applyRotaryEmb/);
    expect(() => applyRotaryEmb(x, randn([3, 10]), randn([3, 10]))).toThrow(/applyRotaryEmb/);
  });
});
