// Matmul and elementwise kernel throughput: naive JS loop vs TS reference vs WebAssembly SIMD (1 and 2 threads).
import { maddCeilingGFlops, medianMs, printTable, readCeilingGBs } from './util.js';
import {
  allocF32, matmulF32, setNumThreads, getNumThreads, availableCores,
  binaryF32, unaryF32, softmaxRowsF32, layerNormRowsF32, type MatmulArgs,
  allocU16, allocU8, matmulF32x16, matmulF32xQ, release,
} from '../packages/tensor/dist/backend/cpu/wasm/index.js';
import { quantizeBlocks } from '../packages/tensor/dist/quant-blocks.js';
import { matmulRef } from '../packages/tensor/dist/backend/cpu/kernels/matmul.js';
import { numberToBf16, numberToF16 } from '../packages/tensor/dist/dtype.js';
import { hasRelaxedSimd } from '../packages/tensor/dist/backend/cpu/wasm/module.js';
import { setIntegerQGemm } from '../packages/tensor/dist/backend/cpu/wasm/gemm.js';
import { PEAK_CHAINS } from '../packages/tensor/dist/backend/cpu/wasm/emit-gemm.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function rand(n: number): Float32Array {
  const a = allocF32(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** The naive triple loop (i, j, k) on row-major arrays; rows [0, mRows) only. */
function naive(a: Float32Array, b: Float32Array, out: Float32Array, mRows: number, n: number, k: number, nCols = n): void {
  for (let i = 0; i < mRows; i++) {
    for (let j = 0; j < nCols; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      out[i * n + j] = s;
    }
  }
}

/** 1024^3 float32 matmul on `threads` threads against the multiply-add ceiling measured on as many, in this process. */
export async function ceilingRow(threads: number): Promise<{ mode: string; ceiling: number; matmul: number }> {
  const n = 1024;
  const [a, b, out] = [rand(n * n), rand(n * n), allocF32(n * n)];
  const args: MatmulArgs = { batch: 1, m: n, n, k: n, a, aOffset: 0, aBatchStride: 0, aRowStride: n, aColStride: 1, b, bOffset: 0, bBatchStride: 0, bRowStride: n, bColStride: 1, out };
  const t0 = getNumThreads();
  setNumThreads(threads);
  const ceil: number[] = [];
  const mm: number[] = [];
  // interleaved rounds, medians: the machine is shared
  for (let r = 0; r < 3; r++) {
    ceil.push(await maddCeilingGFlops(threads));
    mm.push((2 * n ** 3) / ((await medianMs(() => matmulF32(args), 5, 1)) * 1e6));
  }
  setNumThreads(t0);
  for (const x of [a, b, out]) release(x);
  return { mode: hasRelaxedSimd() ? 'relaxed_madd' : 'mul + add', ceiling: median(ceil), matmul: median(mm) };
}

/** The ceiling rows of this engine and, where it lacks relaxed SIMD, of Node with --experimental-wasm-relaxed-simd. */
async function ceilingTable(threads: number): Promise<void> {
  const rows = [await ceilingRow(threads)];
  if (!hasRelaxedSimd()) {
    const self = fileURLToPath(import.meta.url);
    const code = `import(${JSON.stringify(self)}).then(async (m) => { console.log(JSON.stringify(await m.ceilingRow(${threads}))); process.exit(0); })`;
    try {
      const outText = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
      rows.push(JSON.parse(outText.trim().split('\n').pop()!) as Awaited<ReturnType<typeof ceilingRow>>);
    } catch (e) {
      console.log(`(no relaxed-SIMD row: ${(e as Error).message.split('\n')[0]})`);
    }
  }
  printTable(`f32 matmul 1024^3 on ${threads} threads against the wasm SIMD multiply-add ceiling measured in the same process (${PEAK_CHAINS} independent chains per thread; medians of 3 interleaved rounds)`, [
    'multiply-add', 'ceiling GFLOP/s', 'matmul GFLOP/s', 'matmul / ceiling',
  ], rows.map((r) => [r.mode, r.ceiling, r.matmul, (r.matmul / r.ceiling).toFixed(2)]));
}

export async function run(): Promise<void> {
  await ceilingTable(Math.min(2, availableCores()));
  const shapes: [string, number, number, number, boolean][] = [
    ['256x256 · 256x256', 256, 256, 256, false],
    ['512x512 · 512x512', 512, 512, 512, false],
    ['1024x1024 · 1024x1024', 1024, 1024, 1024, false],
    ['1x3072 · 3072x9216', 1, 9216, 3072, false],
    ['1x3072 · (9216x3072)^T', 1, 9216, 3072, true],
    ['128x3072 · 3072x9216', 128, 9216, 3072, false],
    ['128x3072 · (9216x3072)^T', 128, 9216, 3072, true],
  ];
  const threads0 = getNumThreads();
  const twoT = Math.min(2, availableCores());
  const rows: (string | number)[][] = [];
  for (const [name, m, n, k, bt] of shapes) {
    const a = rand(m * k);
    const b = rand(k * n);
    const out = allocF32(m * n);
    const flops = 2 * m * n * k;
    const big = flops > 4e8;
    const args: MatmulArgs = {
      batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1,
      b, bOffset: 0, bBatchStride: 0, bRowStride: bt ? 1 : n, bColStride: bt ? k : 1, out,
    };
    // Naive loop: for big shapes time a subset (rows for m > 1, columns for m == 1) and scale.
    let naiveNote = '';
    let naiveG: number;
    if (big || m === 1) {
      const sub = m === 1 ? 1024 : 8;
      const t = await medianMs(() => (m === 1 ? naive(a, b, out, 1, n, k, sub) : naive(a, b, out, sub, n, k)), 3, 1);
      naiveG = (2 * (m === 1 ? sub : sub * n) * k) / (t * 1e6);
      naiveNote = m === 1 ? ` (naive: ${sub} cols)` : ` (naive: ${sub} rows)`;
    } else {
      naiveG = flops / ((await medianMs(() => naive(a, b, out, m, n, k), 3, 1)) * 1e6);
    }
    const refMs = big
      ? (await medianMs(() => matmulRef({ ...args, m: 8, out: allocF32(8 * n) }), 3, 1)) * (m / 8)
      : await medianMs(() => matmulRef(args), 3, 1);
    const refG = flops / (refMs * 1e6);
    const reps = flops > 1e9 ? 5 : 15;
    setNumThreads(1);
    const w1 = await medianMs(() => matmulF32(args), reps, 3);
    setNumThreads(twoT);
    const w2 = await medianMs(() => matmulF32(args), reps, 3);
    const gbs = m === 1 ? `${((k * n * 4) / (Math.min(w1, w2) * 1e6)).toFixed(1)} GB/s` : '';
    rows.push([
      name + naiveNote + (big ? ' (ref: 8 rows)' : ''), naiveG, refG, flops / (w1 * 1e6), flops / (w2 * 1e6),
      (flops / (Math.min(w1, w2) * 1e6)) / naiveG, gbs,
    ]);
  }
  setNumThreads(threads0);
  printTable('f32 matmul, GFLOP/s (median); B = W^T rows read as dot products of W rows', [
    'shape', 'naive JS', 'TS ref', 'wasm 1T', `wasm ${twoT}T`, 'best/naive', 'B stream',
  ], rows);

  // 16-bit weights (B = W^T, W [n, k] bf16 / f16) decoded inside the kernels, next to the f32 rows above.
  // GEMV rows report GB/s of weight bytes read (the decode path of an LLM is bound by it).
  const rows16: (string | number)[][] = [];
  for (const [name, m, n, k, bt] of [
    ['1x3072 · (9216x3072)^T', 1, 9216, 3072, true],
    ['1x3072 · 3072x9216', 1, 9216, 3072, false],
    ['128x3072 · (9216x3072)^T', 128, 9216, 3072, true],
  ] as const) {
    for (const dt of ['bfloat16', 'float16'] as const) {
      const a = rand(m * k);
      const w = allocU16(k * n);
      const e = dt === 'bfloat16' ? numberToBf16 : numberToF16;
      for (let i = 0; i < w.length; i++) w[i] = e(Math.random() * 2 - 1);
      const out = allocF32(m * n);
      const args = {
        batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1,
        b: w, bOffset: 0, bBatchStride: 0, bRowStride: bt ? 1 : n, bColStride: bt ? k : 1, bDtype: dt, out,
      };
      const flops = 2 * m * n * k;
      const reps = m === 1 ? 31 : 7;
      setNumThreads(1);
      const w1 = await medianMs(() => matmulF32x16(args), reps, 3);
      setNumThreads(twoT);
      const w2 = await medianMs(() => matmulF32x16(args), reps, 3);
      const gb = (ms: number) => (k * n * 2) / (ms * 1e6);
      rows16.push([
        `${name} ${dt === 'bfloat16' ? 'bf16' : 'f16'} W`, flops / (w1 * 1e6), flops / (w2 * 1e6),
        m === 1 ? `${gb(w1).toFixed(1)} GB/s` : '', m === 1 ? `${gb(w2).toFixed(1)} GB/s` : '',
      ]);
      release(w);
    }
  }
  setNumThreads(threads0);
  printTable('f32 x 16-bit weights (decoded in the kernels), GFLOP/s (median) and GB/s of weight bytes read', [
    'shape', 'wasm 1T', `wasm ${twoT}T`, 'W stream 1T', `W stream ${twoT}T`,
  ], rows16);

  await quantizedGemv(twoT);
  await quantizedPrefill(twoT);
  setNumThreads(threads0);

  // Elementwise / reductions: GB/s = (bytes read + written) / time.
  const n = 1 << 22;
  const x = rand(n);
  const y = rand(n);
  const out = allocF32(n);
  const rowsN = 4096;
  const rowLen = n / rowsN;
  const ew: [string, number, () => void, () => void][] = [
    ['add (full)', 12, () => binaryF32('add', x, 0, y, 0, out, n, 'full'), () => { for (let i = 0; i < n; i++) out[i] = x[i]! + y[i]!; }],
    ['mul (row bcast)', 8, () => binaryF32('mul', x, 0, y, 0, out, n, 'row', rowLen), () => { for (let i = 0; i < n; i++) out[i] = x[i]! * y[i % rowLen]!; }],
    ['relu', 8, () => unaryF32('relu', x, 0, out, n), () => { for (let i = 0; i < n; i++) out[i] = x[i]! > 0 ? x[i]! : 0; }],
    ['exp', 8, () => unaryF32('exp', x, 0, out, n), () => { for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!); }],
    ['silu', 8, () => unaryF32('silu', x, 0, out, n), () => { for (let i = 0; i < n; i++) out[i] = x[i]! / (1 + Math.exp(-x[i]!)); }],
    ['gelu_tanh', 8, () => unaryF32('gelu_tanh', x, 0, out, n), () => { for (let i = 0; i < n; i++) { const v = x[i]!; out[i] = 0.5 * v * (1 + Math.tanh(0.7978845608 * (v + 0.044715 * v * v * v))); } }],
    ['softmax rows (1024)', 8, () => softmaxRowsF32(x, 0, rowsN, rowLen, out, false), () => {
      for (let r = 0; r < rowsN; r++) {
        const o = r * rowLen; let m = -Infinity; for (let i = 0; i < rowLen; i++) m = Math.max(m, x[o + i]!);
        let s = 0; for (let i = 0; i < rowLen; i++) s += out[o + i] = Math.exp(x[o + i]! - m);
        for (let i = 0; i < rowLen; i++) out[o + i] = out[o + i]! / s;
      }
    }],
    ['layerNorm rows (1024)', 8, () => layerNormRowsF32(x, 0, rowsN, rowLen, y, y, 1e-5, out), () => {
      for (let r = 0; r < rowsN; r++) {
        const o = r * rowLen; let s = 0; for (let i = 0; i < rowLen; i++) s += x[o + i]!;
        const mu = s / rowLen; let v = 0; for (let i = 0; i < rowLen; i++) v += (x[o + i]! - mu) ** 2;
        const rs = 1 / Math.sqrt(v / rowLen + 1e-5);
        for (let i = 0; i < rowLen; i++) out[o + i] = (x[o + i]! - mu) * rs * y[i]! + y[i]!;
      }
    }],
  ];
  const erows: (string | number)[][] = [];
  for (const [name, bytesPer, wasm, plain] of ew) {
    const bytes = bytesPer * n;
    const p = await medianMs(plain, 5, 1);
    setNumThreads(1);
    const w1 = await medianMs(wasm, 9, 2);
    setNumThreads(twoT);
    const w2 = await medianMs(wasm, 9, 2);
    erows.push([name, bytes / (p * 1e6), bytes / (w1 * 1e6), bytes / (w2 * 1e6), p / Math.min(w1, w2)]);
  }
  setNumThreads(threads0);
  printTable(`elementwise / row kernels on 2^22 f32, GB/s (bytes read + written)`, ['kernel', 'plain TS', 'wasm 1T', `wasm ${twoT}T`, 'speed-up'], erows);
}

