// Block-quantized weights (q8_0 / q4_0, llama.cpp's layouts): quantize / dequantize against ggml's reference
// formulas, and matmul with a quantized B against matmul with the dequantized float32 B on the TypeScript and wasm paths.
import { afterEach, describe, expect, it } from 'vitest';
import { add, dequantize, f16ToNumber, linear, matmul, numberToF16, quantize, randn, manualSeed, tensor, transpose, type QuantDType, type Tensor } from '../dist/index.js';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';
import { allocF32, matmulF32xQ, setNumThreads, setParallelThreshold, wasmKernels } from '../dist/backend/cpu/wasm/index.js';
import { matmulRef } from '../dist/backend/cpu/kernels/matmul.js';
import { quantActLevels } from '../dist/backend/cpu/wasm/gemm.js';
import { quantizeBlocks } from '../dist/quant-blocks.js';

/**
 * ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref transcribed literally, with C's float arithmetic written out:
 * every float operation rounds once to float32 (exact double intermediate, then fround).
 */
function ggmlReference(dtype: QuantDType, x: number[]): number[] {
  const f = Math.fround;
  const out: number[] = [];
  for (let i = 0; i < x.length / 32; i++) {
    const blk = x.slice(i * 32, i * 32 + 32).map(f);
    let amax = 0;
    let max = 0;
    for (const v of blk) if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    const d = dtype === 'q8_0' ? f(amax / ((1 << 7) - 1)) : f(max / -8);
    const id = d ? f(1 / d) : 0;
    const h = numberToF16(d);
    out.push(h & 255, h >> 8);
    if (dtype === 'q8_0') {
      for (const v of blk) {
        const x0 = f(v * id);
        const r = Math.sign(x0) * Math.floor(Math.abs(x0) + 0.5); // roundf: halves away from zero
        out.push((r + 256) % 256);
      }
    } else {
      for (let j = 0; j < 16; j++) {
        const xi0 = Math.min(15, Math.trunc(f(f(blk[j]! * id) + 8.5)));
        const xi1 = Math.min(15, Math.trunc(f(f(blk[16 + j]! * id) + 8.5)));
        out.push(xi0 | (xi1 << 4));
      }
    }
  }
  return out;
}

/** ggml's dequantize_row_*: quant times the f16 scale, in float64 (exact, then compared as float32). */
function ggmlDequant(dtype: QuantDType, bytes: number[]): number[] {
  const bb = dtype === 'q8_0' ? 34 : 18;
  const out: number[] = [];
  for (let o = 0; o < bytes.length; o += bb) {
    const d = f16ToNumber(bytes[o]! | (bytes[o + 1]! << 8));
    if (dtype === 'q8_0') for (let j = 0; j < 32; j++) out.push(((bytes[o + 2 + j]! << 24) >> 24) * d);
    else {
      const lo = [];
      const hi = [];
      for (let j = 0; j < 16; j++) {
        lo.push(((bytes[o + 2 + j]! & 15) - 8) * d);
        hi.push(((bytes[o + 2 + j]! >> 4) - 8) * d);
      }
      out.push(...lo, ...hi);
    }
  }
  return out;
}

function rawBytes(q: Tensor): number[] {
  return [...(q.storage as unknown as { data: Uint8Array }).data];
}

const KINDS: QuantDType[] = ['q8_0', 'q4_0'];

/**
 * Per output, how far a product with quantized B may be from the float32 product with the dequantized B: float32
 * accumulation in another order (2^-20 of sum |x| |w|), plus, where the wasm kernels quantize the activations per block
 * of 32 to `levels` levels per sign (quantActLevels; 0: not quantized), half a step of each block times its sum |w|.
 */
function activationBound(x: Float32Array, m: number, k: number, w: ArrayLike<number>, n: number, levels: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let mag = 0;
      let act = 0;
      for (let b = 0; b < k; b += 32) {
        let amax = 0;
        let wsum = 0;
        for (let e = b; e < b + 32; e++) {
          amax = Math.max(amax, Math.abs(x[i * k + e]!));
          wsum += Math.abs(w[j * k + e]!);
          mag += Math.abs(x[i * k + e]! * w[j * k + e]!);
        }
        act += levels > 0 ? (amax / (2 * levels)) * wsum : 0;
      }
      out.push(mag * 2 ** -20 + act * 1.001 + 1e-30);
    }
  }
  return out;
}

