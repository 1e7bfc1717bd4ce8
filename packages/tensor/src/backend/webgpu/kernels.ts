// The WebGPU kernels: WGSL generated per op, dtype and (collapsed) rank, compiled once and cached; shapes, strides
// and offsets travel in a small params buffer, so a new shape with the same signature reuses the pipeline.
import type { BinaryOp, ReduceOp, Storage, UnaryOp, View } from '../../backend.js';
import { arrayLength, elementCount, isQuantized, type DType, type TypedArray } from '../../dtype.js';
import { contiguousStrides, isContiguous, numel } from '../../shape.js';
import { collapse } from '../strided.js';
import { clear, gpu, GpuStorage, grid, opName, readBuffer, run, scratch, st, type Dispatch, type Params } from './gpu.js';
import { dequantize } from './matmul.js';
import { BINARY, boolResult, UNARY, type Wgsl } from '../op-table.js';
import { BASE_LIB, conv, declIn, declOut, declParams, is16, loaders, MATH_LIB, storers, vt } from './wgsl.js';

const WG = 256;

const buf = (s: Storage) => st(s).buffer;

// ---------------- strided elementwise ("map") kernels ----------------

interface Operand {
  storage: Storage;
  strides: readonly number[];
  offset: number;
}

/**
 * out[o0] = body(in1[o1], in2[o2], ...) over every index of `shape`, each operand strided. The body sees `o0..oK`
 * (element offsets), `ld_inK` / `raw_inK` loads and `st_out` / `stRaw_out` stores.
 */
function mapKernel(shape: readonly number[], out: Operand, ins: Operand[], body: string, lib = ''): void {
  const n = numel(shape);
  if (n === 0) return;
  const all = [out, ...ins];
  const c = collapse(shape, all.map((o) => o.strides));
  const R = c.shape.length;
  const K = all.length;
  const dt = all.map((o) => o.storage.dtype);
  let idx = '';
  for (let k = 0; k < K; k++) idx += `  var o${k} = p[${1 + R + k * (R + 1)}];\n`;
  idx += '  var rem = i;\n';
  for (let d = R - 1; d >= 0; d--) {
    idx += `  { let c = rem % p[${1 + d}]; rem = rem / p[${1 + d}];`;
    for (let k = 0; k < K; k++) idx += ` o${k} += c * p[${1 + R + k * (R + 1) + 1 + d}];`;
    idx += ' }\n';
  }
  const code = `${BASE_LIB}${lib}
${declOut(0, 'out', dt[0]!)}
${ins.map((_, k) => declIn(k + 1, `in${k + 1}`, dt[k + 1]!)).join('\n')}
${declParams(K)}
${storers('out', dt[0]!)}
${ins.map((_, k) => loaders(`in${k + 1}`, dt[k + 1]!)).join('\n')}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = i32(gid.x + gid.y * nwg.x * ${WG}u);
  if (i >= p[0]) { return; }
${idx}  ${body}
}`;
  const params: Params = [n, ...c.shape];
  all.forEach((o, k) => params.push(o.offset, ...c.strides[k]!));
  run([{ code, buffers: all.map((o) => buf(o.storage)), params, groups: grid(Math.ceil(n / WG)) }]);
}

function fresh(dtype: DType, n: number): GpuStorage {
  return new GpuStorage(dtype, n);
}

function outOperand(s: GpuStorage, shape: readonly number[]): Operand {
  return { storage: s, strides: contiguousStrides(shape), offset: 0 };
}

export function copy(x: View, dtype: DType): Storage {
  if (isQuantized(x.storage.dtype)) return dequantize(x, dtype);
  opName(x.storage.dtype === dtype ? 'contiguous' : `cast (${x.storage.dtype} -> ${dtype})`);
  const out = fresh(dtype, numel(x.shape));
  const from = x.storage.dtype;
  const body = from === dtype ? 'stRaw_out(o0, raw_in1(o1));' : `st_out(o0, ${conv('ld_in1(o1)', vt(from), dtype)});`;
  mapKernel(x.shape, outOperand(out, x.shape), [x], body);
  return out;
}

