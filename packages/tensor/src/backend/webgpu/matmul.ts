// Batched matrix products on the GPU: a tiled kernel (a BM x BN output tile per workgroup staged through workgroup
// memory in BK-deep slices, each thread accumulating TM x TN outputs in registers) and, for comparison in the bench,
// the naive one-thread-per-output kernel. Both read strided [B, M, K] x [B, K, N] views directly (batch strides may be 0).
// float32 operands with row-major inner dims take a vec4 variant of the tiled kernel instead (vec4Code below).
import type { Storage, View } from '../../backend.js';
import { isQuantized, type DType, type QuantDType } from '../../dtype.js';
import { GpuStorage, gpu, grid, opName, run, st, type Dispatch } from './gpu.js';
import { BASE_LIB, conv, declIn, declOut, declParams, loaders, storers, vt } from './wgsl.js';

/** Shape of the tiled kernel: threads TX x TY, each computing TM x TN outputs; K staged BK at a time. */
export interface TileConfig {
  TX: number;
  TY: number;
  TM: number;
  TN: number;
  BK: number;
}

export const DEFAULT_TILE: TileConfig = { TX: 8, TY: 8, TM: 8, TN: 8, BK: 8 };

/** Bindings, the output's storers and A's loaders; B's loaders are the kernel's own. */
function bindings(a: DType, b: DType, out: DType): string {
  return `${BASE_LIB}
${declOut(0, 'out', out)}
${declIn(1, 'ina', a)}
${declIn(2, 'inb', b)}
${declParams(3)}
${storers('out', out)}
${loaders('ina', a)}`;
}

function head(a: DType, b: DType, out: DType): string {
  return `${bindings(a, b, out)}
${isQuantized(b) ? quantLoader('inb', b) : loaders('inb', b)}`;
}

/**
 * `fn ld_<name>(i: i32) -> f32` decoding element i of q8_0 / q4_0 blocks (llama.cpp's byte layout, read through the
 * u32 words of the buffer): its quant times its block's f16 scale, the exact value dequantize gives.
 */
function quantLoader(name: string, d: QuantDType): string {
  const bb = d === 'q8_0' ? 34 : 18;
  const q = d === 'q8_0'
    ? `let qa = base + 2u + j; let q = bitcast<i32>(((${name}[qa >> 2u] >> ((qa & 3u) * 8u)) & 0xffu) << 24u) >> 24u;`
    : `let qa = base + 2u + (j & 15u); let byte = (${name}[qa >> 2u] >> ((qa & 3u) * 8u)) & 0xffu; let q = i32(select(byte >> 4u, byte & 15u, j < 16u)) - 8;`;
  return `fn ld_${name}(i: i32) -> f32 {
  let blk = u32(i) >> 5u; let j = u32(i) & 31u; let base = blk * ${bb}u;
  let h = (${name}[base >> 2u] >> ((base & 2u) * 8u)) & 0xffffu;
  ${q}
  return f32(q) * f16d(h);
}`;
}

/**
 * Decodes a quantized view (rank <= 2, any strides) to a contiguous float32 storage: what dequantize and casts out
 * of q8_0 / q4_0 run on the GPU.
 */
export function dequantize(x: View, dtype: DType): Storage {
  opName(`dequantize (${x.storage.dtype})`);
  const from = x.storage.dtype;
  if (!isQuantized(from)) throw new Error(`dequantize: expected q8_0 / q4_0 storage, got ${from}`);
  if (dtype !== 'float32') throw new Error(`cast: ${from} tensors dequantize to float32 on 'webgpu', not ${dtype}`);
  if (x.shape.length > 2) throw new Error(`dequantize: ${from} views have at most 2 dims, got ${x.shape.length}`);
  const shape = [...Array(2 - x.shape.length).fill(1), ...x.shape] as [number, number];
  const strides = [...Array(2 - x.strides.length).fill(0), ...x.strides] as [number, number];
  const n = shape[0] * shape[1];
  const out = new GpuStorage('float32', n);
  if (n === 0) return out;
  const code = `${BASE_LIB}
${declOut(0, 'out', 'float32')}
${declIn(1, 'inq', from)}
${declParams(2)}
${quantLoader('inq', from)}
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = i32(gid.x + gid.y * nwg.x * 256u);
  if (e >= p[0]) { return; }
  out[e] = ld_inq(p[2] + (e / p[1]) * p[3] + (e % p[1]) * p[4]);
}`;
  run([{ code, buffers: [out.buffer, st(x.storage).buffer], params: [n, shape[1], x.offset, strides[0], strides[1]], groups: grid(Math.ceil(n / 256)) }]);
  return out;
}

