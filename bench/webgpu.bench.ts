// WebGPU matmul throughput on whatever adapter initWebGPU() finds: the naive one-thread-per-output WGSL kernel vs
// the scalar tiled one (workgroup-memory tiles, TM x TN register tile per thread, the general strided path) vs the
// vec4 one (vec4 loads, stores and fma's; the default for float32 row-major operands), with each one's speed-up over
// naive measured in the same run. Skipped with one line without an adapter.
// `TENSORZOO_BENCH_TILES=1` also times a few tile shapes of both tiled kernels (for tuning on a new device).
import { medianMs, printTable } from './util.js';
import { initWebGPU, randn, Generator, Tensor } from '../packages/tensor/dist/index.js';
import { flushWebGPU, webgpuMatmul, webgpuDevice, type TileConfig } from '../packages/tensor/dist/backend/webgpu/index.js';
import type { Vec4Config } from '../packages/tensor/dist/backend/webgpu/matmul.js';
import { loadavg } from 'node:os';

function gflops(m: number, n: number, k: number, ms: number): number {
  return (2 * m * n * k) / (ms * 1e6);
}

export async function run(): Promise<void> {
  let info;
  try {
    info = await initWebGPU();
  } catch (e) {
    console.log(`\n## WebGPU matmul\n\nskipped: ${(e as Error).message}`);
    return;
  }
  const device = webgpuDevice();
  const g = new Generator(0);
  const sizes = (process.env.TENSORZOO_BENCH_SIZES ?? '256,512,1024').split(',').map(Number);
  const rows: (string | number)[][] = [];
  const time = async (a: Tensor, b: Tensor, opts: { naive?: boolean; tile?: TileConfig; vec4?: Vec4Config | false }, slow: boolean) =>
    medianMs(async () => {
      const out = webgpuMatmul(a.reshape([1, ...a.shape]), b.reshape([1, ...b.shape]), 'float32', opts);
      flushWebGPU(); // work is recorded in batches: submit it before waiting
      await device.queue.onSubmittedWorkDone();
      out.dispose();
    }, slow ? 3 : 7, 1);
  for (const n of sizes) {
    const a = randn([n, n], { generator: g, device: 'webgpu' });
    const b = randn([n, n], { generator: g, device: 'webgpu' });
    const naiveMs = await time(a, b, { naive: true }, n >= 1024 || info.software);
    const tiledMs = await time(a, b, { vec4: false }, false);
    const vec4Ms = await time(a, b, {}, false);
    const f = (ms: number) => gflops(n, n, n, ms);
    rows.push([`${n}x${n} · ${n}x${n}`, naiveMs, f(naiveMs), tiledMs, f(tiledMs), `${(naiveMs / tiledMs).toFixed(1)}x`, vec4Ms, f(vec4Ms), `${(naiveMs / vec4Ms).toFixed(1)}x`]);
    if (process.env.TENSORZOO_BENCH_TILES) {
      const tiles: TileConfig[] = [
        { TX: 8, TY: 8, TM: 8, TN: 8, BK: 8 }, { TX: 8, TY: 8, TM: 8, TN: 8, BK: 16 }, { TX: 8, TY: 4, TM: 8, TN: 8, BK: 8 },
        { TX: 8, TY: 8, TM: 4, TN: 8, BK: 8 }, { TX: 16, TY: 16, TM: 8, TN: 8, BK: 8 }, { TX: 8, TY: 8, TM: 16, TN: 8, BK: 8 },
      ];
      for (const t of process.env.TENSORZOO_BENCH_TILES === 'vec4' ? [] : tiles) {
        const ms = await time(a, b, { tile: t }, false);
        console.log(`tile ${JSON.stringify(t)} at ${n}: ${ms.toFixed(1)} ms, ${gflops(n, n, n, ms).toFixed(2)} GFLOP/s`);
      }
      const vtiles: Vec4Config[] = [
        { WX: 8, WY: 8, TM: 16, TN4: 4, BK: 8 }, { WX: 8, WY: 8, TM: 16, TN4: 4, BK: 16 }, { WX: 8, WY: 8, TM: 16, TN4: 4, BK: 4 },
        { WX: 8, WY: 8, TM: 32, TN4: 4, BK: 4 }, { WX: 8, WY: 8, TM: 8, TN4: 8, BK: 8 }, { WX: 8, WY: 8, TM: 8, TN4: 4, BK: 8 },
        { WX: 4, WY: 4, TM: 16, TN4: 4, BK: 16 }, { WX: 16, WY: 16, TM: 4, TN4: 1, BK: 16 },
      ];
      for (const t of vtiles) {
        const ms = await time(a, b, { vec4: t }, false);
        console.log(`vec4 ${JSON.stringify(t)} at ${n}: ${ms.toFixed(1)} ms, ${gflops(n, n, n, ms).toFixed(2)} GFLOP/s, ${(naiveMs / ms).toFixed(1)}x naive`);
      }
    }
    a.dispose();
    b.dispose();
  }
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  printTable(
    `WebGPU matmul on ${info.description || info.device} (${info.software ? 'software' : 'hardware'} adapter), float32, load average ${load}`,
    ['shape', 'naive ms', 'naive GFLOP/s', 'tiled ms', 'tiled GFLOP/s', 'tiled/naive', 'vec4 ms', 'vec4 GFLOP/s', 'vec4/naive'],
    rows,
  );
}
