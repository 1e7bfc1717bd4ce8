// Worker threads on the shared heap. Each worker instantiates the kernel module on every heap memory and
// waits (Atomics.wait) for jobs: a memory index, a kernel export name and numeric arguments. A worker cannot be sent
// a memory once it runs its blocking loop, so when the heap gains a memory the pool is started again with all of
// them (rare: memories are added while weights load). The calling thread runs one share itself and then waits for
// the workers. In Node the workers are worker_threads; in a browser
// they are module Web Workers from a Blob URL (no extra asset for bundlers), available when the page is
// cross-origin isolated (SharedArrayBuffer). A browser starts workers only while the creating thread returns
// to its event loop, so there the pool starts in the background (calls run on one thread until it is ready);
// a page's main thread may not block, so there the caller spins instead of Atomics.wait.
//
// Scheduling is dynamic: a call publishes its jobs in a shared table and every thread, the caller included, takes the
// next untaken job until none is left. A worker that is asleep or descheduled (a busy machine) then costs only the jobs
// it took, never a wait for one it has not started; callers split a product into a few jobs per thread for that.
import { getHeap, heapMemory, memoryCount } from './heap.js';
import { kernelModule, kernels } from './module.js';

/** Jobs one call may hand out at most (7 bits of the claim word). */
export const MAX_JOBS = 64;
const ARGS = 32; // float64 args per job
// ctrl (int32): 0 call seq (bumped once per call; workers wait on it), 1 claim word, 2 jobs finished, 3 error flag,
// JOB_BASE + 3 i: job i's fn id, arg count, memory index; READY_BASE + w: worker w ready (1) / failed (-1).
// The claim word is gen << 14 | jobs << 7 | next: a thread takes job `next` by a compare-exchange that bumps it, so a
// job is taken once, and a word from a finished call (next == jobs) lets no late worker take anything while the next
// call's table is written.
const SEQ = 0;
const CLAIM = 1;
const FINISHED = 2;
const ERROR = 3;
const JOB_BASE = 4;
const READY_BASE = JOB_BASE + 3 * MAX_JOBS;
const GEN_MASK = (1 << 17) - 1;
/** A gap (ms) within 1,024 spins of a worker that means it was preempted. */
const PREEMPTED_MS = 0.2;
/** How long (ms) a worker on a contended machine sleeps between jobs instead of spinning. */
const CONTENDED_MS = 100;

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
  /** Cores this process may use: more runnable threads than these means the machine is contended. */
  cores: number;
}

/** A started worker, Node's or the browser's. */
interface PoolWorker {
  terminate(): void;
}

// The worker's loop, run as `run(init)` by the Node and browser wrappers below.
const WORKER_RUN = `
function run({ module, mems, ctrl, args, names, idx, cores }, runnable) {
  const c = new Int32Array(ctrl);
  const a = new Float64Array(args);
  const ready = ${READY_BASE} + idx;
  let fns;
  try {
    fns = mems.map((mem) => {
      const inst = new WebAssembly.Instance(module, { env: { mem } });
      return names.map((n) => inst.exports[n]);
    });
    Atomics.store(c, ready, 1);
  } catch (e) {
    Atomics.store(c, ready, -1);
    Atomics.notify(c, ready);
    return;
  }
  Atomics.notify(c, ready);
  let seen = 0;
  let quietFrom = 0;
  const argv = [];
  for (;;) {
    let spins = 0;
    let t = performance.now();
    // Spin a while before sleeping: decode hands out a small product every few tens of microseconds, and waking from
    // Atomics.wait costs about as much (200,000 spins against 20,000: decode 1.25x tokens/s on 2 threads). But only
    // while this thread has a core to itself: 1,024 spins take a few microseconds, so a longer gap means the thread
    // was preempted. When the machine has more runnable threads than cores, spinning takes time from the caller (a
    // process's threads share one CPU share under Linux's autogroup scheduling): then it sleeps at once for a while.
    // Where the kernel says how many threads are runnable (Linux), a preemption with no more of them than cores is a
    // virtual machine's host taking the vCPU away (steal), which spinning does not worsen: 18 such gaps in a 6 s
    // small-model run kept the worker asleep between calls for 1.8 s of it (small-model decode and prefill 1.08x and
    // 1.10x without, 8 alternating runs each; Minitron-4B q8 decode unchanged; with a busy process beside it still
    // asleep as before).
    while (Atomics.load(c, ${SEQ}) === seen) {
      if ((++spins & 1023) !== 0) continue;
      const now = performance.now();
      if (now - t > ${PREEMPTED_MS}) {
        const r = runnable ? runnable() : -1;
        if (r < 0 || r > cores) quietFrom = now + ${CONTENDED_MS};
      }
      t = now;
      if (spins > 200000 || now < quietFrom) { Atomics.wait(c, ${SEQ}, seen, 2000); spins = 0; t = performance.now(); }
    }
    seen = Atomics.load(c, ${SEQ});
    for (;;) {
      const w = Atomics.load(c, ${CLAIM});
      const i = w & 127;
      if (i >= ((w >> 7) & 127)) break;
      if (Atomics.compareExchange(c, ${CLAIM}, w, w + 1) !== w) continue;
      const j = ${JOB_BASE} + 3 * i;
      const f = fns[c[j + 2]][c[j]];
      const n = c[j + 1];
      argv.length = n;
      for (let q = 0; q < n; q++) argv[q] = a[i * ${ARGS} + q];
      try { f(...argv); } catch (e) { Atomics.store(c, ${ERROR}, 1); }
      Atomics.add(c, ${FINISHED}, 1);
      Atomics.notify(c, ${FINISHED});
    }
  }
}
`;
/**
 * Linux's count of runnable threads (the fourth field of /proc/loadavg, "running/total"), or -1 where it cannot be
 * read. Node workers run it from its source text (toString), so it may use nothing from this module.
 */
