// Shared helpers for `pnpm bench`: timing by median of repeats and a plain-text table.
import { readFileSync } from 'node:fs';

/** Median wall time in milliseconds of `fn` over `repeats` runs after `warmup` runs. */
export async function medianMs(fn: () => unknown | Promise<unknown>, repeats = 7, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Prints a titled, column-aligned table to stdout. */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n## ${title}\n`);
  console.log(line(cells[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/**
 * Memory read bandwidth in GB/s on `threads` threads, measured now: the wasm `readPeak` kernel streaming a 256 MiB
 * array, each thread its own quarter-aligned part read as four sequential runs at once (the GEMV kernels' access
 * pattern; one run per thread reaches about half), median of `repeats` after three warm-up passes (the first calls run
 * V8's baseline code). The ceiling a GEMV reading its weights once per call can reach, for the ratios the benches print.
 */
export async function readCeilingGBs(threads: number, repeats = 5): Promise<number> {
  const { allocF32, release } = await import('../packages/tensor/dist/backend/cpu/wasm/index.js');
  const { kernels } = await import('../packages/tensor/dist/backend/cpu/wasm/module.js');
  const { runJobs } = await import('../packages/tensor/dist/backend/cpu/wasm/pool.js');
  const { heapPtr, memoryOf } = await import('../packages/tensor/dist/backend/cpu/wasm/heap.js');
  const bytes = 256 * 2 ** 20;
  const x = allocF32(bytes / 4).fill(1);
  // with a model loaded the array may land in another of the heap's memories: read it where it is
  const mem = memoryOf(x);
  const out = allocF32(4 * threads);
  if (memoryOf(out) !== mem) throw new Error(`readCeilingGBs: the array and its output landed in different memories (${mem}, ${memoryOf(out)})`);
  const part = bytes / threads;
  const jobs = Array.from({ length: threads }, (_, t) => ({ fn: 'readPeak', mem, args: [heapPtr(x, mem) + t * part, part, heapPtr(out, mem) + 16 * t] }));
  const k = kernels(mem)!;
  const ms = await medianMs(() => (threads === 1 ? k.readPeak!(heapPtr(x, mem), bytes, heapPtr(out, mem)) : runJobs(jobs)), repeats, 3);
  release(x);
  release(out);
  return bytes / (ms * 1e6);
}

/**
 * The wasm SIMD multiply-add ceiling in GFLOP/s on `threads` threads: the maddPeak kernel (independent chains in the
 * GEMM kernels' multiply-add form, relaxed_madd where the engine has it) on every thread at once, median of 9. The
 * yardstick of compute-bound kernels, as readCeilingGBs is of memory-bound ones.
 */
export async function maddCeilingGFlops(threads: number): Promise<number> {
  const { allocF32, release } = await import('../packages/tensor/dist/backend/cpu/wasm/index.js');
  const { kernels } = await import('../packages/tensor/dist/backend/cpu/wasm/module.js');
  const { runJobs } = await import('../packages/tensor/dist/backend/cpu/wasm/pool.js');
  const { heapPtr } = await import('../packages/tensor/dist/backend/cpu/wasm/heap.js');
  const { PEAK_CHAINS } = await import('../packages/tensor/dist/backend/cpu/wasm/emit-gemm.js');
  const iters = 1 << 21;
  const out = allocF32(4 * threads);
  const jobs = Array.from({ length: threads }, (_, t) => ({ fn: 'maddPeak', args: [iters, heapPtr(out) + 16 * t] }));
  const k = kernels()!;
  const ms = await medianMs(() => (threads === 1 ? k.maddPeak!(iters, heapPtr(out)) : runJobs(jobs)), 9, 2);
  release(out);
  return (threads * iters * PEAK_CHAINS * 8) / (ms * 1e6);
}

/**
 * Starts a meter of the CPU time a virtual machine's host took from this machine (the steal column of Linux's
 * /proc/stat, all CPUs); the returned function gives its share of all CPU time since, in percent (null off Linux).
 * Timings taken while the host steals are slower by about that much, and on shared hosts it varies by the minute.
 */
export function stealMeter(): () => number | null {
  const read = (): [number, number] | null => {
    try {
      const f = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
      return f.length === 8 && f.every(Number.isFinite) ? [f[7]!, f.reduce((a, b) => a + b, 0)] : null;
    } catch {
      return null;
    }
  };
  const t0 = read();
  return () => {
    const t1 = read();
    if (!t0 || !t1 || t1[1] === t0[1]) return null;
    return (100 * (t1[0] - t0[0])) / (t1[1] - t0[1]);
  };
}

/**
 * What a loader that copies a file into memory can reach here: the first `bytes` of `file` read into a newly
 * allocated shared WebAssembly.Memory (the CPU heap's kind) by the safetensors loader's own reads (readChunksInto:
 * 8 MiB positioned reads, several in flight), then again into the same, now resident, memory. GB/s of each (10^9
 * bytes). The first pays the kernel's page faults on fresh memory (on a virtual machine each may reach the host); the
 * second only the copy out of the page cache. Runs in a worker thread, whose exit frees the memory, so the caller's
 * peak RSS does not keep it.
 */
export async function freshFillGBs(file: string, bytes: number): Promise<{ fresh: number; resident: number }> {
  const { Worker } = await import('node:worker_threads');
  const sources = new URL('../packages/tensor/dist/safetensors/sources.js', import.meta.url).href;
  const src = `
    const { parentPort, workerData: { file, bytes, sources } } = require('node:worker_threads');
    (async () => {
      const { openFileSource, readChunksInto } = await import(sources);
      const s = await openFileSource(file);
      const mem = new WebAssembly.Memory({ initial: 0, maximum: Math.ceil(bytes / 65536), shared: true });
      mem.grow(Math.ceil(bytes / 65536));
      const dst = new Uint8Array(mem.buffer, 0, bytes);
      const fill = async () => {
        const t0 = performance.now();
        await readChunksInto(s, 0, dst);
        return bytes / ((performance.now() - t0) * 1e6);
      };
      const fresh = await fill();
      const resident = await fill();
      await s.close();
      parentPort.postMessage({ fresh, resident });
    })().catch((e) => parentPort.postMessage({ error: String(e) }));
  `;
  const w = new Worker(src, { eval: true, workerData: { file, bytes, sources } });
  try {
    const r = await new Promise<{ fresh: number; resident: number; error?: string }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    if (r.error) throw new Error(r.error);
    return { fresh: r.fresh, resident: r.resident };
  } finally {
    await w.terminate();
  }
}
