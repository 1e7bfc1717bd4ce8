// The heap as several WebAssembly memories: each memory is capped at 16 MiB here (the real cap is 4 GiB), so small
// tensors reach the paths a 4B model takes: weights in memory 1 or 2, activations in memory 0, kernels instantiated
// per memory on the main thread and in the workers, operands copied into the weight's memory.
import { afterAll, describe, expect, it } from 'vitest';
import { setMaxPagesPerMemory, memoryOf, heapStats, allocF32, allocU16, allocU8, release } from '../dist/backend/cpu/wasm/heap.js';
import { matmulF32, matmulF32x16, matmulF32xQ, poolInfo, setNumThreads, setParallelThreshold } from '../dist/backend/cpu/wasm/index.js';
import { matmulRef, type MatmulRefArgs } from '../dist/backend/cpu/kernels/matmul.js';
import { quantActLevels } from '../dist/backend/cpu/wasm/gemm.js';
import { quantizeBlocks } from '../dist/quant-blocks.js';
import { numberToBf16 } from '../dist/dtype.js';
import { arr } from '../dist/backend/cpu/storage.js';
import { setWasmAccelerators } from '../dist/backend/cpu/index.js';
import { manualSeed, matmul, openSafetensors, randn, serializeSafetensors, transpose, type ByteSource } from '../dist/index.js';

setMaxPagesPerMemory(256); // 16 MiB per memory, before anything creates the heap

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

/** Fills memory `mem` (the lower ones being full) up to its storage limit, so that the next storages land in another. */
function fillMemory(mem: number): Uint8Array[] {
  const fill: Uint8Array[] = [];
  for (const size of [1 << 18, 1 << 10, 64]) {
    for (;;) {
      const f = allocU8(size);
      if (memoryOf(f) !== mem) {
        release(f);
        break;
      }
      fill.push(f);
    }
  }
  return fill;
}
const fillMemory0 = () => fillMemory(0);

type Q = 'q8_0' | 'q4_0';
type Kind = 'float32' | 'bfloat16' | Q;
const KINDS: Kind[] = ['float32', 'bfloat16', 'q8_0', 'q4_0'];

/** `src` copied into a heap storage (placed by the heap's rule). */
function onHeap(src: Float32Array): Float32Array {
  const h = allocF32(src.length);
  h.set(src);
  return h;
}

/** Weight W [n, k] as B = W^T in `kind`, in a heap storage or an ordinary array. */
function weight(kind: Kind, w: Float32Array, heap: boolean): Float32Array | Uint16Array | Uint8Array {
  if (kind === 'float32') return heap ? onHeap(w) : w.slice();
  if (kind === 'bfloat16') {
    const bits = Uint16Array.from(w, (v) => numberToBf16(v));
    if (!heap) return bits;
    const h = allocU16(bits.length);
    h.set(bits);
    return h;
  }
  const blocks = quantizeBlocks(kind, w);
  if (!heap) return blocks;
  const h = allocU8(blocks.length);
  h.set(blocks);
  return h;
}

function run(kind: Kind, a: Float32Array, b: Float32Array | Uint16Array | Uint8Array, m: number, n: number, k: number, out: Float32Array): boolean {
  const args = { batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, out };
  if (kind === 'float32') return matmulF32({ ...args, b: b as Float32Array });
  if (kind === 'bfloat16') return matmulF32x16({ ...args, b: b as Uint16Array, bDtype: 'bfloat16' });
  return matmulF32xQ({ ...args, b: b as Uint8Array, bDtype: kind });
}

