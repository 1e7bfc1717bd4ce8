// Memory discipline of training a tiny Nemotron: after warm-up steps, repeated zeroGrad / forward with the causal-LM
// loss / backward / AdamW steps leave memory() exactly where it was, on the CPU (after a collection, so storages the
// garbage collector reclaimed are counted out) and on WebGPU (GPU memory is not garbage collected: a leak shows at
// once), while the loss goes down.
import { describe, expect, it } from 'vitest';
import { describeWebGPU } from './webgpu-suite.js';
import { Generator, memory, randint, tidy, type Device } from '@tensorzoo/tensor';
import { AdamW } from '@tensorzoo/nn';
import { NemotronConfig, NemotronForCausalLM } from '@tensorzoo/nemotron';
import { settle } from './memory.helpers.js';

async function trainingIsFlat(device: Device): Promise<void> {
  const config = new NemotronConfig({
    vocab_size: 96, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
  });
  const model = new NemotronForCausalLM(config, { generator: new Generator(0) }).to(device).train();
  const ids = randint(0, config.vocab_size, [2, 12], { generator: new Generator(1) }).to(device);
  const opt = new AdamW(model.parameters(), { lr: 3e-3 });
  const step = async (): Promise<number> => {
    opt.zeroGrad();
    const loss = tidy(() => {
      const l = model.forward({ inputIds: ids, labels: ids }).loss!;
      l.backward();
      return l.detach();
    });
    opt.step();
    const v = (await loss.data())[0]!;
    loss.dispose();
    return v;
  };
  const first = await step();
  await step();
  await settle();
  const before = memory(device);
  let last = first;
  for (let i = 0; i < 5; i++) last = await step();
  await settle();
  const after = memory(device);
  expect(after.numTensors).toBe(before.numTensors);
  expect(after.numBytes).toBe(before.numBytes);
  expect(last).toBeLessThan(first);
}

describe('training a tiny Nemotron (cpu)', () => {
  it('zeroGrad + forward with labels + backward + AdamW step, 5 times: memory() flat, loss down', async () => {
    await trainingIsFlat('cpu');
  });
});

describeWebGPU('training a tiny Nemotron (webgpu)', () => {
  it('zeroGrad + forward with labels + backward + AdamW step, 5 times: memory() flat, loss down', async () => {
    await trainingIsFlat('webgpu');
  });
});
