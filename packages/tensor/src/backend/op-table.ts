// The op table: one row per elementwise and reduce op, the only place below the front end that names them.
// A row holds the op's result kind, one float64 reference, and each backend's code for it: the JavaScript
// expression of the generated CPU loops, the WGSL expression, and the wasm SIMD formula when one exists.
// `UnaryOp` / `BinaryOp` / `ReduceOp` are the keys of these tables, so adding an activation is one row here
// plus its backward in ops/.
import { erf } from './erf.js';

/**
 * What an op's result dtype follows (the front end reads it):
 * - float: floating; integer and bool inputs compute in float32.
 * - arith: the inputs' dtype; bool computes as int32.
 * - select: picks one of its inputs (maximum, minimum): the inputs' dtype, bool included.
 * - compare / logic: bool (0/1), whatever the inputs.
 */
export type OpKind = 'float' | 'arith' | 'select' | 'compare' | 'logic';

/** Whether an op's result is bool (0/1) whatever its inputs. */
export function boolResult(kind: OpKind): boolean {
  return kind === 'compare' || kind === 'logic';
}

/**
 * The arithmetic a SIMD formula is written in. Evaluated over float64 numbers it is the op's reference; the wasm
 * emitter evaluates the same formula over f32x4 or f64x2 lanes. max/min propagate NaN and order -0 below +0.
 */
export interface Lanes<V, M> {
  k(v: number): V;
  add(a: V, b: V): V;
  sub(a: V, b: V): V;
  mul(a: V, b: V): V;
  div(a: V, b: V): V;
  neg(a: V): V;
  abs(a: V): V;
  sqrt(a: V): V;
  max(a: V, b: V): V;
  min(a: V, b: V): V;
  /** e^a; float64 lanes only. */
  exp(a: V): V;
  ge(a: V, b: V): M;
  lt(a: V, b: V): M;
  /** m ? a : b */
  select(m: M, a: V, b: V): V;
}

/** Where a SIMD kernel computes: f32 lanes (exact ops), or f64 lanes rounded once to float32. */
export type SimdLanes = 'f32' | 'f64';

/** A wasm SIMD kernel: its formula and what the dispatch needs to know. */
export interface Simd<F> {
  lanes: SimdLanes;
  f: F;
  /** Compute-bound: worth copying operands onto the wasm heap for. */
  transcendental?: boolean;
  /** op(a, b) = op(b, a): the kernel may swap operands to reach a broadcast form it has. */
  commutative?: boolean;
}

/** A unary SIMD formula, generic over the lanes it is evaluated on. */
export type Formula1 = <V, M>(m: Lanes<V, M>, x: V) => V;
/** A binary SIMD formula. */
export type Formula2 = <V, M>(m: Lanes<V, M>, a: V, b: V) => V;

/** WGSL on `a` (and `b`) in f32, and in i32 where the op is defined for integer tensors. */
export interface Wgsl {
  f32: string;
  i32?: string;
}

/** One unary op. */
export interface UnaryRow {
  kind: OpKind;
  /** float64 reference; the output array rounds once. */
  ref: (x: number) => number;
  /** JavaScript expression on `a` for the generated loops; without one the loop calls `ref`. */
  js?: string;
  wgsl: Wgsl;
  simd?: Simd<Formula1>;
}

/** One binary op (`ref`, `js` and `wgsl` on `a` and `b`). */
export interface BinaryRow {
  kind: OpKind;
  ref: (a: number, b: number) => number;
  js?: string;
  wgsl: Wgsl;
  simd?: Simd<Formula2>;
}

/** float64 lanes: a formula evaluated here is the reference. */
const F64: Lanes<number, boolean> = {
  k: (v) => v,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  neg: (a) => -a,
  abs: Math.abs,
  sqrt: Math.sqrt,
  max: Math.max,
  min: Math.min,
  exp: Math.exp,
  ge: (a, b) => a >= b,
  lt: (a, b) => a < b,
  select: (m, a, b) => (m ? a : b),
};

/** A row part whose reference is its SIMD formula, so the kernel and the reference cannot drift apart. */
function simd1(lanes: SimdLanes, f: Formula1, flags: { transcendental?: boolean } = {}): { ref: (x: number) => number; simd: Simd<Formula1> } {
  return { ref: (x) => f(F64, x), simd: { lanes, f, ...flags } };
}
function simd2(f: Formula2, flags: { commutative?: boolean } = {}): { ref: (a: number, b: number) => number; simd: Simd<Formula2> } {
  return { ref: (a, b) => f(F64, a, b), simd: { lanes: 'f32', f, ...flags } };
}