function tiledCode(a: DType, b: DType, out: DType, c: TileConfig): string {
  const t = vt(out);
  const cd: DType = t === 'f32' ? 'float32' : 'int32';
  const BM = c.TY * c.TM;
  const BN = c.TX * c.TN;
  const NT = c.TX * c.TY;
  const LA = (BM * c.BK) / NT;
  const LB = (c.BK * BN) / NT;
  if (!Number.isInteger(LA) || !Number.isInteger(LB)) throw new Error('matmul: tile shape does not divide among the threads');
  let acc = '';
  for (let i = 0; i < c.TM; i++) for (let j = 0; j < c.TN; j++) acc += `  var c${i}_${j} = ${t}(0);\n`;
  let loadA = '';
  for (let e = 0; e < LA; e++) {
    loadA += `    { let f = tid + ${e * NT}; let r = f / ${c.BK}; let q = f % ${c.BK}; let m = m0 + r; let k = k0 + q;
      var v = ${t}(0); if (m < M && k < K) { v = ${conv('ld_ina(aBase + m * p[5] + k * p[6])', vt(a), cd)}; } As[q * ${BM} + r] = v; }\n`;
  }
  let loadB = '';
  for (let e = 0; e < LB; e++) {
    loadB += `    { let f = tid + ${e * NT}; let r = f / ${BN}; let q = f % ${BN}; let k = k0 + r; let n = n0 + q;
      var v = ${t}(0); if (k < K && n < N) { v = ${conv('ld_inb(bBase + k * p[9] + n * p[10])', vt(b), cd)}; } Bs[r * ${BN} + q] = v; }\n`;
  }
  let inner = '';
  for (let i = 0; i < c.TM; i++) inner += `      let a${i} = As[k * ${BM} + ty + ${i * c.TY}];\n`;
  for (let j = 0; j < c.TN; j++) inner += `      let b${j} = Bs[k * ${BN} + tx + ${j * c.TX}];\n`;
  for (let i = 0; i < c.TM; i++) for (let j = 0; j < c.TN; j++) inner += `      c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});\n`;
  if (t === 'i32') inner = inner.replace(/fma\((a\d+), (b\d+), (c\d+_\d+)\)/g, '$3 + $1 * $2');
  let store = '';
  for (let i = 0; i < c.TM; i++) {
    for (let j = 0; j < c.TN; j++) {
      store += `  { let m = m0 + ty + ${i * c.TY}; let n = n0 + tx + ${j * c.TX}; if (m < M && n < N) { st_out(oBase + m * N + n, ${conv(`c${i}_${j}`, t, out)}); } }\n`;
    }
  }
  return `${head(a, b, out)}
var<workgroup> As: array<${t}, ${BM * c.BK}>;
var<workgroup> Bs: array<${t}, ${BN * c.BK}>;
@compute @workgroup_size(${c.TX}, ${c.TY}) fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let tid = ty * ${c.TX} + tx;
  let M = p[0]; let N = p[1]; let K = p[2];
  let bi = i32(wid.z) + p[11];
  let m0 = i32(wid.y) * ${BM};
  let n0 = i32(wid.x) * ${BN};
  let aBase = p[3] + bi * p[4];
  let bBase = p[7] + bi * p[8];
  let oBase = bi * M * N;
${acc}  for (var k0 = 0; k0 < K; k0 += ${c.BK}) {
${loadA}${loadB}    workgroupBarrier();
    for (var k = 0; k < ${c.BK}; k++) {
${inner}    }
    workgroupBarrier();
  }
${store}}`;
}

