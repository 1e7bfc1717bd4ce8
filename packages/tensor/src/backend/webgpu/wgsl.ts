// WGSL building blocks: how each dtype is laid out in a buffer, loads that decode it, stores that encode it, and
// the float32 math library the elementwise kernels use.
//
// Layout on the GPU: float32 as f32, int32 as i32, bool as one u32 (0 or 1) per element, float16 / bfloat16 packed
// two per u32 (element 2i in the low half, as a little-endian Uint16Array). Kernels compute in the dtype's value
// type: f32 for the float dtypes (16-bit ones decoded exactly: bfloat16 is bits << 16, float16 by hand), i32 for
// int32 and bool.
import type { DType } from '../../dtype.js';

/** The WGSL type arithmetic runs in for values of a dtype. */
export function vt(d: DType): 'f32' | 'i32' {
  return d === 'int32' || d === 'bool' ? 'i32' : 'f32';
}

function elt(d: DType): string {
  return d === 'float32' ? 'f32' : d === 'int32' ? 'i32' : 'u32';
}

export const is16 = (d: DType): boolean => d === 'float16' || d === 'bfloat16';

/** Declaration of a read-only input binding named `name`. */
export function declIn(binding: number, name: string, d: DType): string {
  return `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${elt(d)}>;`;
}

/** Declaration of the output binding (16-bit outputs are atomics so that two threads can fill the two halves of a word). */
export function declOut(binding: number, name: string, d: DType): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<${is16(d) ? 'atomic<u32>' : elt(d)}>;`;
}

export function declParams(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read> p: array<i32>;`;
}

/** `fn ld_<name>(i: i32) -> value type` and `fn raw_<name>(i: i32) -> u32` for an input binding. */
export function loaders(name: string, d: DType): string {
  let ld: string;
  let raw: string;
  switch (d) {
    case 'float32': ld = `return ${name}[i];`; raw = `return bitcast<u32>(${name}[i]);`; break;
    case 'int32': ld = `return ${name}[i];`; raw = `return bitcast<u32>(${name}[i]);`; break;
    case 'bool': ld = `return i32(${name}[i] != 0u);`; raw = `return ${name}[i];`; break;
    case 'float16': case 'bfloat16': {
      const h = `((${name}[i >> 1u] >> (u32(i & 1) * 16u)) & 0xffffu)`;
      raw = `return ${h};`;
      ld = d === 'bfloat16' ? `return bitcast<f32>(${h} << 16u);` : `return f16d(${h});`;
      break;
    }
    case 'float64': throw new Error('float64 has no WGSL layout');
    case 'q8_0': case 'q4_0': throw new Error(`${d} blocks are read only by the quantized matmul and dequantize kernels`);
  }
  return `fn ld_${name}(i: i32) -> ${vt(d)} { ${ld} }\nfn raw_${name}(i: i32) -> u32 { ${raw} }`;
}

/** `fn st_<name>(i: i32, v: value type)` and `fn stRaw_<name>(i: i32, v: u32)` for the output binding. */
export function storers(name: string, d: DType): string {
  const half = (expr: string) =>
    `let sh = u32(i & 1) * 16u; atomicAnd(&${name}[i >> 1u], ~(0xffffu << sh)); atomicOr(&${name}[i >> 1u], (${expr} & 0xffffu) << sh);`;
  let st: string;
  let raw: string;
  switch (d) {
    case 'float32': st = `${name}[i] = v;`; raw = `${name}[i] = bitcast<f32>(v);`; break;
    case 'int32': st = `${name}[i] = v;`; raw = `${name}[i] = bitcast<i32>(v);`; break;
    case 'bool': st = `${name}[i] = u32(v != 0);`; raw = `${name}[i] = v;`; break;
    case 'float16': st = half('f16e(v)'); raw = half('v'); break;
    case 'bfloat16': st = half('bf16e(v)'); raw = half('v'); break;
    case 'float64': throw new Error('float64 has no WGSL layout');
    case 'q8_0': case 'q4_0': throw new Error(`${d} tensors are made by quantize(), not written by kernels`);
  }
  return `fn st_${name}(i: i32, v: ${vt(d)}) { ${st} }\nfn stRaw_${name}(i: i32, v: u32) { ${raw} }`;
}

