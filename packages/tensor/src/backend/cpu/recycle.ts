// Arrays of disposed CPU storages, kept for the next storage of the same byte size (the CPU side of the WebGPU
// backend's buffer pool). A fresh typed array past a few KiB is fresh memory from the system: its pages fault in on
// first write, which in a virtual machine costs more than the op that writes them (a 512 KiB array: 46 us fresh
// against 7 us reused and zeroed; 4 MiB: 756 against 60). tidy() and the model's per-layer scopes dispose their
// temporaries, so a forward pass reuses the previous layer's arrays. Arrays the garbage collector reclaims undisposed
// are not seen here.
import { SLAB_MAX, type DType, type TypedArray } from '../../dtype.js';

/**
 * Every array past the slabs' limit (dtype.ts allocArray) is pooled: a fresh 4 to 8 KiB buffer cost 20 to 40 us in
 * Chromium (3.5 to 9 in Node), more than the ops that fill one.
 */
const MIN_BYTES = SLAB_MAX + 1;
/** The pool keeps at most this many bytes; beyond it, the size classes used longest ago are dropped first. */
let LIMIT_BYTES = 256 * 2 ** 20;

// Map order is recency: a size class is re-inserted whenever it is taken from or given to.
const pool = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;
let pooledBuffers = 0;

/** The buffers and bytes the pool holds. */
export function recycledMemory(): { pooledBuffers: number; pooledBytes: number } {
  return { pooledBuffers, pooledBytes };
}

/** A zeroed array of `dtype` over a pooled buffer of exactly `bytes` bytes, or null when none is pooled. */
export function takeRecycled(dtype: DType, bytes: number): TypedArray | null {
  if (bytes < MIN_BYTES) return null;
  const list = pool.get(bytes);
  const buf = list?.pop();
  if (!buf) return null;
  pool.delete(bytes);
  if (list!.length > 0) pool.set(bytes, list!);
  pooledBytes -= bytes;
  pooledBuffers--;
  const a = view(dtype, buf);
  a.fill(0);
  return a;
}

/** Gives the array of a disposed storage to the pool when nothing else can see its buffer. */
export function recycle(a: TypedArray): void {
  const bytes = a.byteLength;
  // a view into a larger or shared buffer (a slab, the WebAssembly heap) is not the storage's alone to give away
  if (bytes < MIN_BYTES || bytes > LIMIT_BYTES || a.byteOffset !== 0 || a.buffer.byteLength !== bytes || !(a.buffer instanceof ArrayBuffer)) return;
  for (const [size, list] of pool) {
    if (pooledBytes + bytes <= LIMIT_BYTES) break;
    while (list.length > 0 && pooledBytes + bytes > LIMIT_BYTES) {
      list.pop();
      pooledBytes -= size;
      pooledBuffers--;
    }
    if (list.length === 0) pool.delete(size);
  }
  const list = pool.get(bytes) ?? [];
  pool.delete(bytes);
  list.push(a.buffer);
  pool.set(bytes, list);
  pooledBytes += bytes;
  pooledBuffers++;
}

/** Sets the pool's byte limit (0 turns recycling off; for tests and benchmarks), dropping what no longer fits. */
export function setRecycledLimit(bytes: number): void {
  LIMIT_BYTES = bytes;
  if (pooledBytes > bytes) drainRecycled();
}

/** Drops every pooled buffer (the garbage collector frees them). */
export function drainRecycled(): void {
  pool.clear();
  pooledBytes = 0;
  pooledBuffers = 0;
}

function view(dtype: DType, buf: ArrayBuffer): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'float16': case 'bfloat16': return new Uint16Array(buf);
    case 'bool': case 'q8_0': case 'q4_0': return new Uint8Array(buf);
  }
}