/** One thread per output; a WX x WY workgroup (16 x 16, or 64 x 1 for the few rows of a matrix-vector product). */
function naiveCode(a: DType, b: DType, out: DType, WX = 16, WY = 16): string {
  const t = vt(out);
  const cd: DType = t === 'f32' ? 'float32' : 'int32';
  return `${head(a, b, out)}
@compute @workgroup_size(${WX}, ${WY}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = p[0]; let N = p[1]; let K = p[2];
  let n = i32(gid.x); let m = i32(gid.y);
  let bi = i32(wid.z) + p[11];
  if (m >= M || n >= N) { return; }
  let aBase = p[3] + bi * p[4] + m * p[5];
  let bBase = p[7] + bi * p[8] + n * p[10];
  var acc = ${t}(0);
  for (var k = 0; k < K; k++) { acc += ${conv('ld_ina(aBase + k * p[6])', vt(a), cd)} * ${conv('ld_inb(bBase + k * p[9])', vt(b), cd)}; }
  st_out(bi * M * N + m * N + n, ${conv('acc', t, out)});
}`;
}

/**
 * Matrix-vector product with a q8_0 / q4_0 weight (decoding): one thread per output walks its weight row block by
 * block, reading the quants four to a u32 word and the f16 scale once per block (the general kernels decode both per
 * element), and scales each block's integer-weighted sum once. Needs the weight's K contiguous and every row starting
 * on a block (quantGemvOk).
 */
function quantGemvCode(a: DType, b: QuantDType, out: DType): string {
  const bb = b === 'q8_0' ? 34 : 18;
  const x = (k: string) => conv(`ld_ina(${k})`, vt(a), 'float32');
  const body = b === 'q8_0'
    ? `for (var j = 0; j < 8; j++) {
      let w = word_inb(base + 2u + u32(j) * 4u);
      let k = a0 + j * 4 * sa;
      s += f32(bitcast<i32>(w << 24u) >> 24u) * ${x('k')} + f32(bitcast<i32>(w << 16u) >> 24u) * ${x('k + sa')}
         + f32(bitcast<i32>(w << 8u) >> 24u) * ${x('k + 2 * sa')} + f32(bitcast<i32>(w) >> 24u) * ${x('k + 3 * sa')};
    }`
    : `for (var j = 0; j < 4; j++) {
      let w = word_inb(base + 2u + u32(j) * 4u);
      for (var t = 0; t < 4; t++) {
        let byte = (w >> (u32(t) * 8u)) & 0xffu;
        let k = a0 + (j * 4 + t) * sa;
        s += f32(i32(byte & 15u) - 8) * ${x('k')} + f32(i32(byte >> 4u) - 8) * ${x('k + 16 * sa')};
      }
    }`;
  return `${bindings(a, b, out)}
fn word_inb(addr: u32) -> u32 {
  let w = addr >> 2u;
  if ((addr & 2u) == 0u) { return inb[w]; }
  return (inb[w] >> 16u) | (inb[w + 1u] << 16u);
}
@compute @workgroup_size(64, 1) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = p[0]; let N = p[1]; let K = p[2];
  let n = i32(gid.x); let m = i32(gid.y);
  let bi = i32(wid.z) + p[11];
  if (m >= M || n >= N) { return; }
  let aBase = p[3] + bi * p[4] + m * p[5];
  let sa = p[6];
  let blk0 = u32((p[7] + bi * p[8] + n * p[10]) / 32);
  var acc = 0.0;
  for (var kb = 0; kb < K / 32; kb++) {
    let base = (blk0 + u32(kb)) * ${bb}u;
    let d = f16d((inb[base >> 2u] >> ((base & 2u) * 8u)) & 0xffffu);
    let a0 = aBase + kb * 32 * sa;
    var s = 0.0;
    ${body}
    acc += d * s;
  }
  st_out(bi * M * N + m * N + n, ${conv('acc', 'f32', out)});
}`;
}