export function runnableThreads(): number {
  try {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const fs = p?.getBuiltinModule?.('fs') as { readFileSync(path: string, enc: string): string } | undefined;
    const m = fs ? / (\d+)\//.exec(fs.readFileSync('/proc/loadavg', 'latin1')) : null;
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}
const NODE_WORKER_SOURCE = `${WORKER_RUN}\nrun(process.getBuiltinModule('worker_threads').workerData, ${runnableThreads.toString()});\n`;
const BROWSER_WORKER_SOURCE = `${WORKER_RUN}\nself.onmessage = (e) => { self.onmessage = null; run(e.data); };\n`;

interface Pool {
  workers: PoolWorker[];
  ctrl: Int32Array;
  args: Float64Array;
  ids: Map<string, number>;
  /** Generation of the last call's claim word. */
  gen: number;
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
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * (READY_BASE + want)));
  const args = new Float64Array(new SharedArrayBuffer(8 * ARGS * MAX_JOBS));
  const workers: PoolWorker[] = [];
  const init = (idx: number): WorkerInit => ({ module: mod, mems, ctrl: ctrl.buffer as SharedArrayBuffer, args: args.buffer as SharedArrayBuffer, names, idx, cores: availableCores() });
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
  return { workers, ctrl, args, ids: new Map(names.map((n, i) => [n, i])), gen: 0, mems: mems.length };
}

/** 1 while any worker of `p` is starting, 2 when all are ready, -1 when one failed. */
function readiness(p: Pool): -1 | 1 | 2 {
  let all = true;
  for (let i = 0; i < p.workers.length; i++) {
    const r = Atomics.load(p.ctrl, READY_BASE + i);
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
    while (Atomics.load(p.ctrl, READY_BASE + i) === 0 && Date.now() - t0 < 10000) Atomics.wait(p.ctrl, READY_BASE + i, 0, 100);
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
 * Runs the jobs on this thread and the workers, each job once, in any order and on any thread, returning when all are
 * done. Falls back to running them one after another here when workers are unavailable.
 */
export function runJobs(jobs: Job[]): void {
  const mem = jobs[0]?.mem ?? 0;
  if (jobs.some((j) => (j.mem ?? 0) !== mem)) throw new Error('pool: the jobs of one call must use one memory');
  if (jobs.length > MAX_JOBS) throw new RangeError(`pool: at most ${MAX_JOBS} jobs per call, got ${jobs.length}`);
  const k = kernels(mem);
  if (!k) throw new Error('pool: kernels unavailable');
  const t = jobs.length > 1 ? ensurePool(Math.min(jobs.length, getNumThreads()), mem) : 1;
  if (t < 2 || !pool || pool.mems <= mem) {
    for (const j of jobs) (k[j.fn] as (...a: number[]) => void)(...j.args);
    return;
  }
  const p = pool;
  const c = p.ctrl;
  const n = jobs.length;
  // No worker can take a job while the table is written: the previous call's word has next == jobs.
  for (let i = 0; i < n; i++) {
    const j = jobs[i]!;
    const e = JOB_BASE + 3 * i;
    c[e] = fnId(p, j.fn);
    c[e + 1] = j.args.length;
    c[e + 2] = mem;
    for (let q = 0; q < j.args.length; q++) p.args[i * ARGS + q] = j.args[q]!;
  }
  Atomics.store(c, FINISHED, 0);
  Atomics.store(c, ERROR, 0);
  p.gen = (p.gen + 1) & GEN_MASK;
  Atomics.store(c, CLAIM, (p.gen << 14) | (n << 7));
  Atomics.add(c, SEQ, 1);
  Atomics.notify(c, SEQ);
  let err: unknown = null;
  let mine = 0;
  for (;;) {
    const w = Atomics.load(c, CLAIM);
    const i = w & 127;
    if (i >= n) break;
    if (Atomics.compareExchange(c, CLAIM, w, w + 1) !== w) continue;
    mine++;
    if (err) continue;
    try {
      (k[jobs[i]!.fn] as (...a: number[]) => void)(...jobs[i]!.args);
    } catch (e) {
      err = e;
    }
  }
  // Wait for the jobs the workers took.
  const theirs = n - mine;
  const mayBlock = !onPageMainThread();
  let spins = 0;
  const t0 = Date.now();
  for (;;) {
    const f = Atomics.load(c, FINISHED);
    if (f >= theirs) break;
    if (++spins <= 2000) continue;
    spins = 0;
    if (mayBlock) {
      Atomics.wait(c, FINISHED, f, 50);
      if (poolFailed) throw new Error('pool: a worker thread died');
    } else if (Date.now() - t0 > 60_000) {
      // A page's main thread only spins: a worker that never answers must not hang the page forever.
      poolFailed = true;
      throw new Error('pool: a worker thread stopped responding');
    }
  }
  if (err) throw err;
  if (Atomics.load(c, ERROR)) throw new Error('pool: kernel failed in a worker thread');
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
