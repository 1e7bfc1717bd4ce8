// Resumable training: model, optimizer and schedule state in one safetensors file (tensors as tensors,
// hyperparameters and counters as JSON in the metadata), so a stopped run continues bit for bit.
import { openSafetensors, saveSafetensors, type Tensor } from '@tensorzoo/tensor';
import type { Module } from './module.js';
import type { Optimizer, OptimizerStateDict, ParamState } from './optim/optimizer.js';
import type { LambdaLR } from './optim/schedule.js';

/** What a training checkpoint holds. */
export interface TrainingState {
  model: Module;
  optimizer?: Optimizer<{ lr: number }>;
  scheduler?: LambdaLR;
  /** Anything JSON-serializable (epoch, step, best metric, RNG seed...). */
  extra?: Record<string, unknown>;
}

const FORMAT = 'tensorzoo-training-state/1';

/** Writes model weights, optimizer moments and schedule position to one safetensors file. */
export async function saveTrainingState(path: string, state: TrainingState): Promise<void> {
  const tensors = new Map<string, Tensor>();
  for (const [k, v] of state.model.stateDict()) tensors.set(`model.${k}`, v);
  const meta: Record<string, string> = { format: FORMAT, extra: JSON.stringify(state.extra ?? {}) };
  if (state.optimizer) {
    const sd = state.optimizer.stateDict();
    const numbers: Record<string, Record<string, number>> = {};
    for (const [i, s] of Object.entries(sd.state)) {
      for (const [name, v] of Object.entries(s)) {
        if (typeof v === 'number') (numbers[i] ??= {})[name] = v;
        else tensors.set(`optimizer.${i}.${name}`, v);
      }
    }
    meta.optimizer = JSON.stringify({ type: state.optimizer.constructor.name, paramGroups: sd.paramGroups, numbers });
  }
  if (state.scheduler) meta.scheduler = JSON.stringify(state.scheduler.stateDict());
  await saveSafetensors(path, tensors, meta);
}

/** Restores a saveTrainingState() file into the given model / optimizer / scheduler; returns its `extra`. */
export async function loadTrainingState(path: string, into: TrainingState): Promise<Record<string, unknown>> {
  const file = await openSafetensors(path);
  const meta = file.metadata;
  const tensors = new Map<string, Tensor>();
  try {
    for (const name of file.names) tensors.set(name, await file.get(name));
  } finally {
    await file.close();
  }
  if (meta.format !== FORMAT) throw new Error(`loadTrainingState: ${path} is not a tensorzoo training state (format '${meta.format ?? 'missing'}')`);
  const model = new Map<string, Tensor>();
  for (const [k, v] of tensors) if (k.startsWith('model.')) model.set(k.slice('model.'.length), v);
  into.model.loadStateDict(model);
  if (into.optimizer) {
    if (!meta.optimizer) throw new Error(`loadTrainingState: ${path} has no optimizer state`);
    const o = JSON.parse(meta.optimizer) as { type: string; paramGroups: OptimizerStateDict<{ lr: number }>['paramGroups']; numbers: Record<string, Record<string, number>> };
    if (o.type !== into.optimizer.constructor.name) throw new Error(`loadTrainingState: ${path} holds ${o.type} state, not ${into.optimizer.constructor.name}`);
    const state: Record<number, ParamState> = {};
    for (const [i, nums] of Object.entries(o.numbers)) state[Number(i)] = { ...nums };
    for (const [k, v] of tensors) {
      const m = /^optimizer\.(\d+)\.(.+)$/.exec(k);
      if (m) (state[Number(m[1])] ??= {})[m[2]!] = v;
    }
    into.optimizer.loadStateDict({ state, paramGroups: o.paramGroups });
  }
  if (into.scheduler) {
    if (!meta.scheduler) throw new Error(`loadTrainingState: ${path} has no scheduler state`);
    into.scheduler.loadStateDict(JSON.parse(meta.scheduler) as { lastEpoch: number; baseLrs: number[] });
  }
  return JSON.parse(meta.extra ?? '{}') as Record<string, unknown>;
}
