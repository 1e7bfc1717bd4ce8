// The CPU heap: WebAssembly.Memory objects (shared when SharedArrayBuffer exists) holding tensor storage and kernel
// scratch. wasm32 caps one memory at 4 GiB, so a model bigger than that lives in several: memory 0 holds the first
// weights plus the kernels' scratch and temporary copies, memories 1, 2, ... are created as storages need them. A
// kernel reads only the memory its instance is bound to (module.ts makes one instance per memory), so a matmul runs
// on the memory holding its weight and the small operands are copied there (gemm.ts).
//
// Addressing is decided here and nowhere else: a heap location is (memory index, byte offset < 4 GiB), packed for
// bookkeeping as `mem * 2^32 + offset` (see `addr`). memory64 would replace it with one memory and 64-bit offsets:
// `memoryOf` would always answer 0, `addr` would be the offset itself, and the per-memory instances and pool
// respawns collapse to one; callers already pass the memory index through, so only this file and the i32 -> i64
// pointer type of the emitted kernels change.
//
// Each memory has a small first-fit allocator with coalescing handing out 64-byte aligned blocks.
//
// Contract for callers: keep a reference to the array returned by allocF32/allocI32/allocU16/allocU8 for as long as
// any view derived from it (subarray, new Float32Array(a.buffer, ...)) is in use; when that array object is collected,
// its block goes back to the allocator.

const PAGE = 65536;
const ALIGN = 64;
/** Largest memory in pages: 4 GiB minus one page (wasm32 limit); the kernel module declares this maximum. */
export const MAX_PAGES = 65535;
const INITIAL_PAGES = 256; // 16 MiB
/** Memories at most (each reserves address space up to its maximum, not physical memory). */
const MAX_MEMORIES = 64;

/**
 * Storage bytes beyond memory 0 at most: four fifths of the machine's memory where Node says how much there is. A heap
 * block of a dropped tensor returns only when a FinalizationRegistry callback runs, never inside a synchronous loop,
 * so a loop that keeps pinning new tensors must fall back to ordinary arrays before it exhausts the machine.
 */
function spillCap(): number {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const os = p?.getBuiltinModule?.('node:os') as { totalmem?: () => number } | undefined;
    const total = os?.totalmem?.();
    if (total) return 0.8 * total;
  } catch {
    /* not Node */
  }
  return Infinity;
}

export interface Heap {
  mem: WebAssembly.Memory;
  shared: boolean;
  maxPages: number;
}

