// CPU memory: a typed array per storage.
import type { Storage } from '../../backend.js';
import { allocArray, arrayLength, elementCount, isQuantized, itemSize, type DType, type TypedArray } from '../../dtype.js';
import { allocF32, allocI32, allocU16, allocU8, release } from './wasm/index.js';
import { memoryOf } from './wasm/heap.js';
import { recycle, takeRecycled } from './recycle.js';

const live = { storages: 0, bytes: 0 };
/** A storage's entry in the live counts: its bytes while counted, 0 once counted out. */
interface Counted {
  bytes: number;
}
/**
 * Counts a storage out when the garbage collector reclaims it undisposed (CPU tensors need no dispose()). dispose()
 * zeroes the entry rather than unregistering: a registration with an unregister token costs several times one
 * without (about 2 us against 0.5 us on Node 20), a large part of a small op.
 */
const collected: FinalizationRegistry<Counted> | null =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<Counted>((c) => {
    if (c.bytes >= 0) count(-1, -c.bytes);
  }) : null;
function count(storages: number, bytes: number): void {
  live.storages += storages;
  live.bytes += bytes;
}

/** Live CPU storages and their bytes: those neither disposed nor reclaimed by the garbage collector yet. */
export function cpuLive(): { storages: number; bytes: number } {
  return { ...live };
}

/** A CPU buffer: one typed array of the dtype's kind. */
export class CpuStorage implements Storage {
  readonly device = 'cpu' as const;
  disposed = false;
  private readonly counted: Counted;
  constructor(readonly dtype: DType, private array: TypedArray) {
    count(1, array.byteLength);
    this.counted = { bytes: array.byteLength };
    collected?.register(this, this.counted);
  }
  get length(): number {
    return elementCount(this.dtype, this.array.length);
  }
  /** The backing array; throws once disposed so a use-after-free is an error, not garbage. */
  get data(): TypedArray {
    if (this.disposed) throw new Error('tensor was disposed: its memory can no longer be read');
    return this.array;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    count(-1, -this.array.byteLength);
    this.counted.bytes = -1;
    const a = this.array;
    if (!(a instanceof Float64Array) && memoryOf(a) >= 0) release(a);
    else recycle(a);
    this.array = allocArray(this.dtype, 0);
  }
}

/**
 * A fresh zeroed CPU storage. Ordinary tensors are plain typed arrays, freed by the garbage collector as soon as they
 * are unreachable. `resident` storages live on the shared WebAssembly heap, where the SIMD kernels read them in place
 * without a copy: that is for long-lived tensors (weights), because heap blocks of dropped tensors are only returned
 * by a FinalizationRegistry, which never runs inside a synchronous loop; a training loop allocating its temporaries
 * there would exhaust the heap.
 */
export function cpuAlloc(dtype: DType, n: number, resident = false): CpuStorage {
  if (!resident) return new CpuStorage(dtype, takeRecycled(dtype, n * itemSize(dtype)) ?? allocArray(dtype, n));
  const a = dtype === 'float32' ? allocF32(n) : dtype === 'int32' ? allocI32(n) : dtype === 'float16' || dtype === 'bfloat16' ? allocU16(n) : isQuantized(dtype) ? allocU8(arrayLength(dtype, n)) : allocArray(dtype, n);
  return new CpuStorage(dtype, a);
}

/** Whether an array lives on the WebAssembly heap, in any of its memories (kernels on that memory read it in place). */
export function onHeap(a: TypedArray): boolean {
  return memoryOf(a) >= 0;
}

/** The typed array behind a CPU storage. */
export function arr(s: Storage): TypedArray {
  return (s as CpuStorage).data;
}
