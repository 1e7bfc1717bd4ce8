// Loading fast paths, on a heap of 16 MiB memories (the real cap is 4 GiB) so that small tensors reach the paths a 4B
// model takes: the wasm quantizers against quantizeBlocks (the TypeScript transcription of ggml's reference), bit for
// bit on every kind of f32 / bf16 input; safetensors reads in several pieces in flight; and quantize-on-load, which
// streams a weight through small heap buffers into its blocks, against loading then quantizing.
import { afterAll, describe, expect, it } from 'vitest';
import { allocU8, memoryOf, release, setMaxPagesPerMemory } from '../dist/backend/cpu/wasm/heap.js';
import { setNumThreads } from '../dist/backend/cpu/wasm/index.js';
import { quantizeInto } from '../dist/backend/cpu/wasm/quantize.js';
import { quantizeBlocks } from '../dist/quant-blocks.js';
import { setReadChunkBytes } from '../dist/safetensors/sources.js';
import { arr } from '../dist/backend/cpu/storage.js';
import { fromBits, manualSeed, openSafetensors, quantize, randn, serializeSafetensors, tensor, type ByteSource, type Tensor } from '../dist/index.js';

setMaxPagesPerMemory(256); // 16 MiB per memory, before anything creates the heap

type Q = 'q8_0' | 'q4_0';
const QS: Q[] = ['q8_0', 'q4_0'];

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return s >>> 0;
  };
}

/** With d = 1 (a block whose amax is 127): values on and next to roundf's halves, 0.49999997 the f32 below 0.5. */
const TIES = [0.5 - 2 ** -25, -(0.5 - 2 ** -25), 0.5, -0.5, 1.4999999, -2.5, 126.5, 3.5000002];

/**
 * f32 bit patterns, one kind of block after another: random bits over the whole range, subnormals, tiny normals,
 * blocks of zeros and -0, NaN and infinities among ordinary values, +-max, small integers and halves that make
 * x / d land exactly on .5 (roundf's ties), and ordinary weights.
 */
function hardBits(nblocks: number, seed: number): Uint32Array {
  const r = xorshift(seed);
  const out = new Uint32Array(nblocks * 32);
  for (let b = 0; b < nblocks; b++) {
    for (let j = 0; j < 32; j++) {
      const x = r();
      let v: number;
      switch (b % 10) {
        case 0: v = x; break;
        case 1: v = x & 0x807fffff; break;
        case 2: v = (x & 0x80ffffff) | 0x00800000; break;
        case 3: v = r() % 4 === 0 ? 0 : x & 0x807fffff; break;
        case 4: v = r() % 3 === 0 ? 0x80000000 : 0; break;
        case 5: v = r() % 8 === 0 ? [0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001][r() % 4]! : (x & 0x8fffffff); break;
        case 6: v = j === 0 ? 0x7f7fffff : j === 1 ? 0xff7fffff : x & 0x8fffffff; break;
        case 7: v = new Uint32Array(new Float32Array([j === 0 ? 127 : j === 1 ? -8 : j < 10 ? TIES[j - 2]! : (((x % 64) - 32) / 2)]).buffer)[0]!; break;
        case 8: v = (x & 0x800fffff) | 0x3c000000; break;
        default: v = (x & 0x801fffff) | 0x3b000000;
      }
      out[b * 32 + j] = v;
    }
  }
  return out;
}

const asF32 = (bits: Uint32Array) => new Float32Array(bits.buffer, bits.byteOffset, bits.length);
const bf16Of = (bits: Uint32Array) => Uint16Array.from(bits, (v) => v >>> 16);
const bytesOf = (t: Tensor) => Array.from(arr(t.storage) as Uint8Array);

afterAll(() => setNumThreads(2));

