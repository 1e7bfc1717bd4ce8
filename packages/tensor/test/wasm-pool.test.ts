// The worker pool's dynamic scheduling: every job of a call runs exactly once whichever thread takes it, more jobs
// than threads included, calls follow each other without a late worker taking a stale job, and a failing job is
// reported without wedging the pool.
import { afterAll, describe, expect, it } from 'vitest';
import { allocF32, getNumThreads, poolInfo, release, setNumThreads } from '../dist/backend/cpu/wasm/index.js';
import { heapPtr } from '../dist/backend/cpu/wasm/heap.js';
import { MAX_JOBS, runJobs, runnableThreads, type Job } from '../dist/backend/cpu/wasm/pool.js';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const threadsBefore = getNumThreads();
afterAll(() => setNumThreads(threadsBefore));

/** `count` jobs, job i adding `one` in place to elements [i * per, (i + 1) * per) of `acc`: a job run twice adds twice. */
function addJobs(acc: Float32Array, one: Float32Array, count: number, per: number): Job[] {
  const a = heapPtr(acc);
  const o = heapPtr(one);
  return Array.from({ length: count }, (_, i) => ({ fn: 'bin_add', args: [a + i * per * 4, o + i * per * 4, a + i * per * 4, per, 0] }));
}

describe('runJobs (wasm worker pool)', () => {
  it('runs each of up to MAX_JOBS jobs exactly once on 2 threads, call after call', () => {
    setNumThreads(2);
    // jobs of some microseconds each, so that the worker takes its share while the caller takes the rest
    const per = 8192;
    const acc = allocF32(MAX_JOBS * per);
    const one = allocF32(MAX_JOBS * per).fill(1);
    const rounds = 200;
    for (let r = 0; r < rounds; r++) {
      // vary the job count so a late worker reading a previous call's table would add to the wrong elements
      const count = [MAX_JOBS, 2, 17, 3][r % 4]!;
      runJobs(addJobs(acc, one, count, per));
    }
    expect(poolInfo().workers).toBe(1);
    // per job: how many times it ran, when all its elements agree (-1 when they do not)
    const ran = Array.from({ length: MAX_JOBS }, (_, j) => (acc.subarray(j * per, (j + 1) * per).every((v) => v === acc[j * per]) ? acc[j * per] : -1));
    expect(ran).toEqual(Array.from({ length: MAX_JOBS }, (_, j) => [MAX_JOBS, 2, 17, 3].reduce((s, c) => s + (j < c ? rounds / 4 : 0), 0)));
    release(acc);
    release(one);
  });

  it('refuses more jobs than the table holds', () => {
    const acc = allocF32((MAX_JOBS + 1) * 4);
    expect(() => runJobs(addJobs(acc, acc, MAX_JOBS + 1, 4))).toThrow(/at most/);
  });

  it('reports a job that traps, on whichever thread it ran, and keeps working', () => {
    setNumThreads(2);
    const per = 64;
    const acc = allocF32(8 * per);
    const one = allocF32(8 * per).fill(1);
    const jobs = addJobs(acc, one, 8, per);
    // an address past the end of the 4 GiB memory traps
    jobs[5] = { fn: 'bin_add', args: [2 ** 32 - 16, heapPtr(one), 2 ** 32 - 16, per, 0] };
    expect(() => runJobs(jobs)).toThrow();
    acc.fill(0);
    runJobs(addJobs(acc, one, 8, per));
    expect(acc.every((v) => v === 1)).toBe(true);
  });

  // A worker that finds itself preempted sleeps between jobs only when more threads are runnable than cores; on Linux
  // it asks the kernel how many are (a virtual machine's steal time preempts it with nothing else runnable).
  it.runIf(existsSync('/proc/loadavg'))("reads the kernel's count of runnable threads: this one and two spinning ones at least", async () => {
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const spin = 'const f = new Int32Array(require("node:worker_threads").workerData); Atomics.add(f, 1, 1); while (Atomics.load(f, 0) === 0) {}';
    const workers = [0, 1].map(() => new Worker(spin, { eval: true, workerData: flag.buffer }));
    try {
      while (Atomics.load(flag, 1) < 2) await new Promise((r) => setTimeout(r, 5));
      const n = runnableThreads();
      expect(Number.isInteger(n)).toBe(true);
      expect(n).toBeGreaterThanOrEqual(3);
    } finally {
      Atomics.store(flag, 0, 1);
      await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
    }
  });
});
