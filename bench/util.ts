// Shared helpers for `pnpm bench`: timing by median of repeats and a plain-text table.

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
 * Memory read bandwidth in GB/s on `threads` threads, measured now: the wasm SIMD max-reduction streaming a 256 MiB
 * float32 array (a read-only kernel, one pass per call; median of `repeats`). The ceiling a GEMV reading its weights
 * once per call can reach, for the ratios the benches print.
 */
export async function readCeilingGBs(threads: number, repeats = 5): Promise<number> {
  const { allocF32, release, rowReduceF32, setNumThreads, getNumThreads } = await import('../packages/tensor/dist/backend/cpu/wasm/index.js');
  const n = 64 * 2 ** 20;
  const x = allocF32(n).fill(1);
  const out = allocF32(1024);
  const t0 = getNumThreads();
  setNumThreads(threads);
  const ms = await medianMs(() => rowReduceF32('max', x, 0, 1024, n / 1024, out), repeats, 1);
  setNumThreads(t0);
  release(x);
  return (n * 4) / (ms * 1e6);
}