/** Whether quantGemvCode reads this weight view: quantized, K contiguous, every row (and batch) on a block boundary. */
function quantGemvOk(b: View, K: number): boolean {
  const whole = (x: number) => x % 32 === 0;
  return isQuantized(b.storage.dtype) && b.strides[1] === 1 && whole(K) && whole(b.offset) && whole(b.strides[0]!) && whole(b.strides[2]!);
}

/**
 * Shape of the vec4 kernel (float32, row-major inner dims): threads WX x WY, each computing TM rows x TN4 vec4 columns
 * of the output (TM x 4*TN4 values); the workgroup tile is (WY*TM) x (WX*TN4*4); K staged BK (a multiple of 4) at a
 * time. Every global and workgroup-memory access is a vec4, and the inner product is vec4 fma's, which llvmpipe (and
 * real GPUs) turn into far fewer instructions than the scalar kernel's.
 */
export interface Vec4Config {
  WX: number;
  WY: number;
  TM: number;
  TN4: number;
  BK: number;
}

/**
 * Software adapters (llvmpipe) run a workgroup on one CPU core with invocations as SIMD lanes, where workgroup-memory
 * reads are gathers: big per-thread tiles (16 x 16 outputs, 128 x 128 per workgroup) amortize them best, measured
 * with bench/webgpu.bench.ts (TENSORZOO_BENCH_TILES=vec4). Hardware GPUs get the usual 4 x 4 per thread in 64 x 64
 * tiles, which keeps the accumulators in registers.
 */
export const DEFAULT_VEC4_SOFTWARE: Vec4Config = { WX: 8, WY: 8, TM: 16, TN4: 4, BK: 8 };
export const DEFAULT_VEC4_HARDWARE: Vec4Config = { WX: 16, WY: 16, TM: 4, TN4: 1, BK: 16 };

