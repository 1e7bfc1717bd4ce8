// Casting a model's weights (Module.to(dtype)) frees the memory it replaces: on a tiny Nemotron, float32 -> bfloat16
// halves the host's weight bytes, and float32 <-> bfloat16 round trips leave memory() where the first one left it.
// The device moves are in module-move.webgpu.test.ts.
import { expect, it } from 'vitest';
import { memory, noGrad, tensor, tidy } from '@tensorzoo/tensor';
import { NemotronForCausalLM } from '@tensorzoo/nemotron';
import { join } from 'node:path';
import { FIXTURES } from './nemotron.helpers.js';

const held = () => {
  const m = memory('cpu');
  return { numTensors: m.numTensors, numBytes: m.numBytes, kernelBytes: m.kernelBytes };
};

it('a tiny Nemotron cast to bfloat16 and back keeps memory() flat, its parameter objects and its outputs', async () => {
  const model = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm'));
  const params = [...model.parameters()];
  const weightBytes = params.reduce((n, p) => n + p.numel() * 4, 0);
  const run = () => noGrad(() => tidy(() => model.forward({ inputIds: tensor([[1, 4, 2, 8]], { dtype: 'int32' }) }).logits!));
  const loaded = held();
  model.to('bfloat16');
  expect(loaded.numBytes - held().numBytes).toBe(weightBytes / 2);
  const bf16 = run();
  model.to('float32');
  const first = held();
  for (let i = 0; i < 2; i++) model.to('bfloat16').to('float32');
  expect(held()).toEqual(first);
  expect([...model.parameters()].every((p, i) => p === params[i])).toBe(true);
  // bfloat16 -> float32 is exact, so the float32 model now computes what the bfloat16 one did
  const again = run();
  expect(Array.from(again.dataSync())).toEqual(Array.from(bf16.dataSync()));
});
