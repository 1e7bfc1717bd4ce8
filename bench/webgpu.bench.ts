// WebGPU matmul throughput on whatever adapter initWebGPU() finds: the naive one-thread-per-output WGSL kernel vs
// the scalar tiled one (workgroup-memory tiles, TM x TN register tile per thread, the general strided path) vs the
// vec4 one (vec4 loads, stores and fma's; the default for float32 row-major operands), with each one's speed-up over
// naive measured in the same run. Skipped with one line without an adapter.
// `TENSORZOO_BENCH_TILES=1` also times a few tile shapes of both tiled kernels (for tuning on a new device).
import { medianMs, printTable } from './util.js';
import { getBackend, initWebGPU, randn, Generator, Tensor } from '../packages/tensor/dist/index.js';
import { dispatchCount, flushWebGPU, webgpuMatmul, webgpuDevice, type TileConfig } from '../packages/tensor/dist/backend/webgpu/index.js';
import { DynamicCache, NemotronForCausalLM, StaticCache } from '../packages/nemotron/dist/index.js';
import { noGrad, tidy } from '../packages/tensor/dist/index.js';
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
  await decode(info.description || info.device);
  await quantizedDecode(info.description || info.device);
  printTable(
    `WebGPU matmul on ${info.description || info.device} (${info.software ? 'software' : 'hardware'} adapter), float32, load average ${load}`,
    ['shape', 'naive ms', 'naive GFLOP/s', 'tiled ms', 'tiled GFLOP/s', 'tiled/naive', 'vec4 ms', 'vec4 GFLOP/s', 'vec4/naive'],
    rows,
  );
}

/**
 * Greedy decode of the shipped model on webgpu, three ways in interleaved rounds (medians), with dispatches per token:
 * before (DynamicCache, the composite attention: matmul, scale, softmax, matmul, which outputAttentions forces), the
 * fused decode-attention kernel alone, and with StaticCache as well (what generate uses); the order rotates every
 * round. The tokens must agree.
 * `TENSORZOO_BENCH_DECODE` sets the tokens per round (default 16), `TENSORZOO_BENCH_ROUNDS` the rounds (3).
 */
async function decode(adapter: string): Promise<void> {
  const steps = Number(process.env.TENSORZOO_BENCH_DECODE ?? 16);
  const rounds = Number(process.env.TENSORZOO_BENCH_ROUNDS ?? 3);
  const model = (await NemotronForCausalLM.fromPretrained(new URL('../models/kjv-nemotron-mini', import.meta.url).pathname)).to('webgpu');
  const prompt = [2, 517, 1024, 33, 90, 7, 250, 11];
  const ways = {
    'DynamicCache, composite attention (before)': { composite: true, cache: () => new DynamicCache(model.config.num_hidden_layers) },
    'DynamicCache, fused attention': { composite: false, cache: () => new DynamicCache(model.config.num_hidden_layers) },
    'StaticCache, fused attention (after)': { composite: false, cache: () => new StaticCache(model.config.num_hidden_layers, prompt.length + steps) },
  };
  type Way = keyof typeof ways;
  const round = async (way: Way): Promise<{ ms: number; dispatches: number; tokens: number[] }> => {
    const cache = ways[way].cache();
    const step = async (ids: number[]): Promise<number> => {
      const [next] = tidy(() => noGrad(() => {
        const out = model.forward({ inputIds: [ids], pastKeyValues: cache, useCache: true, logitsToKeep: 1, outputAttentions: ways[way].composite });
        return [out.logits.argmax(-1), cache.layers] as const;
      }));
      const t = (await next.data())[0]!;
      next.dispose();
      return Number(t);
    };
    try {
      const tokens = [await step(prompt)];
      const d0 = dispatchCount();
      const t0 = performance.now();
      for (let i = 1; i < steps; i++) tokens.push(await step([tokens.at(-1)!]));
      return { ms: (performance.now() - t0) / (steps - 1), dispatches: (dispatchCount() - d0) / (steps - 1), tokens };
    } finally {
      cache.dispose();
    }
  };
  const names = Object.keys(ways) as Way[];
  const ms = new Map<Way, number[]>(names.map((w) => [w, []]));
  const per = new Map<Way, number>();
  let reference = '';
  for (let r = 0; r < rounds; r++) {
    for (const w of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) { // each way leads a round in turn
      const res = await round(w);
      ms.get(w)!.push(res.ms);
      per.set(w, res.dispatches);
      reference ||= res.tokens.join(',');
      if (res.tokens.join(',') !== reference) throw new Error(`decode bench: ${w} generated ${res.tokens.join(',')}, not ${reference}`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  printTable(
    `Shipped model greedy decode on webgpu (${adapter}), ${steps} tokens after an ${prompt.length}-token prompt, median of ${rounds} interleaved rounds, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    ['way', 'tokens/s', 'ms/token', 'dispatches/token'],
    names.map((w) => [w, 1000 / med(ms.get(w)!), med(ms.get(w)!), per.get(w)!]),
  );
}

/**
 * Greedy decode of the shipped model on webgpu with q8 / q4 weights (fromPretrained's dtype), the quantized
 * matrix-vector products through the block GEMV kernel (after) or the general few-row kernel (before, swapped in
 * through the backend's matmul), in interleaved rounds, medians; the tokens must agree.
 */
async function quantizedDecode(adapter: string): Promise<void> {
  const steps = Number(process.env.TENSORZOO_BENCH_DECODE ?? 16);
  const rounds = Number(process.env.TENSORZOO_BENCH_ROUNDS ?? 3);
  const backend = getBackend('webgpu');
  const blockGemv = backend.matmul;
  const general: typeof blockGemv = (a, b, dtype) => webgpuMatmul(a, b, dtype, { quantGemv: false });
  const prompt = [[2, 517, 1024, 33, 90, 7, 250, 11]];
  const rows: (string | number)[][] = [];
  for (const dtype of ['q8', 'q4'] as const) {
    const model = (await NemotronForCausalLM.fromPretrained(new URL('../models/kjv-nemotron-mini', import.meta.url).pathname, { dtype })).to('webgpu');
    const tokensPerS = { before: [] as number[], after: [] as number[] };
    const seen = new Set<string>();
    try {
      for (let r = 0; r <= rounds; r++) { // round 0 warms up
        for (const way of r % 2 ? (['after', 'before'] as const) : (['before', 'after'] as const)) {
          backend.matmul = way === 'before' ? general : blockGemv;
          const t0 = performance.now();
          const out = await model.generate(prompt, { maxNewTokens: steps, doSample: false });
          const s = (performance.now() - t0) / 1000;
          seen.add(JSON.stringify(await out.tolist()));
          if (r > 0) tokensPerS[way].push(steps / s);
        }
      }
    } finally {
      backend.matmul = blockGemv;
    }
    if (seen.size !== 1) throw new Error(`quantized decode bench: the two kernels generated different tokens with ${dtype}`);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    rows.push([dtype, med(tokensPerS.before), med(tokensPerS.after), `${(med(tokensPerS.after) / med(tokensPerS.before)).toFixed(2)}x`]);
  }
  printTable(
    `Shipped model greedy decode on webgpu (${adapter}) with quantized weights, ${steps} tokens (generate, prompt included), median of ${rounds} interleaved rounds, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    ['dtype', 'general few-row kernel tok/s', 'block GEMV tok/s', 'after/before'],
    rows,
  );
}