function vec4Code(c: Vec4Config): string {
  const BM = c.WY * c.TM;
  const BN4 = c.WX * c.TN4;
  const BK4 = c.BK / 4;
  const NT = c.WX * c.WY;
  if (c.BK % 4 !== 0) throw new Error('matmul: the vec4 kernel stages K a multiple of 4 at a time');
  // Each thread loads LA vec4s of the A tile and LB of the B tile (the last round guarded when they do not divide).
  const LA = Math.ceil((BM * BK4) / NT);
  const LB = Math.ceil((c.BK * BN4) / NT);
  const guardA = (e: number) => ((e + 1) * NT > BM * BK4 ? `if (tid + ${e * NT} < ${BM * BK4}) ` : '');
  const guardB = (e: number) => ((e + 1) * NT > c.BK * BN4 ? `if (tid + ${e * NT} < ${c.BK * BN4}) ` : '');
  let acc = '';
  for (let i = 0; i < c.TM; i++) for (let j = 0; j < c.TN4; j++) acc += `  var c${i}_${j} = vec4<f32>(0.0);\n`;
  // A tile: BM rows x BK4 vec4s (along K); B tile: BK rows x BN4 vec4s (along N). Zero outside the matrices.
  let loadA = '';
  for (let e = 0; e < LA; e++) {
    loadA += `    ${guardA(e)}{ let f = tid + ${e * NT}; let r = f / ${BK4}; let q = f % ${BK4}; let m = m0 + r; let k = k0 + q * 4;
      var v = vec4<f32>(0.0); if (m < M && k < K) { v = ina[aBase + m * sa + q + k0 / 4]; } As[f] = v; }\n`;
  }
  let loadB = '';
  for (let e = 0; e < LB; e++) {
    loadB += `    ${guardB(e)}{ let f = tid + ${e * NT}; let r = f / ${BN4}; let q = f % ${BN4}; let k = k0 + r; let n = n0 + q * 4;
      var v = vec4<f32>(0.0); if (k < K && n < N) { v = inb[bBase + k * sb + q + n0 / 4]; } Bs[f] = v; }\n`;
  }
  // The K loop within a tile is unrolled (kk constant), so every workgroup-memory index folds to base + constant.
  let inner = '';
  for (let kk = 0; kk < BK4; kk++) {
    inner += '    {\n';
    for (let j = 0; j < c.TN4; j++) for (let d = 0; d < 4; d++) inner += `      let b${d}_${j} = Bs[${(kk * 4 + d) * BN4 + j * c.WX} + tx];\n`;
    for (let i = 0; i < c.TM; i++) {
      inner += `      let a${i} = As[ty * ${BK4} + ${i * c.WY * BK4 + kk}];\n`;
      for (let j = 0; j < c.TN4; j++) {
        inner += `      c${i}_${j} = fma(vec4<f32>(a${i}.x), b0_${j}, c${i}_${j}); c${i}_${j} = fma(vec4<f32>(a${i}.y), b1_${j}, c${i}_${j});
      c${i}_${j} = fma(vec4<f32>(a${i}.z), b2_${j}, c${i}_${j}); c${i}_${j} = fma(vec4<f32>(a${i}.w), b3_${j}, c${i}_${j});\n`;
      }
    }
    inner += '    }\n';
  }
  let store = '';
  for (let i = 0; i < c.TM; i++) {
    for (let j = 0; j < c.TN4; j++) {
      store += `  { let m = m0 + ty + ${i * c.WY}; let n4 = n0 / 4 + tx + ${j * c.WX}; if (m < M && n4 * 4 < N) { out[oBase + m * (N / 4) + n4] = c${i}_${j}; } }\n`;
    }
  }
  return `@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ina: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> inb: array<vec4<f32>>;
${declParams(3)}
var<workgroup> As: array<vec4<f32>, ${BM * BK4}>;
var<workgroup> Bs: array<vec4<f32>, ${c.BK * BN4}>;
@compute @workgroup_size(${c.WX}, ${c.WY}) fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let tid = ty * ${c.WX} + tx;
  let M = p[0]; let N = p[1]; let K = p[2];
  let bi = i32(wid.z) + p[9];
  let m0 = i32(wid.y) * ${BM};
  let n0 = i32(wid.x) * ${BN4 * 4};
  // Offsets and strides in vec4 units: A row stride sa, B row stride sb.
  let sa = p[5]; let sb = p[8];
  let aBase = p[3] + bi * p[4];
  let bBase = p[6] + bi * p[7];
  let oBase = bi * M * (N / 4);
${acc}  for (var k0 = 0; k0 < K; k0 += ${c.BK}) {
${loadA}${loadB}    workgroupBarrier();
${inner}    workgroupBarrier();
  }
${store}}`;
}

/** Whether the vec4 kernel can read these views: float32, unit inner strides, and every offset and stride a multiple of 4. */
function vec4Ok(a: View, b: View, dtype: DType, K: number, N: number): boolean {
  if (dtype !== 'float32' || a.storage.dtype !== 'float32' || b.storage.dtype !== 'float32') return false;
  if (K % 4 !== 0 || N % 4 !== 0) return false;
  if (a.strides[2] !== 1 || b.strides[2] !== 1) return false;
  const m4 = (x: number) => x % 4 === 0;
  return m4(a.offset) && m4(a.strides[0]!) && m4(a.strides[1]!) && m4(b.offset) && m4(b.strides[0]!) && m4(b.strides[1]!);
}

/** Output rows up to which the matrix-vector kernel (one thread per output, no tile) runs. */
const GEMV_ROWS = 4;

/**
 * out[b] = a[b] @ b[b] for [B, M, K] x [B, K, N] views. float32 operands with row-major inner dims (K and N multiples
 * of 4, offsets and strides multiples of 4) take the vec4 kernel; everything else the general strided tiled kernel;
 * up to GEMV_ROWS output rows (decoding), one thread per output in 64-wide workgroups, whatever the operands (a
 * block-aligned q8_0 / q4_0 weight through quantGemvCode). `naive`, `tile`, `vec4` and `quantGemv` are for the bench:
 * the one-thread-per-output kernel, a scalar tile shape, a vec4 tile shape (or `false` to force the scalar kernel),
 * `quantGemv: false` the general few-row kernel for quantized weights.
 */
