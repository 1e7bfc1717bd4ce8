// CPU memory: a typed array per storage.
import type { Storage } from '../../backend.js';
import { allocArray, type DType, type TypedArray } from '../../dtype.js';

/** A CPU buffer: one typed array of the dtype's kind. */
export class CpuStorage implements Storage {
  readonly device = 'cpu' as const;
  disposed = false;
  constructor(readonly dtype: DType, private array: TypedArray) {}
  get length(): number {
    return this.array.length;
  }
  /** The backing array; throws once disposed so a use-after-free is an error, not garbage. */
  get data(): TypedArray {
    if (this.disposed) throw new Error('tensor was disposed: its memory can no longer be read');
    return this.array;
  }
  dispose(): void {
    this.disposed = true;
    this.array = allocArray(this.dtype, 0);
  }
}

/** A fresh zeroed CPU storage. */
export function cpuAlloc(dtype: DType, n: number): CpuStorage {
  return new CpuStorage(dtype, allocArray(dtype, n));
}

/** The typed array behind a CPU storage. */
export function arr(s: Storage): TypedArray {
  return (s as CpuStorage).data;
}
