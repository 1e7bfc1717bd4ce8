// Worker threads on the shared heap. Each worker instantiates the kernel module on every heap memory and
// waits (Atomics.wait) for jobs: a memory index, a kernel export name and numeric arguments. A worker cannot be sent
// a memory once it runs its blocking loop, so when the heap gains a memory the pool is started again with all of
// them (rare: memories are added while weights load). The calling thread runs one share itself and then waits for
// the workers. In Node the workers are worker_threads; in a browser
// they are module Web Workers from a Blob URL (no extra asset for bundlers), available when the page is
// cross-origin isolated (SharedArrayBuffer). A browser starts workers only while the creating thread returns
// to its event loop, so there the pool starts in the background (calls run on one thread until it is ready);
// a page's main thread may not block, so there the caller spins instead of Atomics.wait.
import { getHeap, heapMemory, memoryCount } from './heap.js';
import { kernelModule, kernels } from './module.js';

const CTRL = 16; // int32 slots per worker
const ARGS = 32; // float64 args per worker
// ctrl slots: 0 job seq, 1 done seq, 2 ready(1)/failed(-1), 3 fn id, 4 nargs, 5 error flag, 6 memory index

export interface Job {
  fn: string;
  args: number[];
  /** The heap memory the arguments' addresses point into (0 when absent); one per runJobs call. */
  mem?: number;
}

/** What a worker is sent once: the kernel module, the heap's memories and its control slots. */
interface WorkerInit {
  module: WebAssembly.Module;
  mems: WebAssembly.Memory[];
  ctrl: SharedArrayBuffer;
  args: SharedArrayBuffer;
  names: string[];
  idx: number;
}

/** A started worker, Node's or the browser's. */
interface PoolWorker {
  terminate(): void;
}

// The worker's loop, run as `run(init)` by the Node and browser wrappers below.
const WORKER_RUN = `
function run({ module, mems, ctrl, args, names, idx }) {
  const c = new Int32Array(ctrl);
  const a = new Float64Array(args);
  const base = idx * ${CTRL}, abase = idx * ${ARGS};
  let fns;
  try {
    fns = mems.map((mem) => {
      const inst = new WebAssembly.Instance(module, { env: { mem } });
      return names.map((n) => inst.exports[n]);
    });
    Atomics.store(c, base + 2, 1);
  } catch (e) {
    Atomics.store(c, base + 2, -1);
    Atomics.notify(c, base + 2);
    return;
  }
  Atomics.notify(c, base + 2);
  let seen = 0;
  const argv = [];
  for (;;) {
    let spins = 0;
    // Spin a while before sleeping: decode hands out a small product every few tens of microseconds, and waking from
    // Atomics.wait costs about as much (200,000 spins against 20,000: decode 1.25x tokens/s on 2 threads).
    while (Atomics.load(c, base) === seen) {
      if (++spins > 200000) { Atomics.wait(c, base, seen, 2000); spins = 0; }
    }
    seen = Atomics.load(c, base);
    const f = fns[c[base + 6]][c[base + 3]];
    const n = c[base + 4];
    argv.length = n;
    for (let i = 0; i < n; i++) argv[i] = a[abase + i];
    try { f(...argv); c[base + 5] = 0; } catch (e) { c[base + 5] = 1; }
    Atomics.store(c, base + 1, seen);
    Atomics.notify(c, base + 1);
  }
}
`;
const NODE_WORKER_SOURCE = `${WORKER_RUN}\nrun(process.getBuiltinModule('worker_threads').workerData);\n`;
const BROWSER_WORKER_SOURCE = `${WORKER_RUN}\nself.onmessage = (e) => { self.onmessage = null; run(e.data); };\n`;

interface Pool {
  workers: PoolWorker[];
  ctrl: Int32Array;
  args: Float64Array;
  ids: Map<string, number>;
  seq: number[];
  /** Memories the workers have instances on (0 .. mems - 1). */
  mems: number;
}

let pool: Pool | null = null;
/** A browser pool whose workers are still starting (adopted once they all report ready). */
let starting: Pool | null = null;
let poolFailed = false;
let cores: number | undefined;
let numThreads: number | undefined;
let noticed = false;

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