describe('quantize / dequantize', () => {
  it('hand-built q4_0 block: x = j - 16 gives d = 2 and the nibbles ggml writes', () => {
    const x = Array.from({ length: 32 }, (_, j) => j - 16);
    const q = quantize(tensor([x]), 'q4_0');
    const b = rawBytes(q);
    expect(b.slice(0, 2)).toEqual([0x00, 0x40]); // f16 2.0
    // element j: trunc((j - 16) / 2 + 8.5); j + 16: the same plus 8, capped at 15
    const lo = Array.from({ length: 16 }, (_, j) => Math.trunc(j / 2 + 0.5));
    const hi = Array.from({ length: 16 }, (_, j) => Math.min(15, 8 + Math.trunc(j / 2 + 0.5)));
    expect(b.slice(2)).toEqual(lo.map((l, j) => l | (hi[j]! << 4)));
    expect([...dequantize(q).dataSync()]).toEqual([...lo.map((v) => (v - 8) * 2), ...hi.map((v) => (v - 8) * 2)]);
  });

  it('hand-built q8_0 blocks: zeros (scale 0), a single spike (quant -127), a ramp (its extreme quantizes to -127)', () => {
    const zeros = new Array(32).fill(0);
    const spike = zeros.map((_, j) => (j === 5 ? -3 : 0));
    const ramp = zeros.map((_, j) => j * 4 - 64); // amax 64 at j = 0: d = 64 / 127
    const q = quantize(tensor([[...zeros, ...spike, ...ramp]]), 'q8_0');
    const b = rawBytes(q);
    expect(b.slice(0, 34)).toEqual(new Array(34).fill(0));
    expect(b.slice(34 + 2 + 5, 34 + 2 + 6)).toEqual([(256 - 127)]);
    expect(b.slice(68 + 2, 68 + 3)).toEqual([256 - 127]);
    expect(b).toEqual(ggmlReference('q8_0', [...zeros, ...spike, ...ramp]));
  });

  for (const dt of KINDS) {
    it(`${dt}: bytes equal ggml's reference, dequantize equals quant * scale exactly (random and awkward values)`, () => {
      manualSeed(7);
      const rows = 5;
      const cols = 96;
      const vals = [...randn([rows, cols]).dataSync()];
      // awkward values: ties of the rounding, zeros, tiny and large magnitudes, a block of equal values
      vals[3] = 0.5; vals[7] = -0.5; vals[40] = 1e-30; vals[41] = -1e4; vals[100] = 0;
      for (let j = 192; j < 224; j++) vals[j] = 0.3;
      const x = tensor(vals).reshape([rows, cols]);
      const q = quantize(x, dt);
      expect(q.dtype).toBe(dt);
      expect(q.shape).toEqual([rows, cols]);
      const bytes = rawBytes(q);
      expect(bytes).toEqual(ggmlReference(dt, vals));
      const deq = dequantize(q);
      expect(deq.dtype).toBe('float32');
      expect([...deq.dataSync()]).toEqual(ggmlDequant(dt, bytes).map(Math.fround));
      // data() decodes too, and a transposed view decodes element by element
      expect([...q.dataSync()]).toEqual([...deq.dataSync()]);
      expect([...transpose(q, 0, 1).dataSync()]).toEqual([...transpose(deq, 0, 1).contiguous().dataSync()]);
      expect([...dequantize(transpose(q, 0, 1)).dataSync()]).toEqual([...transpose(deq, 0, 1).contiguous().dataSync()]);
      // error bound: half a step for q8_0; one step for q4_0
      const d = deq.dataSync();
      for (let i = 0; i < vals.length; i++) {
        const blk = Math.floor(i / 32);
        const scale = Math.abs(f16ToNumber(bytes[blk * (dt === 'q8_0' ? 34 : 18)]! | (bytes[blk * (dt === 'q8_0' ? 34 : 18) + 1]! << 8)));
        expect(Math.abs(d[i]! - Math.fround(vals[i]!))).toBeLessThanOrEqual(scale * (dt === 'q8_0' ? 0.51 : 1.01) + 1e-6);
      }
    });
  }

  it('refuses clearly: other ops, casts to a quantized dtype, shapes that are not whole blocks', () => {
    const q = quantize(randn([4, 64]), 'q8_0');
    expect(() => add(q, 1)).toThrow(/q8_0 tensors are quantized weights.*dequantize/);
    expect(() => q.sum()).toThrow(/quantized weights/);
    expect(() => randn([4, 64]).to('q4_0')).toThrow(/quantize\(t, 'q4_0'\)/);
    expect(() => quantize(randn([4, 40]), 'q4_0')).toThrow(/multiple of 32/);
    expect(() => quantize(randn([64]), 'q4_0')).toThrow(/2-D/);
    expect(() => matmul(q, randn([64]))).toThrow(/quantized weights.*dequantize/);
    expect([...q.to('float64').dataSync()]).toEqual([...dequantize(q).dataSync()]);
  });
});

