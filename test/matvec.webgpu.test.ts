// The few-row matmul path on webgpu (decoding's matrix-vector products): up to 4 output rows run one thread per output
// instead of a tiled kernel (quantized weights: the block GEMV); it must equal the CPU for transposed weights, 16-bit
// and quantized weights (also row views and strided activations), batches.
import { expect, it } from 'vitest';
import { dequantize, Generator, matmul, quantize, randn, type Tensor } from '@tensorzoo/tensor';
import { describeWebGPU, maxDiff } from './webgpu-suite.js';

describeWebGPU('matmul with a few rows on webgpu', () => {
  const g = new Generator(11);
  for (const [rows, k, n] of [[1, 256, 4096], [3, 37, 70], [4, 64, 5], [5, 64, 130]] as const) {
    it(`[${rows}, ${k}] x weight^T [${n}, ${k}]: float32, bfloat16, q8_0, q4_0 and a batch equal the cpu`, async () => {
      const x = randn([rows, k], { generator: g });
      const w = randn([n, k], { generator: g });
      expect(await maxDiff(matmul(x.to('webgpu'), w.to('webgpu').t()), matmul(x, w.t()))).toBeLessThan(1e-4);
      const wb = w.to('bfloat16');
      expect(await maxDiff(matmul(x.to('webgpu'), wb.to('webgpu').t()), matmul(x, wb.t()))).toBeLessThan(1e-4);
      if (k % 32 === 0) {
        for (const q of ['q8_0', 'q4_0'] as const) {
          const wq = quantize(w, q);
          // against the decoded weights in float32 (the CPU's own quantized kernel rounds the activations to int16)
          expect(await maxDiff(matmul(x.to('webgpu'), wq.to('webgpu').t()), matmul(x, dequantize(wq).t())), q).toBeLessThan(1e-4);
          // a view starting at a later row (block-aligned offset), and a strided activation row
          if (n > 2) {
            const rows2 = wq.narrow(0, 1, n - 2);
            const xs = randn([k, rows], { generator: g }).t();
            expect(await maxDiff(matmul(xs.to('webgpu'), rows2.to('webgpu').t()), matmul(xs, dequantize(rows2).t())), q).toBeLessThan(1e-4);
          }
        }
      }
      const xb = randn([2, rows, k], { generator: g });
      const wr = randn([2, k, n], { generator: g });
      expect(await maxDiff(matmul(xb.to('webgpu'), wr.to('webgpu')), matmul(xb, wr))).toBeLessThan(1e-4);
    });
  }
});