/** The TypeScript reference on the same (decoded) weight. */
function reference(kind: Kind, a: Float32Array, b: Float32Array | Uint16Array | Uint8Array, m: number, n: number, k: number): Float32Array {
  const out = new Float32Array(m * n);
  const args: MatmulRefArgs = {
    batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1,
    b, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: kind === 'float32' ? undefined : kind, out,
  };
  matmulRef(args);
  return out;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('a heap of several wasm memories (16 MiB each here)', () => {
  afterAll(() => {
    setNumThreads(1);
    setParallelThreshold(1 << 22);
  });

  it('storages go to memory 0 until its storage share is used, then to memories 1, 2, ...', () => {
    const a = allocF32(1024);
    expect(memoryOf(a)).toBe(0);
    expect(memoryOf(new Float32Array(4))).toBe(-1);
    const fill = fillMemory0();
    const w1 = allocU8(12 << 20);
    expect(memoryOf(w1)).toBe(1);
    const w2 = allocU8(12 << 20); // memory 1 keeps a sixteenth for scratch: no room, so a new memory
    expect(memoryOf(w2)).toBe(2);
    expect(heapStats().memories).toBeGreaterThanOrEqual(3);
    expect(memoryOf(allocU8(17 << 20))).toBe(-1); // larger than one memory: an ordinary array
    w2[w2.length - 1] = 9;
    expect(w2[w2.length - 1]).toBe(9);
    for (const f of [...fill, w1, w2, a]) release(f);
  });

  for (const kind of KINDS) {
    for (const threads of [1, 2]) {
      it(`${kind}, ${threads} thread(s): weight in memory 1, activations and output in memory 0, equal to the same product run on memory 0 and close to the reference`, () => {
        setNumThreads(threads);
        setParallelThreshold(threads > 1 ? 0 : 1 << 22);
        const r = xorshift(kind.length * 31 + threads);
        const k = 256;
        const n = 80;
        for (const m of [1, 5]) {
          const wf = Float32Array.from({ length: n * k }, () => r() * 0.5);
          const a = onHeap(Float32Array.from({ length: m * k }, () => r()));
          const out = allocF32(m * n);
          expect(memoryOf(a)).toBe(0);
          const fill = fillMemory0();
          const bHeap = weight(kind, wf, true);
          for (const f of fill) release(f); // memory 0 needs room for the second product's copy of the weight
          expect(memoryOf(bHeap)).toBe(1);
          expect(run(kind, a, bHeap, m, n, k, out)).toBe(true);
          if (threads > 1) expect(poolInfo().workers).toBeGreaterThan(0);
          // the same product with the weight an ordinary array: copied into memory 0 and run there
          const bPlain = weight(kind, wf, false);
          const want = new Float32Array(m * n);
          expect(run(kind, a, bPlain, m, n, k, want)).toBe(true);
          expect(bits(out)).toEqual(bits(want));
          const ref = reference(kind, a, bPlain, m, n, k);
          // float kernels: rounding of a k-term sum; quantized: activations quantized per block (int16, or int8 for q4_0
          // m == 1 with relaxed SIMD: a 258x coarser step)
          const tol = kind === 'q8_0' || kind === 'q4_0' ? (2e-3 * 32767) / quantActLevels(kind, m) : 1e-4;
          for (let i = 0; i < m * n; i++) expect(Math.abs(out[i]! - ref[i]!)).toBeLessThanOrEqual(tol * (1 + Math.abs(ref[i]!)));
          for (const f of [bHeap, a, out]) release(f);
        }
      });
    }
  }

  it('activations in memory 2 and the weight in memory 1 (nothing in memory 0), on threads', () => {
    setNumThreads(2);
    setParallelThreshold(0);
    const r = xorshift(7);
    const k = 128, n = 48, m = 3;
    const fill = fillMemory0();
    const wf = Float32Array.from({ length: n * k }, () => r());
    const b = weight('bfloat16', wf, true);
    expect(memoryOf(b)).toBe(1);
    fill.push(...fillMemory(1));
    const a = onHeap(Float32Array.from({ length: m * k }, () => r()));
    const out = allocF32(m * n);
    expect(memoryOf(a)).toBe(2);
    expect(memoryOf(out)).toBe(2);
    for (const f of fill) release(f); // room in memory 1 for the operands' copies and the packing buffers
    expect(run('bfloat16', a, b, m, n, k, out)).toBe(true);
    const want = reference('bfloat16', a, b, m, n, k);
    for (let i = 0; i < m * n; i++) expect(Math.abs(out[i]! - want[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[i]!)));
    for (const f of [b, a, out]) release(f);
  });

  it('pinned tensors spread over memories and multiply as the TypeScript kernels do (public API, threads)', () => {
    setNumThreads(2);
    setParallelThreshold(0);
    manualSeed(5);
    const x = randn([2, 3072]);
    // 6 MiB each in bfloat16: three memories' worth; the expected products come from the TypeScript kernels
    const plain = Array.from({ length: 6 }, () => randn([1024, 3072]).to('bfloat16'));
    setWasmAccelerators(false);
    const want = plain.map((w) => matmul(x, transpose(w, 0, 1)).dataSync() as Float32Array);
    setWasmAccelerators(true);
    const ws = plain.map((w) => w.clone().pin_());
    const mems = new Set(ws.map((w) => memoryOf(arr(w.storage))));
    expect(mems.size).toBeGreaterThanOrEqual(3);
    expect(mems.has(-1)).toBe(false);
    for (let i = 0; i < ws.length; i++) {
      const got = matmul(x, transpose(ws[i]!, 0, 1)).dataSync() as Float32Array;
      for (let j = 0; j < got.length; j++) expect(Math.abs(got[j]! - want[i]![j]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[i]![j]!)));
    }
  });

  it('safetensors reads CPU tensors straight into their heap storage, in whichever memory has room', async () => {
    manualSeed(9);
    const w = randn([1536, 2048]).to('bfloat16'); // 6 MiB
    const v = randn([3, 5]);
    const file = await serializeSafetensors(new Map([['w', w], ['v', v]]));
    const targets: number[] = [];
    const withReadInto: ByteSource = {
      size: file.byteLength,
      read: async (o, n) => file.slice(o, o + n),
      readInto: async (o, t) => {
        targets.push(memoryOf(t));
        t.set(file.subarray(o, o + t.byteLength));
      },
    };
    const chunked: ByteSource = { size: file.byteLength, read: async (o, n) => file.slice(o, o + n) };
    const fill = fillMemory0();
    for (const src of [withReadInto, chunked]) {
      const f = await openSafetensors(src);
      const tw = await f.get('w');
      const tv = await f.get('v');
      expect(memoryOf(arr(tw.storage))).toBeGreaterThan(0);
      expect(memoryOf(arr(tv.storage))).toBeGreaterThan(0);
      expect(Array.from(arr(tw.storage) as Uint16Array)).toEqual(Array.from(arr(w.storage) as Uint16Array));
      expect(Array.from(tv.dataSync())).toEqual(Array.from(v.dataSync()));
      await f.close();
      tw.dispose();
      tv.dispose();
    }
    // the header is read into ordinary memory; both tensors' bytes went straight to the heap
    expect(targets.filter((m) => m > 0).length).toBe(2);
    for (const f of fill) release(f);
  });
});
