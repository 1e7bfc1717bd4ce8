// Quantized weights on WebGPU: q8_0 / q4_0 blocks uploaded as bytes, read back unchanged, decoded exactly by
// dequantize, and matmul / linear with a quantized B equal to the same product with the dequantized float32 B.
import { expect, it } from 'vitest';
import { describeWebGPU } from '../../../test/webgpu-suite.js';
import * as tz from '../dist/index.js';


describeWebGPU('webgpu: quantized weights', () => {
  for (const dt of tz.QUANT_DTYPES) {
    it(`${dt}: round trip of the bytes, dequantize (also of a transposed view), linear for GEMV and GEMM shapes`, async () => {
      tz.manualSeed(5);
      for (const [m, k, n] of [[1, 64, 37], [1, 160, 70], [5, 64, 20]] as const) {
        const w = tz.randn([n, k]);
        const q = tz.quantize(w, dt);
        const qg = q.to('webgpu');
        expect(qg.dtype).toBe(dt);
        const back = await qg.cpu();
        expect([...(back.storage as unknown as { data: Uint8Array }).data]).toEqual([...(q.storage as unknown as { data: Uint8Array }).data]);
        const wf = tz.dequantize(q);
        expect([...(await tz.dequantize(qg).data())]).toEqual([...wf.dataSync()]);
        expect([...(await tz.dequantize(tz.transpose(qg, 0, 1)).data())]).toEqual([...tz.transpose(wf, 0, 1).contiguous().dataSync()]);
        const x = tz.randn([m, k]);
        const got = await tz.linear(x.to('webgpu'), qg).data();
        const want = await tz.linear(x.to('webgpu'), wf.to('webgpu')).data();
        const mag = tz.matmul(x.abs(), tz.transpose(wf.abs(), 0, 1)).dataSync();
        for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(mag[i]! * 2 ** -19 + 1e-30);
      }
    });
  }
  it('refuses other ops on quantized tensors', () => {
    const qg = tz.quantize(tz.randn([4, 32]), 'q8_0').to('webgpu');
    expect(() => tz.add(qg, 1)).toThrow(/quantized weights/);
  });
});
