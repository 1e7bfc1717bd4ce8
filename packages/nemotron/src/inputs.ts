// Model inputs may be int32 tensors (on any device) or plain (nested) number arrays; this turns them into validated
// tensors. Model-agnostic: every decoder of the zoo takes these inputs.
//
// Value checks (token ids within the vocabulary) run on the host where a tensor can be read synchronously. On a
// device that can only be read asynchronously (webgpu) they run on the device, as CUDA's device-side asserts do: the
// embedding's gather raises a flag for an index out of range, and the next read of any tensor on that device (each
// generation step reads its logits; `await t.data()`) throws an error naming the op and the bad value.
import { getBackend, tensor, type Device, type Tensor } from '@tensorzoo/tensor';
import type { DynamicCache } from './cache-utils.js';

/** A [batch, seq] integer input: an int32 tensor (on any device), nested arrays, or one flat row. */
export type IntInput = Tensor | number[][] | number[];

/**
 * Converts an integer input to an int32 tensor of rank `rank` (a flat array becomes one row when rank is 2),
 * on `device` when given (a tensor already there stays where it is: no host round trip).
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

/**
 * Checks token ids are within the vocabulary, naming the first bad id and where it is. Tensors on devices read only
 * asynchronously are checked on the device instead (see the note at the top of this file).
 */
export function checkTokenIds(ids: Tensor, vocabSize: number): void {
  if (!getBackend(ids.device).readSync) return;
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
