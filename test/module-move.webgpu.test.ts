// Moving a model between devices frees what it replaces: after the first CPU -> WebGPU -> CPU round trip of a tiny
// Nemotron, further round trips leave memory() where it was on both devices (with a forward pass on each device, whose
// values do not change), the parameter objects stay the same, and while the model is on the GPU the host holds none
// of its weights; fromPretrained(dir, { device: 'webgpu' }) leaves nothing of the checkpoint on the host.
import { expect, it } from 'vitest';
import { describeWebGPU, maxDiff } from './webgpu-suite.js';
import { memory, noGrad, tensor, tidy, type Device, type Tensor } from '@tensorzoo/tensor';
import { NemotronForCausalLM, NemotronForSequenceClassification } from '@tensorzoo/nemotron';
import { join } from 'node:path';
import { FIXTURES } from './nemotron.helpers.js';
import { settle } from './memory.helpers.js';

const IDS = [[1, 5, 9, 2, 7, 3]];

/** What memory() reports that a leak would change (the GPU pools are reused, so they may grow once). */
function held(device: Device) {
  const m = memory(device);
  return { numTensors: m.numTensors, numBytes: m.numBytes, kernelBytes: m.kernelBytes };
}

/** Logits of IDS on the model's device, as a host tensor; everything the forward pass made is freed. */
async function logits(model: NemotronForCausalLM): Promise<Tensor> {
  const device = model.lm_head.weight.device;
  const out = noGrad(() => tidy(() => model.forward({ inputIds: tensor(IDS, { dtype: 'int32', device }) }).logits!));
  const host = await out.cpu();
  if (host !== out) out.dispose();
  return host;
}

describeWebGPU('moving a model between devices frees what it replaces', () => {
  for (const name of ['causal_lm', 'tied_embeddings']) {
    it(`${name}: CPU -> WebGPU -> CPU round trips keep memory() flat on both devices`, async () => {
      await settle();
      const before = held('cpu');
      const model = await NemotronForCausalLM.fromPretrained(join(FIXTURES, name));
      const weight = model.lm_head.weight;
      const loaded = held('cpu');
      const ref = await logits(model);
      const rounds: { cpu: ReturnType<typeof held>; gpu: ReturnType<typeof held> }[] = [];
      for (let round = 0; round < 3; round++) {
        model.to('webgpu');
        expect(model.lm_head.weight).toBe(weight);
        expect(weight.device).toBe('webgpu');
        const onGpu = await logits(model);
        expect(await maxDiff(onGpu, ref)).toBeLessThan(1e-4);
        onGpu.dispose();
        // no weight left on the host: only what was there before loading (and the reference logits)
        expect(held('cpu').numBytes).toBeLessThanOrEqual(before.numBytes + ref.numel() * 4);
        await model.cpu();
        expect(weight.device).toBe('cpu');
        const back = await logits(model);
        expect(await back.data()).toEqual(await ref.data());
        back.dispose();
        await settle();
        rounds.push({ cpu: held('cpu'), gpu: held('webgpu') });
      }
      expect(rounds[0]!.cpu.numBytes).toBeGreaterThanOrEqual(loaded.numBytes); // the weights are back
      expect(rounds[1]).toEqual(rounds[0]);
      expect(rounds[2]).toEqual(rounds[0]);
    });
  }

  it('to(host) from the GPU says to await cpu() and changes nothing', async () => {
    const model = (await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm'))).to('webgpu');
    const before = [held('cpu'), held('webgpu')];
    expect(() => model.to('cpu')).toThrow(/asynchronous; use await model\.cpu\(\)/);
    expect([held('cpu'), held('webgpu')]).toEqual(before);
    expect(model.lm_head.weight.device).toBe('webgpu');
  });

  it("fromPretrained(dir, { device: 'webgpu' }) leaves no checkpoint bytes on the host", async () => {
    // a causal LM, one with tied embeddings, and a classifier whose new head is initialized on the host first
    const loads = [
      () => NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm'), { device: 'webgpu' }),
      () => NemotronForCausalLM.fromPretrained(join(FIXTURES, 'tied_embeddings'), { device: 'webgpu' }),
      () => NemotronForSequenceClassification.fromPretrained(join(FIXTURES, 'causal_lm'), { device: 'webgpu' }),
    ];
    for (const load of loads) {
      const before = held('cpu');
      const model = await load();
      expect(held('cpu').numBytes).toBeLessThanOrEqual(before.numBytes);
      expect(held('cpu').kernelBytes).toBeLessThanOrEqual(before.kernelBytes);
      expect([...model.parameters()].every((p) => p.device === 'webgpu')).toBe(true);
      for (const p of model.parameters()) p.dispose();
    }
  });
});