/**
 * sigma(z) = n / (1 + e) with e = e^-|z| and n = 1 for z >= 0, e below: e never overflows and no branch cancels.
 * WGSL's f_sigmoid is this formula.
 */
function sigmoid<V, M>(m: Lanes<V, M>, z: V): V {
  const e = m.exp(m.neg(m.abs(z)));
  return m.div(m.select(m.ge(z, m.k(0)), m.k(1), e), m.add(m.k(1), e));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const both = (s: string): Wgsl => ({ f32: s, i32: s });

/** The unary ops. */
export const UNARY_OPS = {
  neg: { kind: 'arith', ...simd1('f32', (m, x) => m.neg(x)), js: '-a', wgsl: both('-a') },
  abs: { kind: 'arith', ref: Math.abs, js: 'Math.abs(a)', wgsl: both('abs(a)') },
  sign: { kind: 'arith', ref: (x) => (Number.isNaN(x) ? NaN : x > 0 ? 1 : x < 0 ? -1 : 0), wgsl: { f32: 'f_sign(a)', i32: 'sign(a)' } },
  exp: { kind: 'float', ...simd1('f64', (m, x) => m.exp(x), { transcendental: true }), js: 'Math.exp(a)', wgsl: { f32: 'exp(a)' } },
  log: { kind: 'float', ref: Math.log, js: 'Math.log(a)', wgsl: { f32: 'log(a)' } },
  log1p: { kind: 'float', ref: Math.log1p, js: 'Math.log1p(a)', wgsl: { f32: 'f_log1p(a)' } },
  expm1: { kind: 'float', ref: Math.expm1, js: 'Math.expm1(a)', wgsl: { f32: 'f_expm1(a)' } },
  sqrt: { kind: 'float', ...simd1('f32', (m, x) => m.sqrt(x)), js: 'Math.sqrt(a)', wgsl: { f32: 'sqrt(a)' } },
  rsqrt: { kind: 'float', ...simd1('f64', (m, x) => m.div(m.k(1), m.sqrt(x))), js: '1 / Math.sqrt(a)', wgsl: { f32: '(1.0 / sqrt(a))' } },
  square: { kind: 'arith', ...simd1('f32', (m, x) => m.mul(x, x)), js: 'a * a', wgsl: both('a * a') },
  reciprocal: { kind: 'float', ref: (x) => 1 / x, js: '1 / a', wgsl: { f32: '(1.0 / a)' } },
  sin: { kind: 'float', ref: Math.sin, js: 'Math.sin(a)', wgsl: { f32: 'sin(a)' } },
  cos: { kind: 'float', ref: Math.cos, js: 'Math.cos(a)', wgsl: { f32: 'cos(a)' } },
  // The reference is Math.tanh; the SIMD kernel evaluates sign(x) (1 - 2 / (e^2|x| + 1)) in float64 (x itself below
  // |x| = 2^-12, where that form cancels), the same function to ~1e-13 relative, so within an ulp after rounding.
  tanh: {
    kind: 'float', ref: Math.tanh, js: 'Math.tanh(a)', wgsl: { f32: 'f_tanh(a)' },
    simd: {
      lanes: 'f64', transcendental: true,
      f: (m, x) => {
        const ax = m.abs(x);
        const t = m.sub(m.k(1), m.div(m.k(2), m.add(m.exp(m.add(ax, ax)), m.k(1))));
        return m.select(m.lt(ax, m.k(2 ** -12)), x, m.select(m.lt(x, m.k(0)), m.neg(t), t));
      },
    },
  },
  sigmoid: { kind: 'float', ...simd1('f64', (m, x) => sigmoid(m, x), { transcendental: true }), wgsl: { f32: 'f_sigmoid(a)' } },
  // max(x, 0) with NaN kept; -0 gives +0.
  relu: { kind: 'arith', ...simd1('f32', (m, x) => m.max(x, m.k(0))), js: '(a > 0 || a !== a ? a : 0)', wgsl: { f32: 'select(select(0.0, a, a > 0.0), a, isnan_f(a))', i32: 'max(a, 0)' } },
  // relu(x)^2 in one pass (Nemotron's MLP activation); NaN propagates as in relu
  relu2: {
    kind: 'arith', ...simd1('f32', (m, x) => { const r = m.max(x, m.k(0)); return m.mul(r, r); }), js: '(a > 0 || a !== a ? a * a : 0)',
    wgsl: { f32: 'select(select(0.0, a * a, a > 0.0), a, isnan_f(a))', i32: 'max(a, 0) * max(a, 0)' },
  },
  // x Phi(x) = x (1 + erf(x / sqrt 2)) / 2
  gelu: { kind: 'float', ref: (x) => 0.5 * x * (1 + erf(x * Math.SQRT1_2)), wgsl: { f32: '0.5 * a * (1.0 + f_erf(a * 0.7071067811865476))' } },
  // torch's approximate='tanh', 0.5 x (1 + tanh u) with u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as the equal
  // x sigma(2u), which does not cancel for negative x.
  gelu_tanh: {
    kind: 'float',
    ...simd1('f64', (m, x) => m.mul(x, sigmoid(m, m.mul(m.k(2 * SQRT_2_OVER_PI), m.add(x, m.mul(m.k(0.044715), m.mul(x, m.mul(x, x))))))), { transcendental: true }),
    wgsl: { f32: `a * f_sigmoid(${2 * SQRT_2_OVER_PI} * (a + 0.044715 * (a * (a * a))))` },
  },
  // x sigma(x)
  silu: { kind: 'float', ...simd1('f64', (m, x) => m.mul(x, sigmoid(m, x)), { transcendental: true }), wgsl: { f32: 'a * f_sigmoid(a)' } },
  erf: { kind: 'float', ref: erf, wgsl: { f32: 'f_erf(a)' } },
  floor: { kind: 'arith', ref: Math.floor, js: 'Math.floor(a)', wgsl: { f32: 'floor(a)', i32: 'a' } },
  ceil: { kind: 'arith', ref: Math.ceil, js: 'Math.ceil(a)', wgsl: { f32: 'ceil(a)', i32: 'a' } },
  // half to even, as torch.round (WGSL's round() rounds half to even)
  round: { kind: 'arith', ref: roundHalfEven, wgsl: { f32: 'round(a)', i32: 'a' } },
  isnan: { kind: 'compare', ref: (x) => (Number.isNaN(x) ? 1 : 0), js: '(a !== a ? 1 : 0)', wgsl: { f32: 'i32(isnan_f(a))', i32: '0' } },
  isfinite: { kind: 'compare', ref: (x) => (Number.isFinite(x) ? 1 : 0), wgsl: { f32: 'i32((bitcast<u32>(a) & 0x7fffffffu) < 0x7f800000u)', i32: '1' } },
  isinf: { kind: 'compare', ref: (x) => (x === Infinity || x === -Infinity ? 1 : 0), wgsl: { f32: 'i32(isinf_f(a))', i32: '0' } },
  logical_not: { kind: 'logic', ref: (x) => (x === 0 ? 1 : 0), js: '(a === 0 ? 1 : 0)', wgsl: { f32: 'i32(!truthy_f(a))', i32: 'i32(a == 0)' } },
} satisfies Record<string, UnaryRow>;

const logic = (op: string): Wgsl => ({ f32: `i32(truthy_f(a) ${op} truthy_f(b))`, i32: `i32((a != 0) ${op} (b != 0))` });

/** The binary ops; comparisons and logic give 0/1. */
export const BINARY_OPS = {
  add: { kind: 'arith', ...simd2((m, a, b) => m.add(a, b), { commutative: true }), js: 'a + b', wgsl: both('a + b') },
  sub: { kind: 'arith', ...simd2((m, a, b) => m.sub(a, b)), js: 'a - b', wgsl: both('a - b') },
  mul: { kind: 'arith', ...simd2((m, a, b) => m.mul(a, b), { commutative: true }), js: 'a * b', wgsl: both('a * b') },
  div: { kind: 'float', ...simd2((m, a, b) => m.div(a, b)), js: 'a / b', wgsl: { f32: 'a / b' } },
  // C's pow, as torch: pow(1, y) = 1 and pow(-1, +-inf) = 1 even where Math.pow gives NaN.
  pow: {
    kind: 'arith', ref: (a, b) => (a === 1 || b === 0 ? 1 : a === -1 && (b === Infinity || b === -Infinity) ? 1 : Math.pow(a, b)),
    wgsl: { f32: 'f_pow(a, b)', i32: 'i_pow(a, b)' },
  },
  // NaN propagates, as in torch.
  maximum: { kind: 'select', ...simd2((m, a, b) => m.max(a, b), { commutative: true }), js: 'Math.max(a, b)', wgsl: { f32: 'f_max(a, b)', i32: 'max(a, b)' } },
  minimum: { kind: 'select', ...simd2((m, a, b) => m.min(a, b), { commutative: true }), js: 'Math.min(a, b)', wgsl: { f32: 'f_min(a, b)', i32: 'min(a, b)' } },
  atan2: { kind: 'float', ref: Math.atan2, wgsl: { f32: 'f_atan2(a, b)' } },
  // torch.remainder: the exact fmod, moved into the divisor's sign (a - floor(a/b)*b loses precision and gives NaN for b = inf).
  remainder: {
    kind: 'arith',
    ref: (a, b) => {
      const m = a % b;
      return m !== 0 && m < 0 !== b < 0 ? m + b : m;
    },
    wgsl: { f32: 'f_rem(a, b)', i32: 'i_rem(a, b)' },
  },
  eq: { kind: 'compare', ref: (a, b) => (a === b ? 1 : 0), js: '(a === b ? 1 : 0)', wgsl: both('i32(a == b)') },
  ne: { kind: 'compare', ref: (a, b) => (a !== b ? 1 : 0), js: '(a !== b ? 1 : 0)', wgsl: both('i32(a != b)') },
  lt: { kind: 'compare', ref: (a, b) => (a < b ? 1 : 0), js: '(a < b ? 1 : 0)', wgsl: both('i32(a < b)') },
  le: { kind: 'compare', ref: (a, b) => (a <= b ? 1 : 0), js: '(a <= b ? 1 : 0)', wgsl: both('i32(a <= b)') },
  gt: { kind: 'compare', ref: (a, b) => (a > b ? 1 : 0), js: '(a > b ? 1 : 0)', wgsl: both('i32(a > b)') },
  ge: { kind: 'compare', ref: (a, b) => (a >= b ? 1 : 0), js: '(a >= b ? 1 : 0)', wgsl: both('i32(a >= b)') },
  logical_and: { kind: 'logic', ref: (a, b) => (a !== 0 && b !== 0 ? 1 : 0), js: '(a !== 0 && b !== 0 ? 1 : 0)', wgsl: logic('&&') },
  logical_or: { kind: 'logic', ref: (a, b) => (a !== 0 || b !== 0 ? 1 : 0), js: '(a !== 0 || b !== 0 ? 1 : 0)', wgsl: logic('||') },
  logical_xor: { kind: 'logic', ref: (a, b) => ((a !== 0) !== (b !== 0) ? 1 : 0), wgsl: logic('!=') },
} satisfies Record<string, BinaryRow>;

/** Reductions over trailing dims: what the result follows (`index`: int32 positions). */
export const REDUCE_OPS = {
  sum: { kind: 'arith' },
  prod: { kind: 'arith' },
  max: { kind: 'select' },
  min: { kind: 'select' },
  argmax: { kind: 'index' },
  argmin: { kind: 'index' },
  any: { kind: 'logic' },
  all: { kind: 'logic' },
} satisfies Record<string, { kind: OpKind | 'index' }>;

type Keys<T> = Extract<keyof T, string>;
/** The unary ops that have a wasm SIMD kernel. */
export type SimdUnaryOp = { [K in Keys<typeof UNARY_OPS>]: (typeof UNARY_OPS)[K] extends { simd: object } ? K : never }[Keys<typeof UNARY_OPS>];
/** The binary ops that have a wasm SIMD kernel. */
export type SimdBinaryOp = { [K in Keys<typeof BINARY_OPS>]: (typeof BINARY_OPS)[K] extends { simd: object } ? K : never }[Keys<typeof BINARY_OPS>];

/** The unary table as plain rows (the literal rows differ in which optional fields they carry). */
export const UNARY: Readonly<Record<Keys<typeof UNARY_OPS>, UnaryRow>> = UNARY_OPS;
/** The binary table as plain rows. */
export const BINARY: Readonly<Record<Keys<typeof BINARY_OPS>, BinaryRow>> = BINARY_OPS;

/** The unary ops with a SIMD kernel, and their kernels. */
export const SIMD_UNARY = Object.entries(UNARY).flatMap(([op, r]) => (r.simd ? [[op as SimdUnaryOp, r.simd] as const] : []));
/** The binary ops with a SIMD kernel, and their kernels. */
export const SIMD_BINARY = Object.entries(BINARY).flatMap(([op, r]) => (r.simd ? [[op as SimdBinaryOp, r.simd] as const] : []));