describe('matmul with a quantized B equals matmul with the dequantized float32 B', () => {
  afterEach(() => {
    setWasmAccelerators(true);
    setNumThreads(1);
    setParallelThreshold(1 << 22);
  });
  for (const dt of KINDS) {
    it(`${dt}: the wasm kernels run (integer GEMV and GEMM) within the stated bound of the TypeScript reference`, () => {
      expect(wasmKernels()).not.toBeNull();
      manualSeed(3);
      for (const [m, k, n] of [[1, 256, 50], [4, 128, 33], [1, 64, 5]] as const) {
        const a = randn([m, k]).dataSync() as Float32Array;
        a[7] = 40; // one large activation: its block's int16 step is coarser
        const wf = randn([n, k]).dataSync();
        const b = quantizeBlocks(dt, wf);
        const args = { batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: dt };
        const got = allocF32(m * n);
        expect(matmulF32xQ({ ...args, out: got })).toBe(true);
        const want = new Float32Array(m * n);
        matmulRef({ ...args, out: want });
        const bound = activationBound(a, m, k, dequantize(quantize(tensor(Array.from(wf)).reshape([n, k]), dt)).dataSync(), n, quantActLevels(dt, m));
        for (let i = 0; i < m * n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(bound[i]!);
      }
    });
  }
  it('a non-finite activation reaches the output through the float GEMV, as in the reference', () => {
    const k = 64;
    const a = allocF32(k).fill(0.5);
    a[3] = Infinity;
    const b = quantizeBlocks('q8_0', new Float32Array(2 * k).fill(1).map((v, i) => (i === k + 3 ? -1 : v)));
    const out = allocF32(2);
    expect(matmulF32xQ({ batch: 1, m: 1, n: 2, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: 'q8_0', out })).toBe(true);
    expect([...out]).toEqual([Infinity, -Infinity]);
  });
  const shapes: [number, number, number][] = [[1, 32, 1], [1, 96, 37], [1, 1024, 70], [3, 64, 17], [7, 320, 129], [1, 4096, 300]];
  for (const path of ['ts', 'wasm', 'wasm-2-threads'] as const) {
    for (const dt of KINDS) {
      it(`${path}, ${dt}: linear(x, W) for m, k, n in ${JSON.stringify(shapes)}, and a row slice of W`, () => {
        setWasmAccelerators(path !== 'ts');
        if (path === 'wasm-2-threads') {
          setNumThreads(2);
          setParallelThreshold(1);
        }
        manualSeed(11);
        for (const [m, k, n] of shapes) {
          const w = randn([n, k]);
          const x = randn([m, k]);
          const q = quantize(w, dt);
          const wf = dequantize(q);
          const got = linear(x, q).dataSync();
          const want = linear(x, wf).dataSync();
          // float32 accumulation in different orders: relative to the sum of |x| |w|
          const bound = activationBound(x.dataSync() as Float32Array, m, k, wf.dataSync(), n, path !== 'ts' ? quantActLevels(dt, m) : 0);
          for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(bound[i]!);
        }
        // a view of rows 3.. of W (offset on a block boundary) and a 1-D x
        const w = randn([20, 64]);
        const q = quantize(w, dt).narrow(0, 3, 10);
        const x = randn([64]);
        const got = matmul(x, transpose(q, 0, 1)).dataSync();
        const wq = dequantize(q);
        const want = matmul(x, transpose(wq, 0, 1)).dataSync();
        const bound = activationBound(x.dataSync() as Float32Array, 1, 64, wq.dataSync(), 10, path !== 'ts' ? quantActLevels(dt, 1) : 0);
        for (let i = 0; i < 10; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(bound[i]!);
      });
    }
  }
});
