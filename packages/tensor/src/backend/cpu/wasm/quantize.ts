// Quantizing float32 / bfloat16 values to q8_0 / q4_0 blocks with the wasm quantizers (emit-quantize.ts), split over
// threads, writing straight into a heap storage: bit-identical to quant-blocks.ts's quantizeBlocks.
import { blockBytes, type QuantDType } from '../../../dtype.js';
import type { QuantizeSource } from './emit-quantize.js';
import { heapAlloc, heapBuffer, heapFree, heapPtr, memoryOf } from './heap.js';
import { kernels } from './module.js';
import { runJobs, threadsFor, type Job } from './pool.js';

/** Blocks below which quantizing stays on one thread. */
const PAR_BLOCKS = 1 << 12;
/** Blocks copied per pass when the source is not in the destination's memory. */
const COPY_BLOCKS = 1 << 15;

/**
 * Quantizes `nblocks` blocks at byte address `src` of heap memory `mem` into the blocks at `dst` of the same memory;
 * false (nothing written) when the kernels cannot run.
 */
export function quantizeOnHeap(dtype: QuantDType, kind: QuantizeSource, mem: number, src: number, dst: number, nblocks: number): boolean {
  const K = kernels(mem);
  if (!K) return false;
  const fn = `quantize_${dtype}_${kind}`;
  const sb = kind === 'f32' ? 128 : 64;
  const bb = blockBytes(dtype);
  const t = threadsFor(nblocks, PAR_BLOCKS);
  const jobs: Job[] = [];
  for (let i = 0; i < t; i++) {
    const b0 = Math.floor((nblocks * i) / t);
    const b1 = Math.floor((nblocks * (i + 1)) / t);
    if (b1 > b0) jobs.push({ fn, args: [src + b0 * sb, dst + b0 * bb, b1 - b0], mem });
  }
  if (jobs.length === 1) (K[fn] as (...a: number[]) => void)(...jobs[0]!.args);
  else if (jobs.length > 1) runJobs(jobs);
  return true;
}

/**
 * Quantizes the values of `src` (float32, or bfloat16 bits; a whole number of 32-blocks) into `dst`, which must be a
 * heap array of the blocks' bytes; a source elsewhere is copied into the destination's memory a slice at a time.
 * False (nothing written) when it cannot run here.
 */
export function quantizeInto(dtype: QuantDType, src: Float32Array | Uint16Array, kind: QuantizeSource, dst: Uint8Array): boolean {
  const mem = memoryOf(dst);
  const nblocks = src.length / 32;
  if (mem < 0 || !Number.isInteger(nblocks) || dst.byteLength !== nblocks * blockBytes(dtype) || !kernels(mem)) return false;
  const d = heapPtr(dst, mem);
  const s = heapPtr(src, mem);
  if (s >= 0) return quantizeOnHeap(dtype, kind, mem, s, d, nblocks);
  const step = Math.min(COPY_BLOCKS, nblocks);
  const scratch = heapAlloc(step * src.BYTES_PER_ELEMENT * 32, mem);
  if (scratch < 0) return false;
  try {
    for (let b = 0; b < nblocks; b += step) {
      const n = Math.min(step, nblocks - b);
      const view = kind === 'f32' ? new Float32Array(heapBuffer(mem), scratch, n * 32) : new Uint16Array(heapBuffer(mem), scratch, n * 32);
      view.set(src.subarray(b * 32, (b + n) * 32));
      quantizeOnHeap(dtype, kind, mem, scratch, d + b * blockBytes(dtype), n);
    }
  } finally {
    heapFree(scratch, mem);
  }
  return true;
}