/** A WGSL expression converting `expr` (of value type `f`) to the value type of dtype `to`, as the CPU's cast does. */
export function conv(expr: string, f: 'f32' | 'i32', to: DType): string {
  if (to === 'bool') return f === 'f32' ? `i32(truthy_f(${expr}))` : `i32(${expr} != 0)`;
  if (to === 'int32') return f === 'f32' ? `f2i(${expr})` : expr;
  return f === 'f32' ? expr : `f32(${expr})`;
}

/** Always included: NaN tests and the 16-bit codecs (exact decode, round-to-nearest-even encode). */
export const BASE_LIB = /* wgsl */ `
fn isnan_f(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isinf_f(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn truthy_f(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) != 0u; }
fn nanf() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }
fn inff() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
fn f2i(x: f32) -> i32 { if ((bitcast<u32>(x) & 0x7fffffffu) >= 0x7f800000u) { return 0; } return i32(trunc(x)); }
fn f16d(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { let v = f32(m) * 5.9604644775390625e-8; return select(v, -v, s != 0u); }
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}
fn f16e(v: f32) -> u32 {
  let x = bitcast<u32>(v);
  let s = (x >> 16u) & 0x8000u;
  let a = x & 0x7fffffffu;
  if (a > 0x7f800000u) { return 0x7e00u; }
  if (a >= 0x477ff000u) { return s | 0x7c00u; }
  if (a >= 0x38800000u) { let r = a + 0x0fffu + ((a >> 13u) & 1u); return s | ((r - 0x38000000u) >> 13u); }
  let e = a >> 23u;
  if (e < 102u) { return s; }
  let m = (a & 0x7fffffu) | 0x800000u;
  let sh = 126u - e;
  var q = m >> sh;
  let rem = m & ((1u << sh) - 1u);
  let hf = 1u << (sh - 1u);
  if (rem > hf || (rem == hf && (q & 1u) == 1u)) { q = q + 1u; }
  return s | q;
}
fn bf16e(v: f32) -> u32 {
  let u = bitcast<u32>(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return ((u >> 16u) | 0x40u) & 0xffffu; }
  return ((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) & 0xffffu;
}
`;

/**
 * float32 math with the op table's semantics (NaN propagation, torch's pow/remainder/sign), accurate to a few ulp;
 * the op table's WGSL expressions call these. f_sigmoid is the table's stable sigmoid formula.
 */
