// Batched matrix products on the GPU: a tiled kernel (a BM x BN output tile per workgroup staged through workgroup
// memory in BK-deep slices, each thread accumulating TM x TN outputs in registers) and, for comparison in the bench,
// the naive one-thread-per-output kernel. Both read strided [B, M, K] x [B, K, N] views directly (batch strides may be 0).
import type { Storage, View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { GpuStorage, opName, run, type Dispatch } from './gpu.js';
import { st } from './kernels.js';
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

function head(a: DType, b: DType, out: DType): string {
  return `${BASE_LIB}
${declOut(0, 'out', out)}
${declIn(1, 'ina', a)}
${declIn(2, 'inb', b)}
${declParams(3)}
${storers('out', out)}
${loaders('ina', a)}
${loaders('inb', b)}`;
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

function naiveCode(a: DType, b: DType, out: DType): string {
  const t = vt(out);
  const cd: DType = t === 'f32' ? 'float32' : 'int32';
  return `${head(a, b, out)}
@compute @workgroup_size(16, 16) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
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

/** out[b] = a[b] @ b[b] for [B, M, K] x [B, K, N] views; `naive` selects the one-thread-per-output kernel (bench only). */
export function matmul(a: View, b: View, dtype: DType, opts: { naive?: boolean; tile?: TileConfig } = {}): Storage {
  opName('matmul');
  const [B, M, K] = a.shape as [number, number, number];
  const N = b.shape[2]!;
  const out = new GpuStorage(dtype, B * M * N);
  if (B * M * N === 0) return out;
  const ad = a.storage.dtype;
  const bd = b.storage.dtype;
  const c = opts.tile ?? DEFAULT_TILE;
  const code = opts.naive ? naiveCode(ad, bd, dtype) : tiledCode(ad, bd, dtype, c);
  const gx = opts.naive ? Math.ceil(N / 16) : Math.ceil(N / (c.TX * c.TN));
  const gy = opts.naive ? Math.ceil(M / 16) : Math.ceil(M / (c.TY * c.TM));
  if (gx > 65535 || gy > 65535) throw new Error(`matmul: output [${M}, ${N}] needs more than 65535 workgroups along one dimension on 'webgpu'`);
  const list: Dispatch[] = [];
  for (let base = 0; base < B; base += 65535) {
    const params = [M, N, K, a.offset, a.strides[0]!, a.strides[1]!, a.strides[2]!, b.offset, b.strides[0]!, b.strides[1]!, b.strides[2]!, base];
    list.push({ code, buffers: [out.buffer, st(a.storage).buffer, st(b.storage).buffer], params, groups: [gx, gy, Math.min(65535, B - base)] });
  }
  run(list);
  return out;
}
