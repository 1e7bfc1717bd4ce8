// The fused training kernels (relu2 backward, layer-norm backward, cross-entropy backward, the Adam / AdamW update) against float64
// references and finite differences, on the WebAssembly path, the TypeScript kernels and the composed fallback.
import { afterEach, describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';
import { allocF32, relu2BackwardF32 } from '../dist/backend/cpu/wasm/index.js';
import { gradcheck, randomArr } from './helpers.js';

afterEach(() => setWasmAccelerators(true));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Largest |a - b| / (|b| + floor). */
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + floor));
  return m;
}

/** Same value, NaN equal to NaN, and the sign of zero kept. */
const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
/** relu2's float32 gradient by definition: g * (r + r), r = relu(x) (NaN kept), each step rounded to float32. */
const relu2Grad = (g: number, x: number) => {
  const r = x > 0 || Number.isNaN(x) ? x : 0;
  return Math.fround(g * Math.fround(r + r));
};
const SPECIAL = [0, -0, 1, -1, 0.5, -2.5, Infinity, -Infinity, NaN, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38, 2e38, 1e-30];

describe('relu2 backward (fused kernel)', () => {
  it('matches finite differences in float64', () => {
    gradcheck((x) => tz.relu2(x!), [randomArr([5, 7], 60, { min: -3, max: 3, awayFromZero: 0.1 })]);
    gradcheck((x) => tz.relu2(x!.transpose(0, 1)), [randomArr([4, 3], 61, { min: -3, max: 3, awayFromZero: 0.1 })]);
  });

  it('the SIMD kernel equals the float32 definition bit for bit: special values, odd lengths, unaligned offsets', () => {
    for (const n of [1, 3, 4, 7, 8, 9, 31, 1027]) {
      for (const off of [0, 1, 3]) {
        const g = allocF32(n + off), x = allocF32(n + off), out = allocF32(n), heapless = new Float32Array(n);
        const vals = randomArr([n + off], 62 + n + off, { min: -4, max: 4 }).data, gv = randomArr([n + off], 63 + n, { min: -4, max: 4 }).data;
        for (let i = 0; i < n + off; i++) {
          x[i] = i % 5 === 0 ? SPECIAL[(i / 5) % SPECIAL.length]! : vals[i]!;
          g[i] = i % 7 === 0 ? SPECIAL[(i / 7 + 3) % SPECIAL.length]! : gv[i]!;
        }
        expect(relu2BackwardF32(g, off, x, off, out, n)).toBe(true);
        // operands off the heap take the copy-in / copy-out route
        expect(relu2BackwardF32(Float32Array.from(g), off, Float32Array.from(x), off, heapless, n)).toBe(true);
        for (let i = 0; i < n; i++) {
          const want = relu2Grad(g[off + i]!, x[off + i]!);
          if (!same(out[i]!, want) || !same(heapless[i]!, want)) expect([n, off, i, out[i], heapless[i]]).toEqual([n, off, i, want, want]);
        }
      }
    }
    expect(() => relu2BackwardF32(new Float32Array(4), 2, new Float32Array(4), 0, new Float32Array(4), 4)).toThrow(RangeError);
  });

  it('float32 gradients: the SIMD route and the TypeScript kernel equal the definition; float64 equals the exact gradient', () => {
    for (const shape of [[3, 5, 7], [8, 1024]]) {
      const x = randomArr(shape, 64 + shape.length, { special: 0.05 }), g = randomArr(shape, 65);
      const grad = (dtype: 'float32' | 'float64', transposed: boolean) => {
        const X = tz.tensor(Float64Array.from(x.data), { dtype, shape, requiresGrad: true });
        const G = tz.tensor(Float64Array.from(g.data), { dtype, shape });
        // a transposed gradient reaches the kernel as a strided view, which it reads through a dense copy
        const y = tz.relu2(X);
        y.backward(transposed ? G.transpose(0, 1).contiguous().transpose(0, 1) : G);
        return X.grad!.dataSync();
      };
      const want = x.data.map((v, i) => relu2Grad(Math.fround(g.data[i]!), Math.fround(v)));
      for (const wasm of [true, false]) {
        setWasmAccelerators(wasm);
        for (const transposed of [false, true]) {
          const got = grad('float32', transposed);
          for (let i = 0; i < got.length; i++) if (!same(got[i]!, want[i]!)) expect([wasm, transposed, i, got[i]]).toEqual([wasm, transposed, i, want[i]]);
        }
      }
      const got64 = grad('float64', false);
      x.data.forEach((v, i) => {
        const r = v > 0 || Number.isNaN(v) ? v : 0;
        if (!same(got64[i]!, g.data[i]! * 2 * r)) expect([i, got64[i]]).toEqual([i, g.data[i]! * 2 * r]);
      });
    }
  });
});