interface WebGlobals {
  Worker?: new (url: string, opts: { type: 'module'; name?: string }) => { postMessage(m: unknown): void; terminate(): void; onerror: ((e: unknown) => void) | null };
  document?: unknown;
  navigator?: { hardwareConcurrency?: number };
}
const web = globalThis as WebGlobals;
// Fixed for the life of the process; runJobs asks on every call.
const IN_NODE = builtin('node:worker_threads') !== undefined;
/** A page's main thread, where Atomics.wait throws and blocking would freeze the page. */
const onPageMainThread = (): boolean => !IN_NODE && web.document !== undefined;

// Once per process: why a page runs the CPU backend on one thread.
function noticeOneThread(why: string): void {
  if (noticed || IN_NODE) return;
  noticed = true;
  console.info(`tensorzoo: the CPU backend runs on one thread: ${why}`);
}

/** Cores usable by this process or page (1 where threads are not available). */
export function availableCores(): number {
  if (cores !== undefined) return cores;
  const os = builtin('node:os') as { availableParallelism?: () => number; cpus?: () => unknown[] } | undefined;
  cores = Math.max(1, os?.availableParallelism?.() ?? os?.cpus?.().length ?? web.navigator?.hardwareConcurrency ?? 1);
  return cores;
}

/** Sets how many threads CPU kernels use (as torch.set_num_threads); workers start on first use. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: expected a positive integer, got ${n}`);
  numThreads = Math.min(n, 64);
}
/** Threads CPU kernels use (default: 2, or 1 on a single core). */
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

/** Starts `want` workers on the shared heap (Node worker_threads or module Web Workers); null when threads cannot run here. */
function spawn(want: number): Pool | null {
  const h = getHeap();
  const mod = kernelModule();
  if (!h || !mod) return null;
  if (!h.shared || typeof Atomics?.wait !== 'function') {
    noticeOneThread('the page is not cross-origin isolated, so there is no SharedArrayBuffer; serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp');
    return null;
  }
  const wt = builtin('node:worker_threads') as { Worker: new (src: string, opts: object) => { unref(): void; terminate(): Promise<number>; on(ev: string, cb: () => void): void } } | undefined;
  if (!wt && typeof web.Worker !== 'function') {
    noticeOneThread('this environment has no Web Workers');
    return null;
  }
  const names = kernelNames(mod);
  const mems = Array.from({ length: memoryCount() }, (_, i) => heapMemory(i));
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * CTRL * want));
  const args = new Float64Array(new SharedArrayBuffer(8 * ARGS * want));
  const workers: PoolWorker[] = [];
  const init = (idx: number): WorkerInit => ({ module: mod, mems, ctrl: ctrl.buffer as SharedArrayBuffer, args: args.buffer as SharedArrayBuffer, names, idx });
  const fail = () => {
    poolFailed = true;
  };
  try {
    if (wt) {
      for (let i = 0; i < want; i++) {
        const w = new wt.Worker(NODE_WORKER_SOURCE, { eval: true, workerData: init(i) });
        w.unref();
        w.on('error', fail);
        workers.push({ terminate: () => void w.terminate() });
      }
    } else {
      const url = URL.createObjectURL(new Blob([BROWSER_WORKER_SOURCE], { type: 'text/javascript' }));
      try {
        for (let i = 0; i < want; i++) {
          const w = new web.Worker!(url, { type: 'module', name: `tensorzoo-cpu-${i + 1}` });
          w.onerror = fail;
          w.postMessage(init(i));
          workers.push(w);
        }
      } finally {
        // A worker keeps its script once started; revoke after they have had time to fetch it.
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      }
    }
  } catch (e) {
    for (const w of workers) w.terminate();
    noticeOneThread(`workers could not start (${(e as Error).message})`);
    return null;
  }
  return { workers, ctrl, args, ids: new Map(names.map((n, i) => [n, i])), seq: new Array<number>(want).fill(0), mems: mems.length };
}

/** 1 while any worker of `p` is starting, 2 when all are ready, -1 when one failed. */
function readiness(p: Pool): -1 | 1 | 2 {
  let all = true;
  for (let i = 0; i < p.workers.length; i++) {
    const r = Atomics.load(p.ctrl, i * CTRL + 2);
    if (r < 0) return -1;
    if (r === 0) all = false;
  }
  return all ? 2 : 1;
}

