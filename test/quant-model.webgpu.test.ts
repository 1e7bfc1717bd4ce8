// The shipped model with q8_0 decoder weights moved to WebGPU: its logits match the same quantized model on the CPU
// (the GPU decodes the blocks in its matmul kernel; the CPU GEMV quantizes activations to int16, hence a tolerance),
// and a saved quantized checkpoint loaded onto the GPU directly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeWebGPU, maxDiff } from './webgpu-suite.js';
import { noGrad, tensor } from '@tensorzoo/tensor';
import { NemotronForCausalLM } from '@tensorzoo/nemotron';

const IDS = [[2, 150, 9, 33, 871, 40, 12]];

/** The largest difference between the logits of IDS from a CPU model and a WebGPU model. */
async function logitsGap(cpu: NemotronForCausalLM, gpu: NemotronForCausalLM): Promise<number> {
  const want = noGrad(() => cpu.forward({ inputIds: tensor(IDS, { dtype: 'int32' }) }).logits!);
  const got = noGrad(() => gpu.forward({ inputIds: tensor(IDS, { dtype: 'int32' }).to('webgpu') }).logits!);
  return maxDiff(got, want);
}

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'models', 'kjv-nemotron-mini');

describeWebGPU('quantized model on webgpu', () => {
  it('q8_0 weights keep their dtype on the GPU and give the CPU logits within 0.01', async () => {
    const cpu = await NemotronForCausalLM.fromPretrained(DIR, { dtype: 'q8' });
    const gpu = (await NemotronForCausalLM.fromPretrained(DIR, { dtype: 'q8' })).to('webgpu');
    expect(gpu.stateDict().get('model.layers.0.mlp.up_proj.weight')!.dtype).toBe('q8_0');
    expect(await logitsGap(cpu, gpu)).toBeLessThanOrEqual(0.01);
  });
});

describeWebGPU('quantized checkpoint loaded onto webgpu', () => {
  it("a saved q4 checkpoint loads straight to the GPU (fromPretrained's device) with the CPU's logits within 0.01", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tz-qckpt-gpu-'));
    try {
      const cpu = await NemotronForCausalLM.fromPretrained(DIR, { dtype: 'q4' });
      await cpu.savePretrained(dir);
      const gpu = await NemotronForCausalLM.fromPretrained(dir, { device: 'webgpu' });
      const w = gpu.stateDict().get('model.layers.3.self_attn.q_proj.weight')!;
      expect([w.dtype, w.device]).toEqual(['q4_0', 'webgpu']);
      expect(await logitsGap(cpu, gpu)).toBeLessThanOrEqual(0.01);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
