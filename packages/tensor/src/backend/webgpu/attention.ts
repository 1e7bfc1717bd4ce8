// Fused attention: a workgroup per query row (batch, head, position) against its keys in one dispatch (scores,
// softmax and the weighted sum of values), instead of the five or so kernels matmul + scale + softmax + matmul take.
import type { Storage, View } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { GpuStorage, grid, opName, run, scratch, st } from './gpu.js';
import { BASE_LIB, declIn, declOut, declParams, loaders, storers } from './wgsl.js';

const W = 64;

/** Scratch bytes of scores one dispatch may use; more query rows take several dispatches. */
let SCORES_BYTES = 64 * 2 ** 20;
/** Test knob: the scratch bytes of scores one dispatch may use, so that small inputs take several dispatches. */
export function setAttentionScratchBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 4) throw new RangeError(`setAttentionScratchBytes: expected an integer >= 4, got ${bytes}`);
  SCORES_BYTES = bytes;
}

/**
 * softmax(q . k^T * scale + mask) @ v for q [B, Hq, L, E], k / v [B, Hk, S, E] (any strides), query l seeing keys
 * 0..l when `causal`, mask a float32 [B, 1, L, S] view or null; out [B, Hq, L, E].
 */
export function attention(q: View, k: View, v: View, scale: number, causal: boolean, mask: View | null, dtype: DType): Storage {
  opName('scaledDotProductAttention');
  const [B, Hq, L, E] = q.shape as [number, number, number, number];
  const [, Hk, S] = k.shape as [number, number, number, number];
  const rowsTotal = B * Hq * L;
  const out = new GpuStorage(dtype, rowsTotal * E);
  if (rowsTotal * E === 0) return out;
  // the scores of a row live in global memory between the passes: any S fits, and only this workgroup touches them
  const rowsAtOnce = Math.max(1, Math.min(rowsTotal, Math.floor(SCORES_BYTES / 4 / Math.max(S, 1))));
  const scores = scratch(rowsAtOnce * Math.max(S, 1) * 4);
  const code = `${BASE_LIB}
${declOut(0, 'out', dtype)}
${declIn(1, 'qb', q.storage.dtype)}
${declIn(2, 'kb', k.storage.dtype)}
${declIn(3, 'vb', v.storage.dtype)}
@group(0) @binding(4) var<storage, read_write> sc: array<f32>;
${mask ? declIn(5, 'mb', mask.storage.dtype) : ''}
${declParams(mask ? 6 : 5)}
${mask ? loaders('mb', mask.storage.dtype) : ''}
${storers('out', dtype)}
${loaders('qb', q.storage.dtype)}
${loaders('kb', k.storage.dtype)}
${loaders('vb', v.storage.dtype)}
var<workgroup> sh: array<f32, ${W}>;
@compute @workgroup_size(${W}) fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let local = i32(wid.x + wid.y * nwg.x);
  let row = p[23] + local;
  let tid = i32(lid.x);
  let Hq = p[1]; let E = p[4]; let L = p[20];
  if (local >= p[24]) { return; }
  let l = row % L;
  let b = row / (Hq * L);
  let h = (row / L) % Hq;
  let hk = h / (Hq / p[2]);
  let S = select(p[3], min(p[3], l + 1), p[22] != 0);
  let scale = bitcast<f32>(p[5]);
  let qo = p[6] + b * p[7] + h * p[8] + l * p[21];
  let ko = p[10] + b * p[11] + hk * p[12];
  let vo = p[15] + b * p[16] + hk * p[17];
  let so = local * p[3];
  var m = -inff();
  for (var j = tid; j < S; j += ${W}) {
    var d = 0.0;
    for (var e = 0; e < E; e++) { d += ld_qb(qo + e * p[9]) * ld_kb(ko + j * p[13] + e * p[14]); }
    let s = d * scale${mask ? ' + ld_mb(p[25] + b * p[26] + l * p[27] + j * p[28])' : ''};
    sc[so + j] = s;
    m = max(m, s);
  }
  sh[tid] = m;
  workgroupBarrier();
  for (var r = ${W / 2}; r > 0; r = r >> 1u) { if (tid < r) { sh[tid] = max(sh[tid], sh[tid + r]); } workgroupBarrier(); }
  m = sh[0];
  workgroupBarrier();
  var acc = 0.0;
  for (var j = tid; j < S; j += ${W}) { let w = exp(sc[so + j] - m); sc[so + j] = w; acc += w; }
  sh[tid] = acc;
  storageBarrier();
  workgroupBarrier();
  for (var r = ${W / 2}; r > 0; r = r >> 1u) { if (tid < r) { sh[tid] = sh[tid] + sh[tid + r]; } workgroupBarrier(); }
  let inv = 1.0 / sh[0];
  for (var e = tid; e < E; e += ${W}) {
    var o = 0.0;
    for (var j = 0; j < S; j++) { o += sc[so + j] * ld_vb(vo + j * p[18] + e * p[19]); }
    st_out(row * E + e, o * inv);
  }
}`;
  const [qs, ks, vs] = [q.strides, k.strides, v.strides];
  const buffers = [out.buffer, st(q.storage).buffer, st(k.storage).buffer, st(v.storage).buffer, scores.buffer, ...(mask ? [st(mask.storage).buffer] : [])];
  const ms = mask ? [mask.offset, mask.strides[0]!, mask.strides[2]!, mask.strides[3]!] : [0, 0, 0, 0];
  for (let row0 = 0; row0 < rowsTotal; row0 += rowsAtOnce) {
    const rows = Math.min(rowsAtOnce, rowsTotal - row0);
    const params = [B, Hq, Hk, S, E, { f32: scale }, q.offset, qs[0]!, qs[1]!, qs[3]!, k.offset, ks[0]!, ks[1]!, ks[2]!, ks[3]!, v.offset, vs[0]!, vs[1]!, vs[2]!, vs[3]!, L, qs[2]!, causal ? 1 : 0, row0, rows, ...ms];
    run([{ code, buffers, params, groups: grid(rows) }]);
  }
  scores.done();
  return out;
}
