// The CPU heap: one WebAssembly.Memory (shared when SharedArrayBuffer exists) holding tensor storage
// and kernel scratch. A small first-fit allocator with coalescing hands out 64-byte aligned blocks.
//
// Contract for callers: keep a reference to the array returned by allocF32/allocI32/allocU16 for as long as
// any view derived from it (subarray, new Float32Array(a.buffer, ...)) is in use; when that array
// object is collected, its block goes back to the allocator.

const PAGE = 65536;
const ALIGN = 64;
/** Largest heap in pages: 4 GiB minus one page (wasm32 limit). */
export const MAX_PAGES = 65535;
const INITIAL_PAGES = 256; // 16 MiB

export interface Heap {
  mem: WebAssembly.Memory;
  shared: boolean;
  maxPages: number;
}

let heap: Heap | null | undefined;
const heapBuffers = new WeakSet<object>();

/** The wasm memory, created on first use; null when WebAssembly is unavailable. */
export function getHeap(): Heap | null {
  if (heap !== undefined) return heap;
  heap = null;
  if (typeof WebAssembly === 'undefined' || typeof WebAssembly.Memory !== 'function') return heap;
  if (typeof SharedArrayBuffer !== 'undefined') {
    try {
      const mem = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
      if (mem.buffer instanceof SharedArrayBuffer) heap = { mem, shared: true, maxPages: MAX_PAGES };
    } catch {
      /* fall through */
    }
  }
  if (!heap) {
    try {
      // Not shared: growing detaches old views, so tensor storage never lives here (scratch only).
      const mem = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES });
      heap = { mem, shared: false, maxPages: MAX_PAGES };
    } catch {
      heap = null;
    }
  }
  if (heap) {
    top = ALIGN; // keep address 0 unused
    heapBuffers.add(heap.mem.buffer);
  }
  return heap;
}

/** The memory's current buffer (recorded as a heap buffer). */
export function heapBuffer(): ArrayBuffer {
  const b = getHeap()!.mem.buffer;
  heapBuffers.add(b);
  return b as ArrayBuffer;
}

/** Byte address of `a` in the shared heap, or -1 when `a` lives elsewhere. */
export function heapPtr(a: ArrayBufferView): number {
  return heap && heap.shared && heapBuffers.has(a.buffer) ? a.byteOffset : -1;
}

// ---- allocator ----
let top = ALIGN; // bump pointer (bytes)
const freeStart: number[] = []; // sorted free blocks
const freeSize: number[] = [];
const live = new Map<number, number>(); // ptr -> bytes
let liveBytes = 0;

function ensure(bytes: number): boolean {
  const h = heap!;
  const have = h.mem.buffer.byteLength;
  if (bytes <= have) return true;
  const needPages = Math.ceil((bytes - have) / PAGE);
  const curPages = have / PAGE;
  if (curPages + needPages > h.maxPages) return false;
  // Grow by at least a quarter of the current size to amortise.
  const pages = Math.min(h.maxPages - curPages, Math.max(needPages, Math.ceil(curPages / 4)));
  try {
    h.mem.grow(pages);
  } catch {
    try {
      h.mem.grow(needPages);
    } catch {
      return false;
    }
  }
  heapBuffers.add(h.mem.buffer);
  return true;
}

/** Allocates `bytes` (rounded up to 64) in the heap; returns the address, or -1 if it cannot. */
export function heapAlloc(bytes: number): number {
  const h = getHeap();
  if (!h) return -1;
  const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  for (let i = 0; i < freeStart.length; i++) {
    const fs = freeSize[i]!;
    if (fs >= size) {
      const p = freeStart[i]!;
      if (fs === size) {
        freeStart.splice(i, 1);
        freeSize.splice(i, 1);
      } else {
        freeStart[i] = p + size;
        freeSize[i] = fs - size;
      }
      live.set(p, size);
      liveBytes += size;
      return p;
    }
  }
  if (top + size > h.maxPages * PAGE || !ensure(top + size)) return -1;
  const p = top;
  top += size;
  live.set(p, size);
  liveBytes += size;
  return p;
}

