// The few-row matmul path on webgpu (decoding's matrix-vector products): up to 4 output rows run one thread per output
// instead of a tiled kernel; it must equal the CPU for transposed weights, 16-bit and quantized weights, batches.
import { expect, it } from 'vitest';
import { dequantize, Generator, matmul, quantize, randn, type Tensor } from '@tensorzoo/tensor';
import { describeWebGPU, maxDiff } from './webgpu-suite.js';

describeWebGPU('matmul with a few rows on webgpu', () => {
  const g = new Generator(11);
  for (const [rows, k, n] of [[1, 256, 4096], [3, 37, 70], [4, 64, 5], [5, 64, 130]] as const) {
    it(`[${rows}, ${k}] x weight^T [${n}, ${k}]: float32, bfloat16, q8_0 and a batch equal the cpu`, async () => {
      const x = randn([rows, k], { generator: g });
      const w = randn([n, k], { generator: g });
      expect(await maxDiff(matmul(x.to('webgpu'), w.to('webgpu').t()), matmul(x, w.t()))).toBeLessThan(1e-4);
      const wb = w.to('bfloat16');
      expect(await maxDiff(matmul(x.to('webgpu'), wb.to('webgpu').t()), matmul(x, wb.t()))).toBeLessThan(1e-4);
      if (k % 32 === 0) {
        const wq = quantize(w, 'q8_0');
        // against the decoded weights in float32 (the CPU's own q8_0 kernel rounds the activations to int16)
        expect(await maxDiff(matmul(x.to('webgpu'), wq.to('webgpu').t()), matmul(x, dequantize(wq).t()))).toBeLessThan(1e-4);
      }
      const xb = randn([2, rows, k], { generator: g });
      const wr = randn([2, k, n], { generator: g });
      expect(await maxDiff(matmul(xb.to('webgpu'), wr.to('webgpu')), matmul(xb, wr))).toBeLessThan(1e-4);
    });
  }
});