export function write(dst: View, src: View): void {
  opName('write');
  if (src.storage === dst.storage) {
    // one buffer cannot be bound for reading and writing in one dispatch: stage the source first
    const tmp = copy(src, src.storage.dtype);
    try {
      write(dst, { storage: tmp, shape: src.shape, strides: contiguousStrides(src.shape), offset: 0 });
    } finally {
      tmp.dispose();
    }
    return;
  }
  const body = dst.storage.dtype === src.storage.dtype ? 'stRaw_out(o0, raw_in1(o1));' : `st_out(o0, ${conv('ld_in1(o1)', vt(src.storage.dtype), dst.storage.dtype)});`;
  mapKernel(dst.shape, dst, [src], body);
}

/** The op table's WGSL for values of type `t` (on `a`, `b`). */
function wgslOf(op: string, w: Wgsl, t: 'f32' | 'i32'): string {
  const e = t === 'f32' ? w.f32 : w.i32;
  if (e === undefined) throw new Error(`${op}: not defined for integer tensors on 'webgpu'`);
  return e;
}

export function unary(op: UnaryOp, x: View, outDtype: DType): Storage {
  opName(op);
  const out = fresh(outDtype, numel(x.shape));
  const row = UNARY[op];
  const t = vt(x.storage.dtype);
  const resT = boolResult(row.kind) ? 'i32' : t;
  mapKernel(x.shape, outOperand(out, x.shape), [x], `let a = ld_in1(o1); st_out(o0, ${conv(wgslOf(op, row.wgsl, t), resT, outDtype)});`, MATH_LIB);
  return out;
}

export function binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
  opName(op);
  const out = fresh(outDtype, numel(a.shape));
  const row = BINARY[op];
  const ta = vt(a.storage.dtype);
  const tb = vt(b.storage.dtype);
  // both operands arrive in one dtype; should they not, compute in float
  const t = ta === tb ? ta : 'f32';
  const resT = boolResult(row.kind) ? 'i32' : t;
  const body = `let a = ${conv('ld_in1(o1)', ta, t === 'f32' ? 'float32' : 'int32')}; let b = ${conv('ld_in2(o2)', tb, t === 'f32' ? 'float32' : 'int32')}; st_out(o0, ${conv(wgslOf(op, row.wgsl, t), resT, outDtype)});`;
  mapKernel(a.shape, outOperand(out, a.shape), [a, b], body, MATH_LIB);
  return out;
}

export function where(cond: View, a: View, b: View, dtype: DType): Storage {
  opName('where');
  const out = fresh(dtype, numel(a.shape));
  const same = a.storage.dtype === dtype && b.storage.dtype === dtype;
  const pick = (k: number, d: DType) => (same ? `stRaw_out(o0, raw_in${k}(o${k}));` : `st_out(o0, ${conv(`ld_in${k}(o${k})`, vt(d), dtype)});`);
  const body = `if (ld_in1(o1) != ${vt(cond.storage.dtype) === 'f32' ? '0.0' : '0'}) { ${pick(2, a.storage.dtype)} } else { ${pick(3, b.storage.dtype)} }`;
  mapKernel(a.shape, outOperand(out, a.shape), [cond, a, b], body);
  return out;
}

// ---------------- creation and transfer ----------------

export function zeros(dtype: DType, n: number): Storage {
  opName('zeros');
  const s = fresh(dtype, n);
  clear(s.buffer, s.bytes);
  return s;
}

