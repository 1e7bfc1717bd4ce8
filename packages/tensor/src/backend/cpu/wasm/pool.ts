// Worker threads on the shared heap. Each worker instantiates the kernel module on the same memory and
// waits (Atomics.wait) for jobs: a kernel export name and numeric arguments. The calling thread runs
// one share itself and then waits for the workers. Node only; elsewhere everything runs on one thread.
import { getHeap } from './heap.js';
import { kernelModule, kernels } from './module.js';

const CTRL = 16; // int32 slots per worker
const ARGS = 32; // float64 args per worker
// ctrl slots: 0 job seq, 1 done seq, 2 ready(1)/failed(-1), 3 fn id, 4 nargs, 5 error flag

export interface Job {
  fn: string;
  args: number[];
}

interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  on(ev: string, cb: (...a: unknown[]) => void): void;
}

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, mem, ctrl, args, names, idx } = workerData;
const c = new Int32Array(ctrl);
const a = new Float64Array(args);
const base = idx * ${CTRL}, abase = idx * ${ARGS};
let fns;
try {
  const inst = new WebAssembly.Instance(module, { env: { mem } });
  fns = names.map((n) => inst.exports[n]);
  Atomics.store(c, base + 2, 1);
} catch (e) {
  Atomics.store(c, base + 2, -1);
}
Atomics.notify(c, base + 2);
let seen = 0;
const argv = [];
for (;;) {
  let spins = 0;
  while (Atomics.load(c, base) === seen) {
    if (++spins > 20000) { Atomics.wait(c, base, seen, 2000); spins = 0; }
  }
  seen = Atomics.load(c, base);
  const f = fns[c[base + 3]];
  const n = c[base + 4];
  argv.length = n;
  for (let i = 0; i < n; i++) argv[i] = a[abase + i];
  try { f(...argv); c[base + 5] = 0; } catch (e) { c[base + 5] = 1; }
  Atomics.store(c, base + 1, seen);
  Atomics.notify(c, base + 1);
}
`;

interface Pool {
  workers: NodeWorker[];
  ctrl: Int32Array;
  args: Float64Array;
  ids: Map<string, number>;
  seq: number[];
}

let pool: Pool | null = null;
let poolFailed = false;
let cores: number | undefined;
let numThreads: number | undefined;

type BuiltinGetter = (id: string) => unknown;
function builtin(id: string): unknown {
  const p = (globalThis as { process?: { getBuiltinModule?: BuiltinGetter; versions?: { node?: string } } }).process;
  if (!p?.versions?.node || typeof p.getBuiltinModule !== 'function') return undefined;
  try {
    return p.getBuiltinModule(id);
  } catch {
    return undefined;
  }
}

/** Cores usable by this process (1 where threads are not available). */
export function availableCores(): number {
  if (cores !== undefined) return cores;
  const os = builtin('node:os') as { availableParallelism?: () => number; cpus?: () => unknown[] } | undefined;
  cores = Math.max(1, os?.availableParallelism?.() ?? os?.cpus?.().length ?? 1);
  return cores;
}

export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: expected a positive integer, got ${n}`);
  numThreads = Math.min(n, 64);
}
export function getNumThreads(): number {
  if (numThreads === undefined) numThreads = Math.min(2, availableCores());
  return numThreads;
}

/** The module's exported functions, which workers can run (index = fn id). */
function kernelNames(mod: WebAssembly.Module): string[] {
  return WebAssembly.Module.exports(mod).filter((e) => e.kind === 'function').map((e) => e.name);
}
function fnId(p: Pool, name: string): number {
  const i = p.ids.get(name);
  if (i === undefined) throw new Error(`pool: unknown kernel ${name}`);
  return i;
}