describe('the wasm quantizers', () => {
  for (const threads of [1, 2]) {
    it(`equal quantizeBlocks bit for bit on f32 and bf16 inputs of every kind, on the heap and from ordinary arrays (${threads} thread(s))`, () => {
      setNumThreads(threads);
      const bits = hardBits(20000, 7 + threads);
      const bfBits = Uint32Array.from(bits, (v) => v & 0xffff0000);
      for (const q of QS) {
        for (const [kind, src, ref] of [['f32', asF32(bits), asF32(bits)], ['bf16', bf16Of(bits), asF32(bfBits)]] as const) {
          const want = quantizeBlocks(q, ref);
          const dst = allocU8(want.length);
          expect(memoryOf(dst)).toBeGreaterThanOrEqual(0);
          expect(quantizeInto(q, src, kind, dst)).toBe(true);
          let mismatches = 0;
          for (let i = 0; i < want.length; i++) if (dst[i] !== want[i]) mismatches++;
          expect(mismatches, `${q} from ${kind}`).toBe(0);
          release(dst);
        }
      }
    });
  }

  it('behind quantize(): float32 and bfloat16 tensors give the blocks of quantizeBlocks, in a heap storage', () => {
    setNumThreads(2);
    const bits = hardBits(3 * 64, 3);
    const f = tensor(asF32(bits), { shape: [6, 1024] });
    const h = fromBits(bf16Of(bits), [6, 1024], 'bfloat16');
    const hRef = asF32(Uint32Array.from(bits, (v) => v & 0xffff0000));
    for (const q of QS) {
      const qf = quantize(f, q);
      const qh = quantize(h, q);
      expect(memoryOf(arr(qf.storage))).toBeGreaterThanOrEqual(0);
      expect(bytesOf(qf)).toEqual(Array.from(quantizeBlocks(q, asF32(bits))));
      expect(bytesOf(qh)).toEqual(Array.from(quantizeBlocks(q, hRef)));
      // a strided view is quantized as its contiguous copy
      const ft = quantize(tensor(asF32(bits), { shape: [1024, 6] }).transpose(0, 1), q);
      expect(bytesOf(ft)).toEqual(Array.from(quantizeBlocks(q, tensor(asF32(bits), { shape: [1024, 6] }).transpose(0, 1).contiguous().dataSync() as Float32Array)));
    }
  });
});

interface Read {
  mem: number;
  n: number;
  /** Where the bytes went relative to where they are in the file: constant over the reads of one storage. */
  shift: number;
}

/** A byte source over `file` that records each readInto: the memory it targets, its length, its target's shift. */
function recordingSource(file: Uint8Array, log: Read[]): ByteSource {
  return {
    size: file.byteLength,
    read: async (o, n) => file.slice(o, o + n),
    readInto: async (o, t) => {
      log.push({ mem: memoryOf(t), n: t.byteLength, shift: t.byteOffset - o });
      await new Promise((r) => setTimeout(r, 0)); // let other reads start meanwhile
      t.set(file.subarray(o, o + t.byteLength));
    },
  };
}

