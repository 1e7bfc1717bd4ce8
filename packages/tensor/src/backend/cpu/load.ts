// Loading tensors straight into the CPU backend's memory: the WebAssembly heap where the kernels read them in place.
// The safetensors reader supplies the bytes (file reads); these functions own where they land.
import type { Storage } from '../../backend.js';
import { blockBytes, QK, type DType, type QuantDType } from '../../dtype.js';
import { cpuAlloc, onHeap } from './storage.js';
import { heapAlloc, heapBuffer, heapFree, heapPtr, memoryOf } from './wasm/heap.js';
import { kernels } from './wasm/module.js';
import { quantizeOnHeap } from './wasm/quantize.js';

/** Source bytes per slice when quantizing on load (two such buffers: one being read while the other is quantized). */
const QUANT_SLICE = 8 * 2 ** 20;

/** Backend.fillStorage on the CPU: a heap storage whose bytes `fill` writes; null when the heap has no room for it. */
export async function fillStorageCpu(dtype: DType, length: number, fill: (bytes: Uint8Array) => Promise<void>): Promise<Storage | null> {
  const s = cpuAlloc(dtype, length, true);
  if (!onHeap(s.data)) {
    s.dispose();
    return null;
  }
  const a = s.data;
  try {
    await fill(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  } catch (err) {
    s.dispose();
    throw err;
  }
  return s;
}

/**
 * Backend.quantizeFrom on the CPU: the blocks' storage on the heap, and two slice buffers in its memory that `read`
 * fills in turn while the wasm quantizers turn the other into blocks (no full-size float copy); null when the heap has
 * no room or the kernels cannot run (then nothing was read).
 */
export async function quantizeFromCpu(dtype: QuantDType, source: 'float32' | 'bfloat16', length: number, read: (firstBlock: number, bytes: Uint8Array) => Promise<void>): Promise<Storage | null> {
  const kind = source === 'bfloat16' ? 'bf16' : 'f32';
  const s = cpuAlloc(dtype, length, true);
  const mem = memoryOf(s.data);
  const blockSrc = kind === 'bf16' ? 64 : 128;
  const nblocks = length / QK;
  // Two slice buffers in the storage's memory, smaller ones where a nearly full memory has no room for these.
  let per = Math.min(nblocks, Math.floor(QUANT_SLICE / blockSrc));
  let bufs: number[] = [];
  const least = Math.min(per, 1024);
  for (; mem >= 0 && per >= least; per >>= 1) {
    bufs = [heapAlloc(per * blockSrc, mem), heapAlloc(per * blockSrc, mem)];
    if (bufs.every((p) => p >= 0)) break;
    for (const p of bufs) if (p >= 0) heapFree(p, mem);
    bufs = [];
  }
  let pending: Promise<void> | null = null;
  let done = false;
  try {
    if (bufs.length === 0 || !kernels(mem)) return null;
    const dst = heapPtr(s.data, mem);
    const bb = blockBytes(dtype);
    const slice = (b: number, buf: number) => read(b, new Uint8Array(heapBuffer(mem), buf, Math.min(per, nblocks - b) * blockSrc));
    pending = slice(0, bufs[0]!);
    for (let b = 0, i = 0; b < nblocks; b += per, i ^= 1) {
      await pending;
      pending = b + per < nblocks ? slice(b + per, bufs[i ^ 1]!) : null;
      if (!quantizeOnHeap(dtype, kind, mem, bufs[i]!, dst + b * bb, Math.min(per, nblocks - b))) return null;
    }
    done = true;
  } finally {
    // a read still in flight writes into a buffer: let it finish before the buffer is freed
    if (pending) await pending.catch(() => undefined);
    for (const p of bufs) if (p >= 0) heapFree(p, mem);
    if (!done) s.dispose();
  }
  return s;
}