/** Frees a block returned by heapAlloc (ignores unknown addresses). */
export function heapFree(p: number): void {
  const size = live.get(p);
  if (size === undefined) return;
  live.delete(p);
  liveBytes -= size;
  // Binary search for insertion point.
  let lo = 0;
  let hi = freeStart.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (freeStart[mid]! < p) lo = mid + 1;
    else hi = mid;
  }
  let start = p;
  let sz = size;
  // Merge with previous.
  if (lo > 0 && freeStart[lo - 1]! + freeSize[lo - 1]! === start) {
    lo--;
    start = freeStart[lo]!;
    sz += freeSize[lo]!;
    freeStart.splice(lo, 1);
    freeSize.splice(lo, 1);
  }
  // Merge with next.
  if (lo < freeStart.length && start + sz === freeStart[lo]!) {
    sz += freeSize[lo]!;
    freeStart.splice(lo, 1);
    freeSize.splice(lo, 1);
  }
  if (start + sz === top) {
    top = start; // give back to the bump region
    return;
  }
  freeStart.splice(lo, 0, start);
  freeSize.splice(lo, 0, sz);
}

/** Bytes currently allocated (for leak checks and tests). */
export function heapStats(): { liveBytes: number; liveBlocks: number; top: number; capacity: number; shared: boolean } {
  return {
    liveBytes,
    liveBlocks: live.size,
    top,
    capacity: heap ? heap.mem.buffer.byteLength : 0,
    shared: !!heap?.shared,
  };
}

// ---- tensor storage ----
const owned = new WeakMap<object, number>();
const registry: FinalizationRegistry<number> | null =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<number>((p) => heapFree(p)) : null;

/** Largest single tensor placed in the heap (bigger ones become plain arrays). */
const MAX_TENSOR_BYTES = 2 ** 31;

function allocView<T extends Float32Array | Int32Array | Uint16Array | Uint8Array>(
  n: number,
  ctor: { new (b: ArrayBuffer, o: number, l: number): T; new (l: number): T; readonly BYTES_PER_ELEMENT: number },
): T {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: bad length ${n}`);
  const h = getHeap();
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  if (h && h.shared && n > 0 && bytes <= MAX_TENSOR_BYTES && registry) {
    const p = heapAlloc(bytes);
    if (p >= 0) {
      const a = new ctor(heapBuffer(), p, n);
      a.fill(0);
      owned.set(a, p);
      registry.register(a, p, a);
      return a;
    }
  }
  return new ctor(n);
}

export function allocF32(n: number): Float32Array {
  return allocView(n, Float32Array);
}
export function allocI32(n: number): Int32Array {
  return allocView(n, Int32Array);
}
/** 16-bit storage (float16 / bfloat16 bits) on the heap, so the matmul kernels decode it in place; same contract as allocF32. */
export function allocU16(n: number): Uint16Array {
  return allocView(n, Uint16Array);
}
/** Bytes on the heap (quantized weight blocks). */
export function allocU8(n: number): Uint8Array {
  return allocView(n, Uint8Array);
}
/** Frees the heap block of an array from allocF32/allocI32/allocU16; no-op for other arrays and on repeat. */
export function release(a: Float32Array | Int32Array | Uint16Array | Uint8Array): void {
  const p = owned.get(a);
  if (p === undefined) return;
  owned.delete(a);
  registry?.unregister(a);
  heapFree(p);
}

// ---- kernel scratch ----
/** A temporary heap copy of `src[off, off+n)` (or the array itself if already in the heap). */
export interface Operand {
  ptr: number; // byte address of element `off`
  temp: number; // block to free, or -1
}

/** Address of element `off` of `src`, copying `n` elements into a temporary block when `src` is not in the heap. */
export function operand(src: Float32Array, off: number, n: number): Operand | null {
  const p = heapPtr(src);
  if (p >= 0) return { ptr: p + off * 4, temp: -1 };
  const t = heapAlloc(n * 4);
  if (t < 0) return null;
  if (n > 0) new Float32Array(heapBuffer(), t, n).set(src.subarray(off, off + n));
  return { ptr: t, temp: t };
}
export function freeOperand(o: Operand | null): void {
  if (o && o.temp >= 0) heapFree(o.temp);
}