/**
 * Decode-shaped GEMVs (1 x k times W^T, W [n, k] on the wasm heap) with W in bf16, q8_0 and q4_0, at the Minitron-4B
 * layer shapes (q/o 3072x3072, k/v 1024x3072, up 9216x3072, down 3072x9216), beside the memory read ceiling measured
 * in the same run: each call reads the next of several copies of W (at least 96 MiB in all, past the caches), three
 * interleaved rounds (the machine is shared), medians of the rounds. GB/s counts weight bytes; Gw/s weights.
 */
export async function quantizedGemv(threads: number): Promise<void> {
  const shapes: [number, number][] = [[9216, 3072], [3072, 9216], [3072, 3072], [1024, 3072]];
  const rows: (string | number)[][] = [];
  for (const [n, k] of shapes) {
    const a = rand(k);
    const wf = new Float32Array(n * k).map(() => Math.random() * 2 - 1);
    const out = allocF32(n);
    const base = { batch: 1, m: 1, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, out };
    const held: (Uint16Array | Uint8Array)[] = [];
    /** Copies of one weight, enough to pass the caches; the call reads the next one each time. */
    const copies = <T extends Uint16Array | Uint8Array>(make: () => T): T[] => {
      const first = make();
      const cs = [first];
      while (cs.length * first.byteLength < 96 * 2 ** 20) cs.push(make());
      held.push(...cs);
      return cs;
    };
    const bf = new Uint16Array(n * k);
    for (let i = 0; i < wf.length; i++) bf[i] = numberToBf16(wf[i]!);
    const q8b = quantizeBlocks('q8_0', wf);
    const q4b = quantizeBlocks('q4_0', wf);
    const w16 = copies(() => { const w = allocU16(n * k); w.set(bf); return w; });
    const q8 = copies(() => { const w = allocU8(q8b.length); w.set(q8b); return w; });
    const q4 = copies(() => { const w = allocU8(q4b.length); w.set(q4b); return w; });
    let c = 0;
    const kinds: [string, number, () => boolean][] = [
      ['bf16', n * k * 2, () => matmulF32x16({ ...base, b: w16[c++ % w16.length]!, bDtype: 'bfloat16' })],
      ['q8_0', q8b.length, () => matmulF32xQ({ ...base, b: q8[c++ % q8.length]!, bDtype: 'q8_0' })],
      ['q4_0', q4b.length, () => matmulF32xQ({ ...base, b: q4[c++ % q4.length]!, bDtype: 'q4_0' })],
    ];
    for (const t of [1, threads]) {
      setNumThreads(t);
      const gbs = new Map<string, number[]>();
      const ceil: number[] = [];
      for (let round = 0; round < 3; round++) {
        ceil.push(await readCeilingGBs(t, 3));
        for (const [name, bytes, fn] of kinds) {
          const ms = await medianMs(() => { if (!fn()) throw new Error(`${name} GEMV declined`); }, 9, 2);
          (gbs.get(name) ?? gbs.set(name, []).get(name)!).push(bytes / (ms * 1e6));
        }
      }
      const cl = median(ceil);
      for (const [name, bytes] of kinds) {
        const g = median(gbs.get(name)!);
        rows.push([`${n}x${k} ${name}, ${t}T`, (bytes / 2 ** 20).toFixed(1), g, (g * 1e9 * n * k) / bytes / 1e9, cl, `${(g / cl).toFixed(2)}`]);
      }
    }
    for (const w of held) release(w);
    release(a);
    release(out);
  }
  printTable('decode GEMV 1 x k · (n x k)^T at the Minitron-4B shapes: weight bytes read per call, GB/s, Gweights/s, read ceiling measured in the same run (medians of 3 interleaved rounds)', [
    'W (n x k), dtype', 'MiB', 'GB/s', 'Gw/s', 'ceiling GB/s', 'of ceiling',
  ], rows);
}