/** Starts (once) workers so that `threads` threads in all can run; returns how many threads are usable. */
function ensurePool(threads: number): number {
  if (threads <= 1 || poolFailed) return 1;
  if (pool && pool.workers.length >= threads - 1) return threads;
  const h = getHeap();
  const mod = kernelModule();
  const wt = builtin('node:worker_threads') as
    | { Worker: new (src: string, opts: object) => NodeWorker; isMainThread: boolean }
    | undefined;
  if (!h || !h.shared || !mod || !wt || typeof Atomics?.wait !== 'function') {
    poolFailed = true;
    return 1;
  }
  const want = threads - 1;
  const old = pool;
  const names = kernelNames(mod);
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * CTRL * want));
  const args = new Float64Array(new SharedArrayBuffer(8 * ARGS * want));
  const workers: NodeWorker[] = [];
  try {
    for (let i = 0; i < want; i++) {
      const w = new wt.Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: mod, mem: h.mem, ctrl: ctrl.buffer, args: args.buffer, names, idx: i },
      });
      w.unref();
      w.on('error', () => {
        poolFailed = true;
      });
      workers.push(w);
    }
    // Block until every worker has instantiated the module (bounded).
    const t0 = Date.now();
    for (let i = 0; i < want; i++) {
      while (Atomics.load(ctrl, i * CTRL + 2) === 0) {
        if (Date.now() - t0 > 10000) throw new Error('pool: worker start timed out');
        Atomics.wait(ctrl, i * CTRL + 2, 0, 100);
      }
      if (ctrl[i * CTRL + 2] !== 1) throw new Error('pool: worker failed to instantiate kernels');
    }
  } catch {
    for (const w of workers) void w.terminate();
    poolFailed = true;
    return old ? old.workers.length + 1 : 1;
  }
  if (old) for (const w of old.workers) void w.terminate();
  pool = { workers, ctrl, args, ids: new Map(names.map((n, i) => [n, i])), seq: new Array<number>(want).fill(0) };
  return threads;
}

/**
 * Runs jobs[0] on this thread and jobs[1..] on workers, returning when all are done.
 * Falls back to running them one after another here when workers are unavailable.
 */
export function runJobs(jobs: Job[]): void {
  const k = kernels();
  if (!k) throw new Error('pool: kernels unavailable');
  const t = jobs.length > 1 ? ensurePool(jobs.length) : 1;
  if (t < jobs.length || !pool) {
    for (const j of jobs) (k[j.fn] as (...a: number[]) => void)(...j.args);
    return;
  }
  const p = pool;
  for (let w = 0; w < jobs.length - 1; w++) {
    const j = jobs[w + 1]!;
    const base = w * CTRL;
    p.ctrl[base + 3] = fnId(p, j.fn);
    p.ctrl[base + 4] = j.args.length;
    for (let i = 0; i < j.args.length; i++) p.args[w * ARGS + i] = j.args[i]!;
    const s = ++p.seq[w]!;
    Atomics.store(p.ctrl, base, s);
    Atomics.notify(p.ctrl, base);
  }
  let err: unknown = null;
  try {
    (k[jobs[0]!.fn] as (...a: number[]) => void)(...jobs[0]!.args);
  } catch (e) {
    err = e;
  }
  let workerErr = false;
  for (let w = 0; w < jobs.length - 1; w++) {
    const base = w * CTRL;
    const s = p.seq[w]!;
    let spins = 0;
    while (Atomics.load(p.ctrl, base + 1) !== s) {
      if (++spins > 2000) {
        Atomics.wait(p.ctrl, base + 1, Atomics.load(p.ctrl, base + 1), 50);
        if (poolFailed) throw new Error('pool: a worker thread died');
      }
    }
    if (p.ctrl[base + 5]) workerErr = true;
  }
  if (err) throw err;
  if (workerErr) throw new Error('pool: kernel failed in a worker thread');
}

/** Threads the next parallel call may use (workers start on first use). */
export function threadsFor(work: number, threshold: number): number {
  const t = getNumThreads();
  if (t <= 1 || poolFailed || work < threshold) return 1;
  return t;
}

/** Worker pool state (for tests and benchmarks). */
export function poolInfo(): { workers: number; failed: boolean } {
  return { workers: pool ? pool.workers.length : 0, failed: poolFailed };
}