function adopt(p: Pool): void {
  if (pool) for (const w of pool.workers) w.terminate();
  pool = p;
}

/**
 * Starts workers (again, when the heap has gained a memory since) so that `threads` threads in all can run on every
 * memory; returns how many threads are usable now for jobs on memory `mem`.
 */
function ensurePool(threads: number, mem = 0): number {
  if (threads <= 1 || poolFailed) return 1;
  const mems = memoryCount();
  if (pool && pool.workers.length >= threads - 1 && pool.mems >= mems) return threads;
  const usable = pool && pool.mems > mem ? pool.workers.length + 1 : 1;
  threads = Math.max(threads, pool ? pool.workers.length + 1 : 1);
  if (!IN_NODE) {
    // A browser starts workers while this thread returns to the event loop; until then, run here.
    if (starting && starting.mems < mems) {
      for (const w of starting.workers) w.terminate();
      starting = null;
    }
    starting ??= spawn(threads - 1);
    if (!starting) {
      poolFailed = true;
      return usable;
    }
    const r = readiness(starting);
    if (r === 1) return usable;
    if (r === -1) {
      for (const w of starting.workers) w.terminate();
      starting = null;
      poolFailed = true;
      noticeOneThread('a worker failed to instantiate the kernels');
      return usable;
    }
    adopt(starting);
    starting = null;
    return pool!.workers.length + 1;
  }
  const p = spawn(threads - 1);
  if (!p) {
    poolFailed = true;
    return usable;
  }
  // Block until every worker has instantiated the module (bounded).
  const t0 = Date.now();
  for (let i = 0; i < p.workers.length; i++) {
    while (Atomics.load(p.ctrl, i * CTRL + 2) === 0 && Date.now() - t0 < 10000) Atomics.wait(p.ctrl, i * CTRL + 2, 0, 100);
  }
  if (readiness(p) !== 2) {
    for (const w of p.workers) w.terminate();
    poolFailed = true;
    return usable;
  }
  adopt(p);
  return p.workers.length + 1;
}

/**
 * Starts the CPU worker pool for getNumThreads() threads and resolves with the threads calls will use (1 where
 * threads are unavailable). Optional: the pool also starts on first use; in a page this waits until it is ready.
 */
export async function startThreads(): Promise<number> {
  const want = getNumThreads();
  const t0 = Date.now();
  for (;;) {
    const t = ensurePool(want);
    if (t >= want || poolFailed || Date.now() - t0 > 10000) return Math.min(t, want);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Runs jobs[0] on this thread and jobs[1..] on workers, returning when all are done.
 * Falls back to running them one after another here when workers are unavailable.
 */
export function runJobs(jobs: Job[]): void {
  const mem = jobs[0]?.mem ?? 0;
  if (jobs.some((j) => (j.mem ?? 0) !== mem)) throw new Error('pool: the jobs of one call must use one memory');
  const k = kernels(mem);
  if (!k) throw new Error('pool: kernels unavailable');
  const t = jobs.length > 1 ? ensurePool(jobs.length, mem) : 1;
  if (t < jobs.length || !pool || pool.mems <= mem) {
    for (const j of jobs) (k[j.fn] as (...a: number[]) => void)(...j.args);
    return;
  }
  const p = pool;
  for (let w = 0; w < jobs.length - 1; w++) {
    const j = jobs[w + 1]!;
    const base = w * CTRL;
    p.ctrl[base + 3] = fnId(p, j.fn);
    p.ctrl[base + 4] = j.args.length;
    p.ctrl[base + 6] = mem;
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
  const mayBlock = !onPageMainThread();
  let workerErr = false;
  for (let w = 0; w < jobs.length - 1; w++) {
    const base = w * CTRL;
    const s = p.seq[w]!;
    let spins = 0;
    const t0 = Date.now();
    while (Atomics.load(p.ctrl, base + 1) !== s) {
      if (++spins <= 2000) continue;
      spins = 0;
      if (mayBlock) {
        Atomics.wait(p.ctrl, base + 1, Atomics.load(p.ctrl, base + 1), 50);
        if (poolFailed) throw new Error('pool: a worker thread died');
      } else if (Date.now() - t0 > 60_000) {
        // A page's main thread only spins: a worker that never answers must not hang the page forever.
        poolFailed = true;
        throw new Error('pool: a worker thread stopped responding');
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