export function upload(dtype: DType, data: TypedArray): Storage {
  opName("to('webgpu')");
  const s = fresh(dtype, elementCount(dtype, data.length));
  if (data.length === 0) return s;
  let bytes: ArrayBufferView;
  if (isQuantized(dtype)) {
    bytes = new Uint8Array(Math.ceil(data.length / 4) * 4); // whole u32 words
    (bytes as Uint8Array).set(data as Uint8Array);
  } else if (dtype === 'bool') bytes = Uint32Array.from(data as Uint8Array, (v) => (v !== 0 ? 1 : 0));
  else if (is16(dtype)) {
    const u = new Uint16Array(Math.ceil(data.length / 2) * 2);
    u.set(data as Uint16Array);
    bytes = u;
  } else if (dtype === 'float32' && !(data instanceof Float32Array)) bytes = Float32Array.from(data);
  else if (dtype === 'int32' && !(data instanceof Int32Array)) bytes = Int32Array.from(data);
  else bytes = data;
  gpu().device.queue.writeBuffer(s.buffer, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return s;
}

export async function read(s: Storage): Promise<TypedArray> {
  const g = st(s);
  if (g.length === 0) return allocFor(g.dtype, 0);
  const [data] = await Promise.all([readBuffer(g.buffer, g.bytes), checkIndexFlags()]);
  switch (g.dtype) {
    case 'float32': return new Float32Array(data);
    case 'int32': return new Int32Array(data);
    case 'bool': return Uint8Array.from(new Uint32Array(data));
    case 'q8_0': case 'q4_0': return new Uint8Array(data, 0, arrayLength(g.dtype, g.length));
    default: return new Uint16Array(data, 0, g.length);
  }
}

function allocFor(dtype: DType, n: number): TypedArray {
  return dtype === 'float32' ? new Float32Array(n) : dtype === 'int32' ? new Int32Array(n) : dtype === 'bool' ? new Uint8Array(n) : new Uint16Array(n);
}

export function arange(start: number, step: number, length: number, dtype: DType): Storage {
  opName('arange');
  const out = fresh(dtype, length);
  if (length === 0) return out;
  const ints = dtype === 'int32' && Number.isInteger(start) && Number.isInteger(step) && Math.abs(start) < 2 ** 31 && Math.abs(step) < 2 ** 31;
  const value = ints ? 'p[2] + i * p[3]' : `${conv('fma(f32(i), bitcast<f32>(p[3]), bitcast<f32>(p[2]))', 'f32', dtype)}`;
  const code = `${BASE_LIB}
${declOut(0, 'out', dtype)}
${declParams(1)}
${storers('out', dtype)}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = i32(gid.x + gid.y * nwg.x * ${WG}u);
  if (i >= p[0]) { return; }
  st_out(i, ${value});
}`;
  run([{ code, buffers: [out.buffer], params: [length, 0, ints ? start : { f32: start }, ints ? step : { f32: step }], groups: grid(Math.ceil(length / WG)) }]);
  return out;
}

// ---------------- row kernels: a dense view, one workgroup (or one thread) per row ----------------

/** The view's elements as a dense run in some storage (the view's own when already contiguous, else a fresh copy). */
function dense(x: View): { s: GpuStorage; off: number; tmp: boolean } {
  if (isContiguous(x.shape, x.strides)) return { s: st(x.storage), off: x.offset, tmp: false };
  return { s: copy(x, x.storage.dtype) as GpuStorage, off: 0, tmp: true };
}

function done(d: { s: GpuStorage; tmp: boolean }): void {
  if (d.tmp) d.s.dispose();
}

const ROW_PREAMBLE = `
  let row = i32(wid.x + wid.y * nwg.x);
  let tid = i32(lid.x);`;
const ROW_ARGS = '@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>';

/** Identity and combine step of a reduction in its accumulator type. */
function reduceParts(op: ReduceOp, t: 'f32' | 'i32'): { at: 'f32' | 'i32'; ident: string; lift: string; comb: string } {
  const lowest = t === 'f32' ? 'bitcast<f32>(p[3])' : 'p[3]';
  const highest = t === 'f32' ? 'bitcast<f32>(p[4])' : 'p[4]';
  const nan = (v: string) => (t === 'f32' ? `isnan_f(${v})` : 'false');
  switch (op) {
    case 'sum': return { at: t, ident: `Acc(${t}(0), -1)`, lift: 'Acc(v, k)', comb: 'return Acc(a.v + b.v, 0);' };
    case 'prod': return { at: t, ident: `Acc(${t}(1), -1)`, lift: 'Acc(v, k)', comb: 'return Acc(a.v * b.v, 0);' };
    case 'max': case 'min': {
      const better = op === 'max' ? 'b.v > a.v' : 'b.v < a.v';
      return { at: t, ident: `Acc(${op === 'max' ? lowest : highest}, -1)`, lift: 'Acc(v, k)', comb: `if (${nan('a.v')}) { return a; } if (${nan('b.v')} || ${better}) { return b; } return a;` };
    }
    case 'argmax': case 'argmin': {
      const better = op === 'argmax' ? 'b.v > a.v' : 'b.v < a.v';
      return {
        at: t, ident: `Acc(${t}(0), -1)`, lift: 'Acc(v, k)',
        comb: `if (a.i < 0) { return b; } if (b.i < 0) { return a; }
  let na = ${nan('a.v')}; let nb = ${nan('b.v')};
  if (na || nb) { if (na && nb) { if (a.i < b.i) { return a; } return b; } if (na) { return a; } return b; }
  if (${better}) { return b; } if (a.v == b.v && b.i < a.i) { return b; } return a;`,
      };
    }
    case 'any': return { at: 'i32', ident: 'Acc(0, -1)', lift: `Acc(i32(${t === 'f32' ? 'truthy_f(v)' : 'v != 0'}), k)`, comb: 'return Acc(max(a.v, b.v), 0);' };
    case 'all': return { at: 'i32', ident: 'Acc(1, -1)', lift: `Acc(i32(${t === 'f32' ? 'truthy_f(v)' : 'v != 0'}), k)`, comb: 'return Acc(min(a.v, b.v), 0);' };
  }
}

export function reduce(op: ReduceOp, x: View, reduceDims: number, outDtype: DType): Storage {
  opName(op);
  const rows = numel(x.shape.slice(0, x.shape.length - reduceDims));
  const len = numel(x.shape.slice(x.shape.length - reduceDims));
  const out = fresh(outDtype, rows);
  if (rows === 0) return out;
  if (len === 0 && (op === 'max' || op === 'min' || op === 'argmax' || op === 'argmin')) throw new Error(`${op}: cannot reduce over an empty dimension (no identity)`);
  const d = dense(x);
  const t = vt(d.s.dtype);
  const r = reduceParts(op, t);
  const isArg = op === 'argmax' || op === 'argmin';
  const result = isArg ? conv('res.i', 'i32', outDtype) : conv('res.v', r.at, outDtype);
  const head = `${BASE_LIB}
struct Acc { v: ${r.at}, i: i32 }
${declOut(0, 'out', outDtype)}
${declIn(1, 'in1', d.s.dtype)}
${declParams(2)}
${storers('out', outDtype)}
${loaders('in1', d.s.dtype)}
fn ident() -> Acc { return ${r.ident}; }
fn comb(a: Acc, b: Acc) -> Acc { ${r.comb} }`;
  const tree = len > 32;
  const W = tree ? (len >= 4096 ? 256 : 64) : 64;
  const code = tree
    ? `${head}
var<workgroup> sv: array<${r.at}, ${W}>;
var<workgroup> si: array<i32, ${W}>;
@compute @workgroup_size(${W}) fn main(${ROW_ARGS}) {${ROW_PREAMBLE}
  if (row >= p[0]) { return; }
  let len = p[1];
  let base = p[2] + row * len;
  var acc = ident();
  for (var k = tid; k < len; k += ${W}) { let v = ld_in1(base + k); acc = comb(acc, ${r.lift}); }
  sv[tid] = acc.v; si[tid] = acc.i;
  workgroupBarrier();
  for (var s = ${W / 2}; s > 0; s = s >> 1u) {
    if (tid < s) { let m = comb(Acc(sv[tid], si[tid]), Acc(sv[tid + s], si[tid + s])); sv[tid] = m.v; si[tid] = m.i; }
    workgroupBarrier();
  }
  if (tid == 0) { let res = Acc(sv[0], si[0]); st_out(row, ${result}); }
}`
    : `${head}
@compute @workgroup_size(${W}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = i32(gid.x + gid.y * nwg.x * ${W}u);
  if (row >= p[0]) { return; }
  let len = p[1];
  let base = p[2] + row * len;
  var res = ident();
  for (var k = 0; k < len; k++) { let v = ld_in1(base + k); res = comb(res, ${r.lift}); }
  st_out(row, ${result});
}`;
  const lo = t === 'f32' ? { f32: -Infinity } : -(2 ** 31);
  const hi = t === 'f32' ? { f32: Infinity } : 2 ** 31 - 1;
  run([{ code, buffers: [out.buffer, d.s.buffer], params: [rows, len, d.off, lo, hi], groups: tree ? grid(rows) : grid(Math.ceil(rows / W)) }]);
  done(d);
  return out;
}

function rowWidth(len: number): number {
  return len >= 2048 ? 256 : 64;
}

export function softmax(x: View, log: boolean, dtype: DType): Storage {
  opName(log ? 'logSoftmax' : 'softmax');
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const out = fresh(dtype, n);
  if (n === 0 || len === 0) return out;
  const rows = n / len;
  const d = dense(x);
  const W = rowWidth(len);
  const write = log ? 'st_out(o + k, ld_in1(base + k) - m - ls);' : 'st_out(o + k, exp(ld_in1(base + k) - m) * inv);';
  const code = `${BASE_LIB}
${declOut(0, 'out', dtype)}
${declIn(1, 'in1', d.s.dtype)}
${declParams(2)}
${storers('out', dtype)}
${loaders('in1', d.s.dtype)}
var<workgroup> sh: array<f32, ${W}>;
fn mx(a: f32, b: f32) -> f32 { if (isnan_f(a) || isnan_f(b)) { return nanf(); } return max(a, b); }
@compute @workgroup_size(${W}) fn main(${ROW_ARGS}) {${ROW_PREAMBLE}
  if (row >= p[0]) { return; }
  let len = p[1];
  let base = p[2] + row * len;
  let o = row * len;
  var m = -inff();
  for (var k = tid; k < len; k += ${W}) { m = mx(m, ld_in1(base + k)); }
  sh[tid] = m;
  workgroupBarrier();
  for (var s = ${W / 2}; s > 0; s = s >> 1u) { if (tid < s) { sh[tid] = mx(sh[tid], sh[tid + s]); } workgroupBarrier(); }
  m = sh[0];
  if (isinf_f(m) && m < 0.0) { m = 0.0; }
  workgroupBarrier();
  var acc = 0.0;
  for (var k = tid; k < len; k += ${W}) { acc += exp(ld_in1(base + k) - m); }
  sh[tid] = acc;
  workgroupBarrier();
  for (var s = ${W / 2}; s > 0; s = s >> 1u) { if (tid < s) { sh[tid] = sh[tid] + sh[tid + s]; } workgroupBarrier(); }
  let total = sh[0];
  let inv = 1.0 / total;
  let ls = log(total);
  for (var k = tid; k < len; k += ${W}) { ${write} }
}`;
  run([{ code, buffers: [out.buffer, d.s.buffer], params: [rows, len, d.off], groups: grid(rows) }]);
  done(d);
  return out;
}

export function layerNorm(x: View, normDims: number, weight: View | null, bias: View | null, eps: number, dtype: DType): { y: Storage; mean: Storage; rstd: Storage } {
  opName('layerNorm');
  const n = numel(x.shape);
  const len = numel(x.shape.slice(x.shape.length - normDims));
  const rows = len === 0 ? 0 : n / len;
  const y = fresh(dtype, n);
  const mean = fresh(dtype, rows);
  const rstd = fresh(dtype, rows);
  if (rows === 0 || len === 0) return { y, mean, rstd };
  const d = dense(x);
  const w = weight ? dense(weight) : null;
  const b = bias ? dense(bias) : null;
  const W = rowWidth(len);
  const buffers = [y.buffer, mean.buffer, rstd.buffer, d.s.buffer];
  const decls = [declOut(0, 'yo', dtype), declOut(1, 'mo', dtype), declOut(2, 'ro', dtype), declIn(3, 'xi', d.s.dtype)];
  const fns = [storers('yo', dtype), storers('mo', dtype), storers('ro', dtype), loaders('xi', d.s.dtype)];
  if (w) {
    decls.push(declIn(buffers.length, 'wi', w.s.dtype));
    fns.push(loaders('wi', w.s.dtype));
    buffers.push(w.s.buffer);
  }
  if (b) {
    decls.push(declIn(buffers.length, 'bi', b.s.dtype));
    fns.push(loaders('bi', b.s.dtype));
    buffers.push(b.s.buffer);
  }
  decls.push(declParams(buffers.length));
  const code = `${BASE_LIB}
${decls.join('\n')}
${fns.join('\n')}
var<workgroup> sh: array<f32, ${W}>;
@compute @workgroup_size(${W}) fn main(${ROW_ARGS}) {${ROW_PREAMBLE}
  if (row >= p[0]) { return; }
  let len = p[1];
  let base = p[2] + row * len;
  let eps = bitcast<f32>(p[3]);
  var acc = 0.0;
  for (var k = tid; k < len; k += ${W}) { acc += ld_xi(base + k); }
  sh[tid] = acc;
  workgroupBarrier();
  for (var s = ${W / 2}; s > 0; s = s >> 1u) { if (tid < s) { sh[tid] = sh[tid] + sh[tid + s]; } workgroupBarrier(); }
  let mu = sh[0] / f32(len);
  workgroupBarrier();
  acc = 0.0;
  for (var k = tid; k < len; k += ${W}) { let dv = ld_xi(base + k) - mu; acc += dv * dv; }
  sh[tid] = acc;
  workgroupBarrier();
  for (var s = ${W / 2}; s > 0; s = s >> 1u) { if (tid < s) { sh[tid] = sh[tid] + sh[tid + s]; } workgroupBarrier(); }
  let rs = 1.0 / sqrt(sh[0] / f32(len) + eps);
  if (tid == 0) { st_mo(row, mu); st_ro(row, rs); }
  for (var k = tid; k < len; k += ${W}) {
    var z = (ld_xi(base + k) - mu) * rs;
    ${w ? 'z = z * ld_wi(p[4] + k);' : ''}
    ${b ? 'z = z + ld_bi(p[5] + k);' : ''}
    st_yo(row * len + k, z);
  }
}`;
  run([{ code, buffers, params: [rows, len, d.off, { f32: eps }, w?.off ?? 0, b?.off ?? 0], groups: grid(rows) }]);
  done(d);
  if (w) done(w);
  if (b) done(b);
  return { y, mean, rstd };
}

export function cumsum(x: View, dtype: DType): Storage {
  opName('cumsum');
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const out = fresh(dtype, n);
  if (n === 0 || len === 0) return out;
  const rows = n / len;
  const d = dense(x);
  const W = rowWidth(len);
  const at = vt(dtype);
  const v = conv('ld_in1(base + k)', vt(d.s.dtype), at === 'f32' ? 'float32' : 'int32');
  const code = `${BASE_LIB}
${declOut(0, 'out', dtype)}
${declIn(1, 'in1', d.s.dtype)}
${declParams(2)}
${storers('out', dtype)}
${loaders('in1', d.s.dtype)}
var<workgroup> sh: array<${at}, ${W}>;
@compute @workgroup_size(${W}) fn main(${ROW_ARGS}) {${ROW_PREAMBLE}
  if (row >= p[0]) { return; }
  let len = p[1];
  let base = p[2] + row * len;
  let o = row * len;
  let chunk = (len + ${W - 1}) / ${W};
  let lo = min(tid * chunk, len);
  let hi = min(lo + chunk, len);
  var s = ${at}(0);
  for (var k = lo; k < hi; k++) { s += ${v}; }
  sh[tid] = s;
  workgroupBarrier();
  for (var off = 1; off < ${W}; off = off << 1u) {
    var t = ${at}(0);
    if (tid >= off) { t = sh[tid - off]; }
    workgroupBarrier();
    sh[tid] = sh[tid] + t;
    workgroupBarrier();
  }
  var acc = ${at}(0);
  if (tid > 0) { acc = sh[tid - 1]; }
  for (var k = lo; k < hi; k++) { acc += ${v}; st_out(o + k, acc); }
}`;
  run([{ code, buffers: [out.buffer, d.s.buffer], params: [rows, len, d.off], groups: grid(rows) }]);
  done(d);
  return out;
}

/** Stable sort of each row by a bitonic network over a power-of-two padded copy (padding sorts last; ties by index). */
export function sort(x: View, descending: boolean, dtype: DType): { values: Storage; indices: Storage } {
  opName('sort');
  const n = numel(x.shape);
  const len = x.shape[x.shape.length - 1] ?? 1;
  const values = fresh(dtype, n);
  const indices = fresh('int32', n);
  if (n === 0 || len === 0) return { values, indices };
  const rows = n / len;
  const d = dense(x);
  const t = vt(d.s.dtype);
  let P = 1;
  while (P < len) P *= 2;
  const keys = scratch(rows * P * 4);
  const idx = scratch(rows * P * 4);
  const kdecl = `@group(0) @binding(0) var<storage, read_write> keys: array<${t}>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;`;
  const head = (extra: string, pBinding: number) => `${BASE_LIB}
${kdecl}
${extra}
${declParams(pBinding)}`;
  const thread = `@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = i32(gid.x + gid.y * nwg.x * ${WG}u);
  let P = p[1];
  if (g >= p[0] * P) { return; }
  let row = g / P;
  let j = g % P;
  let len = p[2];`;
  const init = `${head(`${declIn(2, 'in1', d.s.dtype)}\n${loaders('in1', d.s.dtype)}`, 3)}
${thread}
  if (j < len) { keys[g] = ld_in1(p[3] + row * len + j); } else { keys[g] = ${t}(0); }
  idx[g] = j;
}`;
  const nan = (v: string) => (t === 'f32' ? `isnan_f(${v})` : 'false');
  const cmp = descending ? 'ka > kb' : 'ka < kb';
  const step = `${head('', 2)}
fn before(ka: ${t}, ia: i32, kb: ${t}, ib: i32, len: i32) -> bool {
  if (ia >= len) { return false; }
  if (ib >= len) { return true; }
  let na = ${nan('ka')}; let nb = ${nan('kb')};
  if (na != nb) { return ${descending ? 'na' : 'nb'}; }
  if (!na && ka != kb) { return ${cmp}; }
  return ia < ib;
}
${thread}
  let k = p[3];
  let jj = p[4];
  let l = j ^ jj;
  if (l <= j) { return; }
  let a = row * P + j;
  let b = row * P + l;
  let ka = keys[a]; let ia = idx[a]; let kb = keys[b]; let ib = idx[b];
  var swap: bool;
  if ((j & k) == 0) { swap = before(kb, ib, ka, ia, len); } else { swap = before(ka, ia, kb, ib, len); }
  if (swap) { keys[a] = kb; idx[a] = ib; keys[b] = ka; idx[b] = ia; }
}`;
  const fin = `${head(`${declOut(2, 'vo', dtype)}\n${declOut(3, 'io', 'int32')}\n${storers('vo', dtype)}\n${storers('io', 'int32')}`, 4)}
${thread}
  if (j >= len) { return; }
  st_vo(row * len + j, ${conv('keys[g]', t, dtype)});
  st_io(row * len + j, idx[g]);
}`;
  const groups = grid(Math.ceil((rows * P) / WG));
  const list: Dispatch[] = [{ code: init, buffers: [keys.buffer, idx.buffer, d.s.buffer], params: [rows, P, len, d.off], groups }];
  for (let k = 2; k <= P; k *= 2) {
    for (let j = k / 2; j >= 1; j /= 2) list.push({ code: step, buffers: [keys.buffer, idx.buffer], params: [rows, P, len, k, j], groups });
  }
  list.push({ code: fin, buffers: [keys.buffer, idx.buffer, values.buffer, indices.buffer], params: [rows, P, len], groups });
  run(list);
  keys.done();
  idx.done();
  done(d);
  return { values, indices };
}

// ---------------- gather / scatter ----------------

/** Index decomposition over `shape` (rank R) for operands whose offsets and strides sit at p[base...]. */
function indexCode(R: number, operands: { name: string; at: number; skip?: number }[]): string {
  let s = operands.map((o) => `  var ${o.name} = p[${o.at}];\n`).join('') + '  var rem = i;\n';
  for (let d = R - 1; d >= 0; d--) {
    s += `  let c${d} = rem % p[${2 + d}]; rem = rem / p[${2 + d}];`;
    for (const o of operands) if (o.skip !== d) s += ` ${o.name} += c${d} * p[${o.at + 1 + d}];`;
    s += '\n';
  }
  return s;
}

// A kernel cannot throw: gather clamps an out-of-range index (nothing is read out of bounds) and records it in a
// flag buffer [count, first bad index, dimension size]; the next read() throws, as CUDA reports a device-side
// assert at the next synchronization.
let flags: { device: GPUDevice; buffer: GPUBuffer } | null = null;
let flagsDirty = false;

function indexFlags(): GPUBuffer {
  const { device } = gpu();
  if (flags?.device !== device) flags = { device, buffer: device.createBuffer({ size: 16, usage: 0x0080 /* STORAGE */ | 0x0004 /* COPY_SRC */ | 0x0008 /* COPY_DST */ }) };
  flagsDirty = true;
  return flags.buffer;
}

async function checkIndexFlags(): Promise<void> {
  if (!flagsDirty || !flags) return;
  flagsDirty = false;
  const [count, value, size] = new Int32Array(await readBuffer(flags.buffer, 12));
  if (!count) return;
  clear(flags.buffer, 16);
  throw new Error(
    `gather: index ${value} is out of range for a dimension of size ${size} (${count} out-of-range ${count === 1 ? 'index' : 'indices'} in a ` +
    "gather / indexSelect / embedding on 'webgpu'; a device-side check, reported at the first read after that op ran)",
  );
}

export function gather(x: View, dim: number, index: View, dtype: DType): Storage {
  opName('gather');
  const n = numel(index.shape);
  const out = fresh(dtype, n);
  if (n === 0) return out;
  const R = Math.max(index.shape.length, 1);
  const shape = index.shape.length ? index.shape : [1];
  const istr = index.shape.length ? index.strides : [0];
  const xstr = x.shape.length ? x.strides : [0];
  const size = x.shape[dim] ?? 1;
  // p = [n, size, shape[R], iOff, iStr[R], xOff, xStr[R]]
  const iAt = 2 + R;
  const xAt = iAt + 1 + R;
  const value = x.storage.dtype === dtype ? 'stRaw_out(i, raw_xi(ox));' : `st_out(i, ${conv('ld_xi(ox)', vt(x.storage.dtype), dtype)});`;
  const code = `${BASE_LIB}
${declOut(0, 'out', dtype)}
${declIn(1, 'xi', x.storage.dtype)}
${declIn(2, 'ii', index.storage.dtype)}
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<i32>, 4>;
${declParams(4)}
${storers('out', dtype)}
${loaders('xi', x.storage.dtype)}
${loaders('ii', index.storage.dtype)}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = i32(gid.x + gid.y * nwg.x * ${WG}u);
  if (i >= p[0]) { return; }
${indexCode(R, [{ name: 'oi', at: iAt }, { name: 'ox', at: xAt, skip: dim }])}
  let raw = ld_ii(oi);
  if (raw < 0 || raw >= p[1]) {
    if (atomicAdd(&flags[0], 1) == 0) { atomicStore(&flags[1], raw); atomicStore(&flags[2], p[1]); }
  }
  let j = clamp(raw, 0, p[1] - 1);
  ox += j * p[${xAt + 1 + dim}];
  ${value}
}`;
  run([{ code, buffers: [out.buffer, buf(x.storage), buf(index.storage), indexFlags()], params: [n, size, ...shape, index.offset, ...istr, x.offset, ...xstr], groups: grid(Math.ceil(n / WG)) }]);
  return out;
}

export function scatterAdd(x: View, dim: number, index: View, src: View, dtype: DType): Storage {
  opName('scatterAdd');
  const out = st(copy(x, dtype));
  opName('scatterAdd');
  const n = numel(index.shape);
  if (n === 0) return out;
  const R = Math.max(index.shape.length, 1);
  const shape = index.shape.length ? index.shape : [1];
  const pad = (s: readonly number[]) => (index.shape.length ? s : [0]);
  const ostr = x.shape.length ? contiguousStrides(x.shape) : [0];
  const size = x.shape[dim] ?? 1;
  // p = [n, size, shape[R], iOff, iStr[R], sOff, sStr[R], 0, oStr[R]]
  const iAt = 2 + R;
  const sAt = iAt + 1 + R;
  const oAt = sAt + 1 + R;
  const t = vt(dtype);
  const sv = conv('ld_si(os)', vt(src.storage.dtype), dtype);
  let add: string;
  if (dtype === 'bool') add = `if (${sv} != 0) { atomicOr(&out[po], 1u); }`;
  else if (t === 'i32') add = `atomicAdd(&out[po], ${sv});`;
  else {
    add = `let v = ${sv};
  loop {
    let old = atomicLoad(&out[po]);
    let r = atomicCompareExchangeWeak(&out[po], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
  }`;
  }
  const outType = dtype === 'int32' ? 'atomic<i32>' : 'atomic<u32>';
  const code = `${BASE_LIB}
@group(0) @binding(0) var<storage, read_write> out: array<${outType}>;
${declIn(1, 'ii', index.storage.dtype)}
${declIn(2, 'si', src.storage.dtype)}
${declParams(3)}
${loaders('ii', index.storage.dtype)}
${loaders('si', src.storage.dtype)}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = i32(gid.x + gid.y * nwg.x * ${WG}u);
  if (i >= p[0]) { return; }
${indexCode(R, [{ name: 'oi', at: iAt }, { name: 'os', at: sAt }, { name: 'po', at: oAt, skip: dim }])}
  let j = ld_ii(oi);
  // out-of-range indices cannot raise an error on the GPU: their updates are dropped
  if (j < 0 || j >= p[1]) { return; }
  po += j * p[${oAt + 1 + dim}];
  ${add}
}`;
  run([{ code, buffers: [out.buffer, buf(index.storage), buf(src.storage)], params: [n, size, ...shape, index.offset, ...pad(index.strides), src.offset, ...pad(src.strides), 0, ...ostr], groups: grid(Math.ceil(n / WG)) }]);
  return out;
}