describe('layerNorm backward (fused kernel)', () => {
  it('matches finite differences in float64 (input, weight, bias; one and two normalized dims)', () => {
    for (const ns of [[7], [3, 5]]) {
      const shape = [4, ...ns];
      gradcheck((x, w, b) => tz.layerNorm(x!, ns, w, b), [randomArr(shape, 1), randomArr(ns, 2), randomArr(ns, 3)]);
      gradcheck((x) => tz.layerNorm(x!, ns), [randomArr(shape, 4)]);
    }
  });

  it('float32 gradients equal the float64 reference, with and without the SIMD kernels', () => {
    const x = randomArr([64, 256], 5), w = randomArr([256], 6), b = randomArr([256], 7), g = randomArr([64, 256], 8);
    const grads = (dtype: 'float32' | 'float64') => {
      const [X, W, B] = [x, w, b].map((a) => tz.tensor(Float64Array.from(a.data), { dtype, shape: a.shape, requiresGrad: true }));
      tz.layerNorm(X!, [256], W, B).backward(tz.tensor(Float64Array.from(g.data), { dtype, shape: g.shape }));
      return [X!, W!, B!].map((t) => t.grad!.dataSync());
    };
    const ref = grads('float64');
    for (const wasm of [true, false]) {
      setWasmAccelerators(wasm);
      grads('float32').forEach((v, k) => expect(maxAbsDiff(v, ref[k]!), `grad ${k}, wasm ${wasm}`).toBeLessThan(2e-4));
    }
  });
});

describe('layerNorm backward: the SIMD kernel against the TypeScript kernel', () => {
  it('float32 input, weight and bias gradients agree to float32 rounding (weight and bias, weight only, neither; odd rows)', () => {
    const x = randomArr([37, 96], 50), w = randomArr([96], 51), b = randomArr([96], 52), g = randomArr([37, 96], 53);
    for (const [useW, useB] of [[true, true], [true, false], [false, false]] as const) {
      const grads = () => {
        const X = tz.tensor(Float32Array.from(x.data), { shape: x.shape, requiresGrad: true });
        const W = useW ? tz.tensor(Float32Array.from(w.data), { shape: w.shape, requiresGrad: true }) : null;
        const B = useB ? tz.tensor(Float32Array.from(b.data), { shape: b.shape, requiresGrad: true }) : null;
        tz.layerNorm(X, [96], W, B).backward(tz.tensor(Float32Array.from(g.data), { shape: g.shape }));
        return [X, W, B].filter((t) => t !== null).map((t) => t.grad!.dataSync());
      };
      const simd = grads();
      setWasmAccelerators(false);
      const ts = grads();
      setWasmAccelerators(true);
      expect(simd.length).toBe(1 + Number(useW) + Number(useB));
      simd.forEach((v, k) => expect(maxRelDiff(v, ts[k]!, 1e-3), `grad ${k} (w ${useW}, b ${useB})`).toBeLessThan(1e-5));
    }
  });
});

