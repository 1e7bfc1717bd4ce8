// Memory discipline of generation and forward: after a warm-up, repeated generate() calls (also a stream the
// consumer leaves early) and forward passes with inputs on the model's device leave nothing behind but what they
// return. WebGPU: memory('webgpu') tensor count and bytes exactly flat (GPU memory is not garbage collected). CPU:
// every storage the CPU backend allocates during the calls is counted, and all but the returned ones are disposed.
import { describe, expect, it } from 'vitest';
import { describeWebGPU } from './webgpu-suite.js';
import { getBackend, memory, tidy, type Device, type Storage, type Tensor } from '@tensorzoo/tensor';
import { NemotronForCausalLM, NemotronForQuestionAnswering, NemotronForSequenceClassification } from '@tensorzoo/nemotron';
import { cases, io } from './nemotron.helpers.js';


/** Runs fn while recording every storage the CPU backend allocates; returns those still live afterwards. */
async function liveCpuStoragesAfter(fn: () => Promise<unknown>): Promise<Storage[]> {
  const b = getBackend('cpu') as unknown as Record<string, unknown>;
  const created: Storage[] = [];
  const saved = new Map<string, unknown>();
  const isStorage = (x: unknown): x is Storage => typeof x === 'object' && x !== null && 'disposed' in x && 'dtype' in x;
  for (const [k, f] of Object.entries(b)) {
    if (typeof f !== 'function') continue;
    saved.set(k, f);
    b[k] = (...args: unknown[]) => {
      const r = (f as (...a: unknown[]) => unknown).apply(b, args);
      if (isStorage(r)) created.push(r);
      else if (r && typeof r === 'object' && !(r instanceof Promise) && !ArrayBuffer.isView(r)) for (const v of Object.values(r)) if (isStorage(v)) created.push(v);
      return r;
    };
  }
  try {
    await fn();
  } finally {
    for (const [k, f] of saved) b[k] = f;
  }
  return created.filter((s) => !s.disposed);
}

const generateCase = () => cases().find((c) => c.name === 'causal_lm_generate')!;

async function flatOn(device: Device, label: string, work: () => Promise<Storage[]>): Promise<void> {
  for (const s of await work()) s.dispose(); // warm-up: pipelines, the rotary table's move to the device
  if (device === 'cpu') {
    const kept: Storage[] = [];
    const live = await liveCpuStoragesAfter(async () => {
      for (let i = 0; i < 4; i++) kept.push(...(await work()));
    });
    expect(live.filter((s) => !kept.includes(s)), label).toEqual([]);
    return;
  }
  // Reclaim garbage left before the measurement: a GPU storage dropped earlier would otherwise be counted out by the
  // FinalizationRegistry safety net in the middle of the loop.
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  const before = memory(device);
  const kept: Storage[] = [];
  for (let i = 0; i < 4; i++) kept.push(...(await work()));
  const after = memory(device);
  const keptOnDevice = kept.filter((s) => s.device === device);
  expect(after.numTensors - keptOnDevice.length, label).toBe(before.numTensors);
  expect(after.numBytes - keptOnDevice.reduce((n, s) => n + getBackendBytes(s), 0), label).toBe(before.numBytes);
  for (const s of keptOnDevice) s.dispose();
  expect(memory(device).numTensors).toBe(before.numTensors);
}

/** Bytes memory() counts for a storage (32-bit words; 16-bit floats two per word). */
function getBackendBytes(s: Storage): number {
  return s.dtype === 'float16' || s.dtype === 'bfloat16' ? Math.ceil(s.length / 2) * 4 : s.length * 4;
}

function suite(device: Device): void {
  it(`generate() and a stream left early leave only the returned sequences (${device})`, async () => {
    const c = generateCase();
    const t = await io(c);
    const model = await NemotronForCausalLM.fromPretrained(c.dir, { device });
    const ids = t.get('input_ids')!;
    const onDevice = ids.to(device);
    await flatOn(device, 'generate', async () => {
      const a = await model.generate(ids, { maxNewTokens: 6, prefillChunkSize: 2 });
      const b = await model.generate(onDevice, { maxNewTokens: 4, doSample: true, seed: 1 });
      for await (const s of model.stream(onDevice, { maxNewTokens: 8 })) if (s.step === 2) break; // try/finally frees the cache
      return [a.storage, b.storage];
    });
  });

  it(`forward with every input on the device, inside tidy, leaves only what it returns (${device})`, async () => {
    const byName = new Map(cases().map((c) => [c.name, c]));
    const lm = byName.get('causal_lm_left_pad_position_ids')!;
    const qa = byName.get('question_answering')!;
    const cls = byName.get('seq_cls_single_label')!;
    const [tl, tq, tc] = await Promise.all([io(lm), io(qa), io(cls)]);
    const dev = (m: Map<string, Tensor>) => new Map([...m].map(([k, v]) => [k, v.to(device)]));
    const [dl, dq, dc] = [dev(tl), dev(tq), dev(tc)];
    const mLm = await NemotronForCausalLM.fromPretrained(lm.dir, { device });
    const mQa = await NemotronForQuestionAnswering.fromPretrained(qa.dir, { device });
    const mCls = await NemotronForSequenceClassification.fromPretrained(cls.dir, { device });
    await flatOn(device, 'forward', async () => {
      const out = tidy(() => [
        mLm.forward({ inputIds: dl.get('input_ids')!, attentionMask: dl.get('attention_mask'), positionIds: dl.get('position_ids'), labels: dl.get('labels') }).loss!,
        mQa.forward({ inputIds: dq.get('input_ids')!, attentionMask: dq.get('attention_mask'), startPositions: dq.get('start_positions'), endPositions: dq.get('end_positions') }).loss!,
        mCls.forward({ inputIds: dc.get('input_ids')!, attentionMask: dc.get('attention_mask'), labels: dc.get('labels') }).loss!,
      ]);
      for (const l of out) await l.data();
      return out.map((l) => l.storage);
    });
  });
}

describe('generation memory (cpu)', () => suite('cpu'));

describeWebGPU('generation memory (webgpu)', () => {
  suite('webgpu');
});
