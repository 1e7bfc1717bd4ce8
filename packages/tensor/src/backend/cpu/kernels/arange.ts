// Arithmetic progressions.
import type { Storage } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { cpuAlloc } from '../storage.js';

/** start, start + step, ... (`length` values). */
export function arange(start: number, step: number, length: number, dtype: DType): Storage {
  const out = cpuAlloc(dtype, length);
  for (let i = 0; i < length; i++) out.data[i] = start + i * step;
  return out;
}