describe('softmax / logSoftmax backward (fused kernel)', () => {
  it('matches finite differences in float64 along every dim (a 0-d input too)', () => {
    for (const dim of [0, 1, 2, -1]) {
      gradcheck((x) => tz.softmax(x!, dim), [randomArr([3, 4, 5], 20 + dim)]);
      gradcheck((x) => tz.logSoftmax(x!, dim), [randomArr([3, 4, 5], 30 + dim)]);
    }
    gradcheck((x) => tz.softmax(x!, 0), [randomArr([], 40)]);
  });

  it('float32 gradients of attention-shaped rows equal the float64 reference', () => {
    const x = randomArr([4, 128, 128], 41), g = randomArr([4, 128, 128], 42);
    const grad = (dtype: 'float32' | 'float64', log: boolean) => {
      const X = tz.tensor(Float64Array.from(x.data), { dtype, shape: x.shape, requiresGrad: true });
      (log ? tz.logSoftmax(X, -1) : tz.softmax(X, -1)).backward(tz.tensor(Float64Array.from(g.data), { dtype, shape: g.shape }));
      return X.grad!.dataSync();
    };
    for (const log of [false, true]) expect(maxAbsDiff(grad('float32', log), grad('float64', log)), `log ${log}`).toBeLessThan(1e-5);
  });

  it('float32 softmax gradients: the SIMD kernel and the TypeScript kernel agree to float32 rounding and with float64 (even and odd rows)', () => {
    for (const len of [128, 33]) {
      const x = randomArr([3, 7, len], 43 + len), g = randomArr([3, 7, len], 44 + len);
      const grad = (dtype: 'float32' | 'float64') => {
        const X = tz.tensor(Float64Array.from(x.data), { dtype, shape: x.shape, requiresGrad: true });
        tz.softmax(X, -1).backward(tz.tensor(Float64Array.from(g.data), { dtype, shape: g.shape }));
        return X.grad!.dataSync();
      };
      const simd = grad('float32');
      setWasmAccelerators(false);
      const ts = grad('float32');
      setWasmAccelerators(true);
      expect(maxRelDiff(simd, ts, 1e-4), `len ${len}`).toBeLessThan(1e-5);
      expect(maxAbsDiff(simd, grad('float64')), `len ${len}`).toBeLessThan(1e-6);
    }
  });
});

describe('crossEntropy (fused log-softmax + NLL)', () => {
  it('matches finite differences in float64 with ignored targets, weights and every reduction', () => {
    const target = tz.tensor([2, -100, 0, 4, 1], { dtype: 'int32' });
    const weight = tz.tensor([0.5, 1, 2, 1, 0.25], { dtype: 'float64' });
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      gradcheck((l) => tz.crossEntropy(l!, target, { reduction }), [randomArr([5, 5], 9)]);
      gradcheck((l) => tz.crossEntropy(l!, target, { reduction, weight }), [randomArr([5, 5], 10)]);
    }
  });

  it('vocabulary-sized float32 loss and gradient equal the float64 reference, with and without SIMD (odd and even rows)', () => {
    for (const C of [2999, 3000]) {
      const N = 24;
      const logits = randomArr([N, C], 11);
      const t = Array.from({ length: N }, (_, i) => (i % 5 === 0 ? -100 : (i * 977) % C));
      const valid = t.filter((v) => v >= 0).length;
      const ref = new Float64Array(N * C);
      let loss = 0;
      for (let r = 0; r < N; r++) {
        if (t[r]! < 0) continue;
        const row = logits.data.subarray(r * C, (r + 1) * C);
        const m = Math.max(...row);
        let s = 0;
        for (const v of row) s += Math.exp(v - m);
        loss += (m + Math.log(s) - row[t[r]!]!) / valid;
        for (let c = 0; c < C; c++) ref[r * C + c] = (Math.exp(row[c]! - m) / s - (c === t[r] ? 1 : 0)) / valid;
      }
      for (const wasm of [true, false]) {
        setWasmAccelerators(wasm);
        const L = tz.tensor(Float32Array.from(logits.data), { shape: [N, C], requiresGrad: true });
        const out = tz.crossEntropy(L, tz.tensor(t, { dtype: 'int32' }));
        expect(Math.abs(out.item() - loss), `loss, C ${C}, wasm ${wasm}`).toBeLessThan(2e-6 * loss);
        out.backward();
        expect(maxRelDiff(L.grad!.dataSync(), ref, 1e-12), `grad, C ${C}, wasm ${wasm}`).toBeLessThan(2e-6);
      }
    }
  });
});