export const MATH_LIB = /* wgsl */ `
fn f_sign(x: f32) -> f32 { if (isnan_f(x)) { return x; } return select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0); }
fn f_log1p(x: f32) -> f32 { let u = 1.0 + x; if (u == 1.0) { return x; } if (isinf_f(u)) { return u; } return log(u) * (x / (u - 1.0)); }
fn f_expm1(x: f32) -> f32 {
  if (abs(x) < 1e-5) { return x + 0.5 * x * x; }
  let u = exp(x);
  if (isinf_f(u)) { return u; }
  if (u == 1.0) { return x; }
  let um1 = u - 1.0;
  if (um1 == -1.0) { return -1.0; }
  return um1 * x / log(u);
}
fn f_tanh(x: f32) -> f32 {
  if (isnan_f(x)) { return x; }
  let a = abs(x);
  var t = 1.0;
  if (a < 10.0) { let e = f_expm1(-2.0 * a); t = -e / (2.0 + e); }
  return select(t, -t, x < 0.0);
}
fn f_sigmoid(x: f32) -> f32 { let e = exp(-abs(x)); return select(e, 1.0, x >= 0.0) / (1.0 + e); }
fn f_erf(x: f32) -> f32 {
  if (isnan_f(x)) { return x; }
  let z = abs(x);
  if (z < 0.5) {
    let x2 = x * x;
    return 1.1283791670955126 * x * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.1 + x2 * (-0.023809523809523808 + x2 * (0.004629629629629629 + x2 * (-0.0007575757575757576 + x2 * 0.00010683760683760684))))));
  }
  if (z > 6.0) { return select(1.0, -1.0, x < 0.0); }
  let t = 1.0 / (1.0 + 0.5 * z);
  let erfc = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  let r = 1.0 - erfc;
  return select(r, -r, x < 0.0);
}
fn f_isint(b: f32) -> bool { return !isinf_f(b) && floor(b) == b; }
fn f_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (isnan_f(a) || isnan_f(b)) { return nanf(); }
  if (a == -1.0 && isinf_f(b)) { return 1.0; }
  let odd = f_isint(b) && abs(b) < 16777216.0 && (i32(abs(b)) & 1) == 1;
  if (a == 0.0) {
    if (b > 0.0) { return select(0.0, a, odd); }
    let inf = inff();
    return select(inf, select(inf, -inf, bitcast<u32>(a) != 0u), odd);
  }
  if (isinf_f(a) || isinf_f(b)) {
    let big = select(abs(a) > 1.0, abs(a) < 1.0, b < 0.0);
    let m = select(0.0, inff(), big);
    return select(m, -m, a < 0.0 && odd);
  }
  if (a < 0.0 && !f_isint(b)) { return nanf(); }
  let r = exp2(b * log2(abs(a)));
  return select(r, -r, a < 0.0 && odd);
}
fn f_atan(z: f32) -> f32 {
  var x = abs(z);
  var y0 = 0.0;
  if (x > 2.414213562373095) { y0 = 1.5707963267948966; x = -1.0 / x; }
  else if (x > 0.4142135623730950) { y0 = 0.7853981633974483; x = (x - 1.0) / (x + 1.0); }
  let z2 = x * x;
  let y = y0 + ((((8.05374449538e-2 * z2 - 1.38776856032e-1) * z2 + 1.99777106478e-1) * z2 - 3.33329491539e-1) * z2 * x + x);
  return select(y, -y, z < 0.0);
}
fn f_atan2(a: f32, b: f32) -> f32 {
  if (isnan_f(a) || isnan_f(b)) { return nanf(); }
  let pi = 3.141592653589793;
  let aneg = (bitcast<u32>(a) >> 31u) == 1u;
  let bneg = (bitcast<u32>(b) >> 31u) == 1u;
  if (a == 0.0) { let r = select(0.0, pi, bneg); return select(r, -r, aneg); }
  if (b == 0.0) { return select(pi / 2.0, -pi / 2.0, aneg); }
  if (isinf_f(a) && isinf_f(b)) { let r = select(pi / 4.0, 3.0 * pi / 4.0, bneg); return select(r, -r, aneg); }
  if (isinf_f(b)) { let r = select(0.0, pi, bneg); return select(r, -r, aneg); }
  if (isinf_f(a)) { return select(pi / 2.0, -pi / 2.0, aneg); }
  let t = f_atan(a / b);
  if (!bneg) { return t; }
  return select(t + pi, t - pi, aneg);
}
fn f_rem(a: f32, b: f32) -> f32 {
  if (isnan_f(a) || isnan_f(b) || isinf_f(a) || b == 0.0) { return nanf(); }
  if (isinf_f(b)) { if (a == 0.0 || (a < 0.0) == (b < 0.0)) { return a; } return b; }
  let q = trunc(a / b);
  var m = fma(-q, b, a);
  if (abs(m) >= abs(b)) { m = m - b * f_sign(m) * f_sign(b); }
  if (m != 0.0 && (m < 0.0) != (a < 0.0)) { m = m + b * f_sign(a) * f_sign(b); }
  if (m != 0.0 && (m < 0.0) != (b < 0.0)) { m = m + b; }
  return m;
}
fn f_max(a: f32, b: f32) -> f32 { if (isnan_f(a) || isnan_f(b)) { return nanf(); } return max(a, b); }
fn f_min(a: f32, b: f32) -> f32 { if (isnan_f(a) || isnan_f(b)) { return nanf(); } return min(a, b); }
fn i_pow(a: i32, b: i32) -> i32 {
  if (b < 0) { if (a == 1) { return 1; } if (a == -1) { return select(1, -1, (b & 1) == 1); } return 0; }
  var r = 1; var base = a; var e = b;
  loop { if (e == 0) { break; } if ((e & 1) == 1) { r = r * base; } base = base * base; e = e >> 1u; }
  return r;
}
fn i_rem(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (b == -1) { return 0; }
  var m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) { m = m + b; }
  return m;
}
`;