/**
 * Prefill-shaped products (128 x k · (n x k)^T, W q8_0 / q4_0 at the Minitron-4B layer shapes): the integer GEMM
 * (activations quantized per block to int16, i32x4.dot_i16x8_s) against the f32 path it replaces (W decoded to f32
 * panels, f32 GEMM), GFLOP/s, 1 and `threads` threads, the two paths interleaved over 3 rounds, medians of the rounds.
 */
export async function quantizedPrefill(threads: number, dtypes: readonly ('q8_0' | 'q4_0')[] = ['q8_0', 'q4_0']): Promise<void> {
  const m = 128;
  const rows: (string | number)[][] = [];
  for (const [n, k] of [[3072, 3072], [9216, 3072], [3072, 9216]] as const) {
    const a = rand(m * k);
    const wf = new Float32Array(n * k).map(() => Math.random() * 2 - 1);
    const out = allocF32(m * n);
    const flops = 2 * m * n * k;
    for (const dt of dtypes) {
      const qb = quantizeBlocks(dt, wf);
      const w = allocU8(qb.length);
      w.set(qb);
      const args = { batch: 1, m, n, k, a, aOffset: 0, aBatchStride: 0, aRowStride: k, aColStride: 1, b: w, bOffset: 0, bBatchStride: 0, bRowStride: 1, bColStride: k, bDtype: dt, out };
      for (const t of [1, threads]) {
        setNumThreads(t);
        const g: [number[], number[]] = [[], []];
        for (let round = 0; round < 3; round++) {
          for (const [i, on] of [[0, false], [1, true]] as const) {
            setIntegerQGemm(on);
            g[i].push(flops / ((await medianMs(() => { if (!matmulF32xQ(args)) throw new Error('q matmul declined'); }, 3, 1)) * 1e6));
          }
        }
        setIntegerQGemm(true);
        const [f32, int] = [median(g[0]), median(g[1])];
        rows.push([`${m}x${k} · (${n}x${k})^T ${dt}, ${t}T`, f32, int, (int / f32).toFixed(2)]);
      }
      release(w);
    }
    release(a);
    release(out);
  }
  printTable('prefill 128 x k · (n x k)^T with quantized W at the Minitron-4B shapes: f32 panels (W decoded, f32 GEMM) vs integer GEMM (int16 activations, i32x4.dot_i16x8_s), GFLOP/s (medians of 3 interleaved rounds)', [
    'shape, dtype, threads', 'f32 panels', 'integer', 'integer / f32',
  ], rows);
}

function median(xs: number[]): number {
  return [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
}