export function matmul(a: View, b: View, dtype: DType, opts: { naive?: boolean; tile?: TileConfig; vec4?: Vec4Config | false; quantGemv?: boolean } = {}): Storage {
  opName('matmul');
  const [B, M, K] = a.shape as [number, number, number];
  const N = b.shape[2]!;
  const out = new GpuStorage(dtype, B * M * N);
  if (B * M * N === 0) return out;
  const ad = a.storage.dtype;
  const bd = b.storage.dtype;
  const list: Dispatch[] = [];
  if (M <= GEMV_ROWS && !opts.naive && !opts.tile && opts.vec4 === undefined) {
    // a few rows (decoding): the tiled kernels would compute a whole tile of rows and keep one
    const code = isQuantized(bd) && opts.quantGemv !== false && quantGemvOk(b, K) ? quantGemvCode(ad, bd, dtype) : naiveCode(ad, bd, dtype, 64, 1);
    const gx = Math.ceil(N / 64);
    if (gx > 65535) throw new Error(`matmul: output [${M}, ${N}] needs more than 65535 workgroups along one dimension on 'webgpu'`);
    for (let base = 0; base < B; base += 65535) {
      const params = [M, N, K, a.offset, a.strides[0]!, a.strides[1]!, a.strides[2]!, b.offset, b.strides[0]!, b.strides[1]!, b.strides[2]!, base];
      list.push({ code, buffers: [out.buffer, st(a.storage).buffer, st(b.storage).buffer], params, groups: [gx, M, Math.min(65535, B - base)] });
    }
    run(list);
    return out;
  }
  const useVec4 = !opts.naive && !opts.tile && opts.vec4 !== false && K > 0 && vec4Ok(a, b, dtype, K, N);
  if (useVec4) {
    const v = opts.vec4 || (gpu().info.software ? DEFAULT_VEC4_SOFTWARE : DEFAULT_VEC4_HARDWARE);
    const code = vec4Code(v);
    const gx = Math.ceil(N / (v.WX * v.TN4 * 4));
    const gy = Math.ceil(M / (v.WY * v.TM));
    if (gx > 65535 || gy > 65535) throw new Error(`matmul: output [${M}, ${N}] needs more than 65535 workgroups along one dimension on 'webgpu'`);
    for (let base = 0; base < B; base += 65535) {
      const params = [M, N, K, a.offset / 4, a.strides[0]! / 4, a.strides[1]! / 4, b.offset / 4, b.strides[0]! / 4, b.strides[1]! / 4, base];
      list.push({ code, buffers: [out.buffer, st(a.storage).buffer, st(b.storage).buffer], params, groups: [gx, gy, Math.min(65535, B - base)] });
    }
    run(list);
    return out;
  }
  const c = opts.tile ?? DEFAULT_TILE;
  const code = opts.naive ? naiveCode(ad, bd, dtype) : tiledCode(ad, bd, dtype, c);
  const gx = opts.naive ? Math.ceil(N / 16) : Math.ceil(N / (c.TX * c.TN));
  const gy = opts.naive ? Math.ceil(M / 16) : Math.ceil(M / (c.TY * c.TM));
  if (gx > 65535 || gy > 65535) throw new Error(`matmul: output [${M}, ${N}] needs more than 65535 workgroups along one dimension on 'webgpu'`);
  for (let base = 0; base < B; base += 65535) {
    const params = [M, N, K, a.offset, a.strides[0]!, a.strides[1]!, a.strides[2]!, b.offset, b.strides[0]!, b.strides[1]!, b.strides[2]!, base];
    list.push({ code, buffers: [out.buffer, st(a.storage).buffer, st(b.storage).buffer], params, groups: [gx, gy, Math.min(65535, B - base)] });
  }
  run(list);
  return out;
}