describe('adamStep_ (fused optimizer update)', () => {
  const n = 1027; // not a multiple of the SIMD width: the tail takes the TypeScript loop
  const cases = [
    { decoupled: true, weightDecay: 0.01, maximize: false },
    { decoupled: false, weightDecay: 0.1, maximize: false },
    { decoupled: true, weightDecay: 0, maximize: true },
  ];
  const opts = (c: (typeof cases)[number], step: number) => ({ lr: 0.003, beta1: 0.9, beta2: 0.99, eps: 1e-8, step, ...c });
  const state = (dtype: 'float32' | 'float64') => ({
    p: tz.tensor(Float64Array.from(randomArr([n], 12).data), { dtype }),
    m: tz.zeros([n], { dtype }),
    v: tz.zeros([n], { dtype }),
  });
  const grad = (step: number, dtype: 'float32' | 'float64') => tz.tensor(Float64Array.from(randomArr([n], 100 + step).data), { dtype });

  it('float64 equals torch.optim\'s update written in plain numbers', () => {
    for (const c of cases) {
      const s = state('float64');
      const p = Array.from(s.p.dataSync()), m = new Array<number>(n).fill(0), v = new Array<number>(n).fill(0);
      for (let step = 1; step <= 3; step++) {
        const g = grad(step, 'float64');
        tz.adamStep_(s.p, g, s.m, s.v, opts(c, step));
        const gd = g.dataSync();
        for (let i = 0; i < n; i++) {
          let d = c.maximize ? -gd[i]! : gd[i]!;
          if (c.weightDecay && c.decoupled) p[i]! *= 1 - 0.003 * c.weightDecay;
          else if (c.weightDecay) d += c.weightDecay * p[i]!;
          m[i] = 0.9 * m[i]! + 0.1 * d;
          v[i] = 0.99 * v[i]! + 0.01 * d * d;
          const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - 0.99 ** step) + 1e-8;
          p[i] = p[i]! - (0.003 / (1 - 0.9 ** step)) * (m[i]! / denom);
        }
      }
      expect(maxAbsDiff(s.p.dataSync(), p), JSON.stringify(c)).toBeLessThan(1e-12);
      expect(maxAbsDiff(s.m.dataSync(), m)).toBeLessThan(1e-12);
    }
  });

  it('float32: the SIMD kernel, the TypeScript kernel and the composed ops agree bit for bit', () => {
    for (const c of cases) {
      const run = (how: 'wasm' | 'ts' | 'composed') => {
        setWasmAccelerators(how === 'wasm');
        const s = state('float32');
        // a strided parameter view is not what the kernels take, so the op composes it from elementwise ops
        const base = tz.zeros([n, 2]);
        const p = how === 'composed' ? base.select(1, 0) : s.p;
        if (how === 'composed') p.copy_(s.p);
        for (let step = 1; step <= 3; step++) tz.adamStep_(p, grad(step, 'float32'), s.m, s.v, opts(c, step));
        return [p.contiguous().dataSync(), s.m.dataSync(), s.v.dataSync()];
      };
      const [w, t, k] = [run('wasm'), run('ts'), run('composed')];
      for (let j = 0; j < 3; j++) {
        expect(Array.from(w[j]!), `${JSON.stringify(c)} wasm vs ts, tensor ${j}`).toEqual(Array.from(t[j]!));
        expect(Array.from(t[j]!), `${JSON.stringify(c)} ts vs composed, tensor ${j}`).toEqual(Array.from(k[j]!));
      }
    }
  });

  it('rejects mismatched shapes and dtypes, naming the op', () => {
    const p = tz.zeros([4]);
    expect(() => tz.adamStep_(p, tz.zeros([5]), tz.zeros([4]), tz.zeros([4]), opts(cases[0]!, 1))).toThrow(/adamStep_: grad \[5\] must have the param's shape \[4\]/);
    expect(() => tz.adamStep_(p, tz.zeros([4], { dtype: 'float64' }), tz.zeros([4]), tz.zeros([4]), opts(cases[0]!, 1))).toThrow(/adamStep_: grad is float64/);
  });
});