/** One memory and its allocator. */
class Arena {
  top = ALIGN; // bump pointer (bytes); address 0 stays unused
  readonly freeStart: number[] = []; // sorted free blocks
  readonly freeSize: number[] = [];
  readonly live = new Map<number, number>(); // ptr -> bytes
  liveBytes = 0;
  /** Bytes below this have been handed out before; above it the memory is as grown: zero. */
  touched = ALIGN;
  constructor(readonly heap: Heap) {
    buffers.set(heap.mem.buffer, this);
  }
  get capacityBytes(): number {
    return this.heap.maxPages * PAGE;
  }
  /** The memory's current buffer (recorded, so views of it are recognised as this memory's). */
  buffer(): ArrayBuffer {
    const b = this.heap.mem.buffer;
    buffers.set(b, this);
    return b as ArrayBuffer;
  }
  private ensure(bytes: number): boolean {
    const h = this.heap;
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
    this.buffer();
    return true;
  }
  /** A block of `size` (a multiple of ALIGN) ending at or below `limit`; -1 when there is none. */
  alloc(size: number, limit: number): number {
    for (let i = 0; i < this.freeStart.length; i++) {
      const fs = this.freeSize[i]!;
      const p = this.freeStart[i]!;
      if (fs >= size && p + size <= limit) {
        if (fs === size) {
          this.freeStart.splice(i, 1);
          this.freeSize.splice(i, 1);
        } else {
          this.freeStart[i] = p + size;
          this.freeSize[i] = fs - size;
        }
        this.live.set(p, size);
        this.liveBytes += size;
        return p;
      }
    }
    if (this.top + size > Math.min(limit, this.capacityBytes) || !this.ensure(this.top + size)) return -1;
    const p = this.top;
    this.top += size;
    this.touched = Math.max(this.touched, this.top);
    this.live.set(p, size);
    this.liveBytes += size;
    return p;
  }
  /** alloc, the block zeroed: only its part handed out before, as memory fresh from grow() is zero (a big load then writes it once). */
  allocZeroed(size: number, limit: number): number {
    const before = this.touched;
    const p = this.alloc(size, limit);
    // 8-byte lanes: on shared memory Uint8Array.fill runs a quarter as fast (1.8 against 7.2 GB/s); p, size and
    // `touched` are multiples of ALIGN
    if (p >= 0 && p < before) new Float64Array(this.buffer(), p, Math.min(size, before - p) / 8).fill(0);
    return p;
  }
  free(p: number): void {
    const size = this.live.get(p);
    if (size === undefined) return;
    this.live.delete(p);
    this.liveBytes -= size;
    const { freeStart, freeSize } = this;
    let lo = 0;
    let hi = freeStart.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (freeStart[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    let start = p;
    let sz = size;
    if (lo > 0 && freeStart[lo - 1]! + freeSize[lo - 1]! === start) {
      lo--;
      start = freeStart[lo]!;
      sz += freeSize[lo]!;
      freeStart.splice(lo, 1);
      freeSize.splice(lo, 1);
    }
    if (lo < freeStart.length && start + sz === freeStart[lo]!) {
      sz += freeSize[lo]!;
      freeStart.splice(lo, 1);
      freeSize.splice(lo, 1);
    }
    if (start + sz === this.top) {
      this.top = start; // give back to the bump region
      return;
    }
    freeStart.splice(lo, 0, start);
    freeSize.splice(lo, 0, sz);
  }
}

let maxPages = MAX_PAGES;
let maxSpill: number | undefined;
let arenas: Arena[] | null | undefined;
/** Every buffer object a memory has had (a shared memory hands out a new, longer one after each grow). */
const buffers = new WeakMap<object, Arena>();

/**
 * Test knob: the largest size of each memory, in pages, so that tests reach the several-memory paths with small
 * tensors. Only before the heap exists (the first CPU allocation creates it).
 */
export function setMaxPagesPerMemory(pages: number): void {
  if (arenas !== undefined) throw new Error('setMaxPagesPerMemory: the heap already exists');
  if (!Number.isInteger(pages) || pages < 16 || pages > MAX_PAGES) throw new RangeError(`setMaxPagesPerMemory: expected 16..${MAX_PAGES} pages, got ${pages}`);
  maxPages = pages;
}

function newMemory(shared: boolean): Heap | null {
  try {
    const mem = new WebAssembly.Memory({ initial: Math.min(INITIAL_PAGES, maxPages), maximum: maxPages, shared });
    if (shared && !(mem.buffer instanceof SharedArrayBuffer)) return null;
    return { mem, shared, maxPages };
  } catch {
    return null;
  }
}

function all(): Arena[] | null {
  if (arenas !== undefined) return arenas;
  arenas = null;
  if (typeof WebAssembly === 'undefined' || typeof WebAssembly.Memory !== 'function') return arenas;
  // Not shared: growing detaches old views, so tensor storage never lives there (one memory, scratch only).
  const h = (typeof SharedArrayBuffer !== 'undefined' ? newMemory(true) : null) ?? newMemory(false);
  if (h) arenas = [new Arena(h)];
  return arenas;
}

/** Memory 0, created on first use; null when WebAssembly is unavailable. */
export function getHeap(): Heap | null {
  return all()?.[0]!.heap ?? null;
}

/** How many memories the heap has now (workers and kernel instances follow it). */
export function memoryCount(): number {
  return all()?.length ?? 0;
}

/** The WebAssembly.Memory with index `mem`. */
export function heapMemory(mem: number): WebAssembly.Memory {
  return arenas![mem]!.heap.mem;
}

/** Memory `mem`'s current buffer. */
export function heapBuffer(mem = 0): ArrayBuffer {
  return all()![mem]!.buffer();
}

/** Index of the memory `a` lives in, or -1 when it is an ordinary array (or the heap is not shared). */
export function memoryOf(a: ArrayBufferView): number {
  const ar = buffers.get(a.buffer);
  return ar && ar.heap.shared ? arenas!.indexOf(ar) : -1;
}

/** Byte address of `a` in memory `mem`, or -1 when `a` lives elsewhere. */
export function heapPtr(a: ArrayBufferView, mem = 0): number {
  const ar = buffers.get(a.buffer);
  return ar && ar.heap.shared && arenas![mem] === ar ? a.byteOffset : -1;
}

/** The packed form of a heap location, for bookkeeping only (the one addressing decision; see the file comment). */
function addr(mem: number, p: number): number {
  return mem * 2 ** 32 + p;
}

/** Allocates `bytes` (rounded up to 64) in memory `mem` for scratch; returns the address, or -1 if it cannot. */
export function heapAlloc(bytes: number, mem = 0): number {
  const a = all()?.[mem];
  if (!a) return -1;
  return a.alloc(Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN), Infinity);
}

/** Frees a block returned by heapAlloc (ignores unknown addresses). */
export function heapFree(p: number, mem = 0): void {
  arenas?.[mem]?.free(p);
}

/** Bytes currently allocated, over every memory (for leak checks and tests); capacity and top are memory 0's. */
export function heapStats(): { liveBytes: number; liveBlocks: number; top: number; capacity: number; shared: boolean; memories: number } {
  const as = all() ?? [];
  return {
    liveBytes: as.reduce((s, a) => s + a.liveBytes, 0),
    liveBlocks: as.reduce((s, a) => s + a.live.size, 0),
    top: as[0]?.top ?? 0,
    capacity: as[0] ? as[0].heap.mem.buffer.byteLength : 0,
    shared: !!as[0]?.heap.shared,
    memories: as.length,
  };
}

// ---- tensor storage ----
const owned = new WeakMap<object, number>();
const registry: FinalizationRegistry<number> | null =
  typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<number>((a) => heapFree(a % 2 ** 32, Math.floor(a / 2 ** 32))) : null;

/**
 * Where a storage of `size` bytes goes: the first memory with room, keeping a quarter of memory 0 and a sixteenth of
 * the others for the kernels' scratch and operand copies; a new memory when none has room. Null when it cannot fit
 * (bigger than a memory, or past spillCap()): the storage is then an ordinary array.
 */
function placeStorage(size: number): { mem: number; p: number } | null {
  const as = all()!;
  const cap = as[0]!.capacityBytes;
  if (size > cap - cap / 16) return null;
  const p0 = as[0]!.allocZeroed(size, cap - cap / 4);
  if (p0 >= 0) return { mem: 0, p: p0 };
  let spilled = 0;
  for (let mem = 1; mem < as.length; mem++) spilled += as[mem]!.liveBytes;
  if (spilled + size > (maxSpill ??= spillCap())) return null;
  for (let mem = 1; mem < as.length; mem++) {
    const p = as[mem]!.allocZeroed(size, cap - cap / 16);
    if (p >= 0) return { mem, p };
  }
  if (as.length >= MAX_MEMORIES) return null;
  const h = newMemory(true);
  if (!h) return null;
  as.push(new Arena(h));
  const p = as.at(-1)!.allocZeroed(size, cap - cap / 16);
  return p >= 0 ? { mem: as.length - 1, p } : null;
}

function allocView<T extends Float32Array | Int32Array | Uint16Array | Uint8Array>(
  n: number,
  ctor: { new (b: ArrayBuffer, o: number, l: number): T; new (l: number): T; readonly BYTES_PER_ELEMENT: number },
): T {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: bad length ${n}`);
  const h = getHeap();
  const bytes = n * ctor.BYTES_PER_ELEMENT;
  if (h && h.shared && n > 0 && registry) {
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    const at = placeStorage(size);
    if (at) {
      const a = new ctor(heapBuffer(at.mem), at.p, n);
      owned.set(a, addr(at.mem, at.p));
      registry.register(a, addr(at.mem, at.p), a);
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
/** Frees the heap block of an array from allocF32/allocI32/allocU16/allocU8; no-op for other arrays and on repeat. */
export function release(a: Float32Array | Int32Array | Uint16Array | Uint8Array): void {
  const at = owned.get(a);
  if (at === undefined) return;
  owned.delete(a);
  registry?.unregister(a);
  heapFree(at % 2 ** 32, Math.floor(at / 2 ** 32));
}

// ---- kernel scratch ----
/** A temporary heap copy of an operand (or the array itself if already in the memory the kernel reads). */
export interface Operand {
  ptr: number; // byte address of element `off`
  temp: number; // block to free, or -1
  mem?: number; // the memory `ptr` is in (0 when absent)
}

/** Address of element `off` of `src` in memory 0, copying `n` elements into a temporary block when `src` is not there. */
export function operand(src: Float32Array, off: number, n: number): Operand | null {
  const p = heapPtr(src);
  if (p >= 0) return { ptr: p + off * 4, temp: -1 };
  const t = heapAlloc(n * 4);
  if (t < 0) return null;
  if (n > 0) new Float32Array(heapBuffer(), t, n).set(src.subarray(off, off + n));
  return { ptr: t, temp: t };
}
export function freeOperand(o: Operand | null): void {
  if (o && o.temp >= 0) heapFree(o.temp, o.mem ?? 0);
}
