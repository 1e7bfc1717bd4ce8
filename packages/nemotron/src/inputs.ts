// Model inputs may be int32 tensors or plain (nested) number arrays; this turns them into validated tensors.
// Model-agnostic: every decoder of the zoo takes these inputs.
import { tensor, type Device, type Tensor } from '@tensorzoo/tensor';
import type { DynamicCache } from './cache-utils.js';

/** A [batch, seq] integer input: an int32 tensor, nested arrays, or one flat row. */
export type IntInput = Tensor | number[][] | number[];

/**
 * Converts an integer input to an int32 tensor of rank `rank` (a flat array becomes one row when rank is 2),
 * on `device` when given (checks run on the host data first).
 */
export function toIntTensor(name: string, x: IntInput, rank: number, device?: Device): Tensor {
  let t: Tensor;
  if (Array.isArray(x)) {
    const rows = rank === 2 && !Array.isArray(x[0]) ? [x as number[]] : x;
    t = tensor(rows as number[][], { dtype: 'int32' });
    for (const v of t.dataSync()) if (!Number.isInteger(v)) throw new Error(`${name}: expected integers`);
  } else {
    t = x.dtype === 'int32' ? x : x.int();
  }
  if (t.ndim !== rank) throw new Error(`${name}: expected ${rank} dims, got shape [${t.shape.join(',')}]`);
  return device && t.device !== device ? t.to(device) : t;
}

/** Checks token ids are within the vocabulary (CPU tensors), naming the first bad id and where it is. */
export function checkTokenIds(ids: Tensor, vocabSize: number): void {
  if (ids.device !== 'cpu') return;
  const d = ids.dataSync();
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v < 0 || v >= vocabSize) {
      const row = Math.floor(i / (ids.shape[1] ?? 1));
      throw new Error(`input_ids: token id ${v} at [${row}, ${i % (ids.shape[1] ?? 1)}] is out of range for vocab_size ${vocabSize}`);
    }
  }
}

/** Inputs of a decoder's forward (transformers' argument names in camelCase); heads add their labels. */
export interface DecoderInputs {
  inputIds: IntInput;
  /** [batch, past + seq]: 1 = attend, 0 = padding. */
  attentionMask?: IntInput | null;
  /** [batch, seq]; default past..past+seq-1 on every row (even with left padding, as HF). */
  positionIds?: IntInput | null;
  pastKeyValues?: DynamicCache | null;
  useCache?: boolean;
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}
