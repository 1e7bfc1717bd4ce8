// Op-level throughput of the CPU backend on transformer-shaped tensors, against a plain JavaScript loop
// doing the same arithmetic on the same data, measured in the same run.
import * as T from '../packages/tensor/dist/index.js';
import { setRecycledLimit } from '../packages/tensor/dist/backend/cpu/recycle.js';
import { medianMs, printTable } from './util.js';

const ROWS = 128;
const COLS = 3072;
const N = ROWS * COLS;

function naiveAdd(a: Float32Array, b: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i]! + b[i]!;
  return o;
}
function naiveSoftmax(a: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let r = 0; r < ROWS; r++) {
    let m = -Infinity;
    for (let i = 0; i < COLS; i++) m = Math.max(m, a[r * COLS + i]!);
    let s = 0;
    for (let i = 0; i < COLS; i++) s += o[r * COLS + i] = Math.exp(a[r * COLS + i]! - m);
    for (let i = 0; i < COLS; i++) o[r * COLS + i]! /= s;
  }
  return o;
}
function naiveLayerNorm(a: Float32Array, w: Float32Array, b: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let r = 0; r < ROWS; r++) {
    let mu = 0;
    for (let i = 0; i < COLS; i++) mu += a[r * COLS + i]!;
    mu /= COLS;
    let v = 0;
    for (let i = 0; i < COLS; i++) v += (a[r * COLS + i]! - mu) ** 2;
    const rs = 1 / Math.sqrt(v / COLS + 1e-5);
    for (let i = 0; i < COLS; i++) o[r * COLS + i] = (a[r * COLS + i]! - mu) * rs * w[i]! + b[i]!;
  }
  return o;
}
function naiveSum(a: Float32Array): Float32Array {
  const o = new Float32Array(ROWS);
  for (let r = 0; r < ROWS; r++) {
    let s = 0;
    for (let i = 0; i < COLS; i++) s += a[r * COLS + i]!;
    o[r] = s;
  }
  return o;
}
function naiveRelu2(a: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i]! > 0 ? a[i]! * a[i]! : 0;
  return o;
}

function naiveTranspose(a: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let j = 0; j < COLS; j++) for (let i = 0; i < ROWS; i++) o[j * ROWS + i] = a[i * COLS + j]!;
  return o;
}

/** Prints GB/s (bytes read + written) of hot elementwise, reduction and normalization ops. */
export async function run(): Promise<void> {
  const g = new T.Generator(0);
  const x = T.randn([ROWS, COLS], { generator: g });
  const y = T.randn([ROWS, COLS], { generator: g });
  const w = T.randn([COLS], { generator: g });
  const b = T.randn([COLS], { generator: g });
  const xa = x.dataSync() as Float32Array;
  const ya = y.dataSync() as Float32Array;
  const wa = w.dataSync() as Float32Array;
  const ba = b.dataSync() as Float32Array;
  const bytes3 = N * 12;
  const bytes2 = N * 8;
  const cases: [string, number, () => unknown, () => unknown][] = [
    ['add [128,3072]', bytes3, () => T.add(x, y), () => naiveAdd(xa, ya)],
    ['relu(x)^2 [128,3072]', bytes2, () => T.relu2(x), () => naiveRelu2(xa)],
    ['sum(-1) [128,3072]', N * 4, () => T.sum(x, -1), () => naiveSum(xa)],
    ['softmax(-1) [128,3072]', bytes2, () => T.softmax(x, -1), () => naiveSoftmax(xa)],
    ['layerNorm [128,3072]', bytes2, () => T.layerNorm(x, [COLS], w, b), () => naiveLayerNorm(xa, wa, ba)],
    ['transpose+contiguous', bytes2, () => x.t().contiguous(), () => naiveTranspose(xa)],
  ];
  const rows: (string | number)[][] = [];
  for (const [name, bytes, ours, naive] of cases) {
    const tOurs = await medianMs(ours);
    const tNaive = await medianMs(naive);
    rows.push([name, bytes / tOurs / 1e6, bytes / tNaive / 1e6, tNaive / tOurs]);
  }
  printTable('CPU ops, float32 (GB/s; baseline: plain JS loop on the same data)', ['op', 'tensorzoo GB/s', 'plain JS GB/s', 'speedup'], rows);

  // The same ops as a model runs them, inside tidy() (outputs disposed at once): with the pool of disposed arrays
  // (backend/cpu/recycle.ts) each output reuses the last one's buffer; without it each is fresh memory.
  const recycled: (string | number)[][] = [];
  for (const [name, , ours] of cases) {
    const step = () => T.tidy(() => void ours());
    const tOn = await medianMs(step);
    setRecycledLimit(0);
    const tOff = await medianMs(step);
    setRecycledLimit(256 * 2 ** 20);
    recycled.push([name, tOn * 1000, tOff * 1000, tOff / tOn]);
  }
  printTable('CPU ops, outputs disposed (us per op; baseline: the same without reusing disposed arrays)', ['op', 'reused us', 'fresh us', 'speedup'], recycled);
}