describe('safetensors loading paths (16 MiB memories)', () => {
  it('reads a big tensor in pieces, several in flight, straight into its heap storage beyond memory 0: the same values', async () => {
    manualSeed(11);
    // fill memory 0's storage share, so that the tensors land in memory 1 or later
    const fill: Uint8Array[] = [];
    for (const size of [1 << 18, 1 << 10, 64]) {
      for (;;) {
        const f = allocU8(size);
        if (memoryOf(f) !== 0) {
          release(f);
          break;
        }
        fill.push(f);
      }
    }
    const w = randn([1000, 1500]).to('bfloat16'); // 3 MB
    const v = randn([7, 9]);
    const file = await serializeSafetensors(new Map([['w', w], ['v', v]]));
    setReadChunkBytes(100_003); // not a multiple of anything: the last piece is short
    try {
      const log: Read[] = [];
      const f = await openSafetensors(recordingSource(file, log));
      const tw = await f.get('w');
      const tv = await f.get('v');
      expect(memoryOf(arr(tw.storage))).toBeGreaterThan(0);
      expect(Array.from(arr(tw.storage) as Uint16Array)).toEqual(Array.from(arr(w.storage) as Uint16Array));
      expect(Array.from(tv.dataSync())).toEqual(Array.from(v.dataSync()));
      const pieces = log.filter((l) => l.mem >= 0);
      expect(pieces.length).toBe(Math.ceil(3e6 / 100_003) + 1);
      expect(pieces.reduce((s, l) => s + l.n, 0)).toBe(3e6 + 7 * 9 * 4);
      await f.close();
    } finally {
      setReadChunkBytes(8 * 2 ** 20);
      for (const f of fill) release(f);
    }
  });

  it('quantize-on-load streams BF16 and F32 weights into their blocks, equal to loading then quantizing (any memory, slices, threads)', async () => {
    manualSeed(12);
    const big = fromBits(bf16Of(hardBits(1536 * 128, 5)), [1536, 4096], 'bfloat16'); // 12 MB: at least three slices in a 16 MiB memory
    const f32 = randn([96, 320]);
    const f16 = randn([64, 64]).to('float16'); // no streaming path: read, then quantized
    const file = await serializeSafetensors(new Map<string, Tensor>([['big', big], ['f32', f32], ['f16', f16]]));
    setReadChunkBytes(1 << 20);
    try {
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        for (const q of QS) {
          const log: Read[] = [];
          const f = await openSafetensors(recordingSource(file, log));
          for (const name of ['big', 'f32', 'f16']) {
            const plain = await f.get(name);
            const want = quantize(plain, q);
            log.length = 0;
            const got = await f.get(name, { quantize: q });
            // streamed: slices alternate between two buffers, so the target jumps back at some slice
            if (name === 'big') expect(new Set(log.map((l) => l.shift)).size).toBeGreaterThan(1);
            expect(got.dtype).toBe(q);
            expect(got.shape).toEqual(plain.shape);
            expect(memoryOf(arr(got.storage))).toBeGreaterThanOrEqual(0);
            expect(bytesOf(got), `${name} ${q}`).toEqual(bytesOf(want));
            for (const t of [plain, want, got]) t.dispose();
          }
          await f.close();
        }
      }
    } finally {
      setReadChunkBytes(8 * 2 ** 20);
      setNumThreads(2);
    }
  });

  it('a saved quantized tensor (U8 block bytes) is read straight into its heap storage, in pieces, bit for bit', async () => {
    manualSeed(13);
    setReadChunkBytes(100_003);
    try {
      for (const q of QS) {
        const w = quantize(randn([256, 1024]), q); // 288 / 144 KiB of blocks: several pieces
        const file = await serializeSafetensors(new Map([['w', w]]));
        const log: Read[] = [];
        const f = await openSafetensors(recordingSource(file, log));
        const got = await f.get('w', { quantized: q });
        expect(got.dtype).toBe(q);
        expect(got.shape).toEqual([256, 1024]);
        expect(memoryOf(arr(got.storage))).toBeGreaterThanOrEqual(0);
        // every piece went into the storage itself (one shift, on the heap): no scratch buffer, no decode, no copy
        expect(log.length).toBeGreaterThan(1);
        expect(log.every((l) => l.mem >= 0)).toBe(true);
        expect(new Set(log.map((l) => l.shift)).size).toBe(1);
        expect(bytesOf(got)).toEqual(bytesOf(w));
        await f.close();
        w.dispose();
        got.dispose();
      }
    } finally {
      setReadChunkBytes(8 * 2 ** 20);
    }
  });

  it('quantize-on-load refuses what quantize() refuses (a 1-D tensor), with quantize()\'s error', async () => {
    const file = await serializeSafetensors(new Map([['b', randn([64])]]));
    const f = await openSafetensors(file);
    await expect(f.get('b', { quantize: 'q8_0' })).rejects.toThrow(/2-D/);
    await f.close();
  });
});
