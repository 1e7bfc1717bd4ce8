// Elementwise ops: unary math, binary arithmetic with NumPy broadcasting, comparisons, logic, casts.
// Each op: dtype rule, forward (one kernel call), backward (other ops), in one place.
import { record, withGradMode } from '../autograd.js';
import type { BinaryOp, Device, UnaryOp, View } from '../backend.js';
import { getBackend, hostDevice } from '../backend.js';
import { BINARY, boolResult, UNARY } from '../backend/op-table.js';
import { arrayLength, computeDtype, isFloating, isQuantized, promoteTypes, promoteWithScalar, type DType } from '../dtype.js';
import { broadcastShapes, broadcastStrides } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { asTensor, backendOf, sumToShape, wrap } from './util.js';

/** Converts to another dtype; gradients flow back in the source's compute dtype. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  if (isQuantized(dtype)) throw new Error(`cast: ${dtype} is made by quantize(t, '${dtype}') from a 2-D [out, in] weight, not by a cast`);
  if (isQuantized(x.dtype)) throw new Error(`cast: ${x.dtype} tensors are quantized weights, read only by matmul / linear; use dequantize(t) or t.to('float32') for their values`);
  const out = wrap(backendOf('cast', x).copy(x, dtype), x.shape);
  if (!isFloating(dtype)) return out;
  return record(out, 'cast', [x], (g) => [cast(g, computeDtype(x.dtype))]);
}

/** Moves a tensor to another device (a no-op when it is already there). */
export function toDevice(x: Tensor, device: Device): Tensor {
  if (x.device === device) return x;
  const target = getBackend(device);
  const src = getBackend(x.device);
  if (!src.readSync) throw new Error(`to: moving a tensor from '${x.device}' to '${device}' reads device memory, which is asynchronous; use await t.cpu()`);
  const dense = src.copy(x, x.dtype);
  const out = wrap(target.upload(x.dtype, src.readSync(dense)), x.shape);
  dense.dispose(); // upload copied it; dropped undisposed it would count in memory() until the garbage collector ran
  return record(out, 'to', [x], (g) => [toDevice(g, x.device)]);
}

/** Copies a tensor to the CPU, waiting for the device's asynchronous read (the tensor itself when already there). */
export async function toCpu(x: Tensor): Promise<Tensor> {
  const host = hostDevice();
  if (x.device === host) return x;
  const src = getBackend(x.device);
  const dense = x.isContiguous() ? { storage: x.storage, offset: x.offset, tmp: false } : { storage: src.copy(x, x.dtype), offset: 0, tmp: true };
  const all = await src.read(dense.storage);
  if (dense.tmp) dense.storage.dispose();
  const [lo, hi] = [arrayLength(x.dtype, dense.offset), arrayLength(x.dtype, dense.offset + x.numel())]; // bytes of whole blocks when quantized
  const out = wrap(getBackend(host).upload(x.dtype, all.subarray(lo, hi)), x.shape);
  // the gradient goes back to the source device (a synchronous upload)
  return record(out, 'to', [x], (g) => [toDevice(g, x.device)]);
}

function view(x: Tensor, shape: readonly number[]): View {
  return { storage: x.storage, shape, strides: broadcastStrides('broadcast', x.shape, x.strides, shape), offset: x.offset };
}

// ---------------- unary ----------------

type Grad1 = (g: Tensor, x: Tensor, y: Tensor) => Tensor;

/** Runs a unary kernel with the result dtype its op-table kind gives, recording `grad` for floating results. */
function unaryOp(op: UnaryOp, x: Tensor, grad: Grad1 | null): Tensor {
  const kind = UNARY[op].kind;
  const inDt = computeDtype(x.dtype);
  const outBool = boolResult(kind);
  let dt: DType = outBool ? 'bool' : inDt;
  if (kind === 'float' && !isFloating(dt)) dt = 'float32';
  if (!outBool && dt === 'bool') dt = 'int32';
  const xin = cast(x, outBool ? inDt : dt);
  const y = wrap(backendOf(op, xin).unary(op, xin, dt), x.shape);
  if (!grad || !isFloating(dt)) return y;
  return record(y, op, [xin], (g) => [grad(g, xin, y)]);
}

const zerosGrad: Grad1 = (g) => mul(g, 0);

/** -x */
export function neg(x: Tensor): Tensor { return unaryOp('neg', x, (g) => neg(g)); }
/** |x| */
export function abs(x: Tensor): Tensor { return unaryOp('abs', x, (g, x) => mul(g, sign(x))); }
/** -1, 0 or 1 by the sign of x (0 gradient). */
export function sign(x: Tensor): Tensor { return unaryOp('sign', x, zerosGrad); }
/** e^x */
export function exp(x: Tensor): Tensor { return unaryOp('exp', x, (g, _x, y) => mul(g, y)); }
/** Natural logarithm. */
export function log(x: Tensor): Tensor { return unaryOp('log', x, (g, x) => div(g, x)); }
/** log(1 + x), accurate near 0. */
export function log1p(x: Tensor): Tensor { return unaryOp('log1p', x, (g, x) => div(g, add(x, 1))); }
/** e^x - 1, accurate near 0. */
export function expm1(x: Tensor): Tensor { return unaryOp('expm1', x, (g, _x, y) => mul(g, add(y, 1))); }
/** Square root. */
export function sqrt(x: Tensor): Tensor { return unaryOp('sqrt', x, (g, _x, y) => div(g, mul(y, 2))); }
/** 1 / sqrt(x) */
export function rsqrt(x: Tensor): Tensor { return unaryOp('rsqrt', x, (g, _x, y) => mul(g, mul(pow(y, 3), -0.5))); }
/** x * x */
export function square(x: Tensor): Tensor { return unaryOp('square', x, (g, x) => mul(g, mul(x, 2))); }
/** 1 / x */
export function reciprocal(x: Tensor): Tensor { return unaryOp('reciprocal', x, (g, _x, y) => neg(mul(g, mul(y, y)))); }
/** Sine. */
export function sin(x: Tensor): Tensor { return unaryOp('sin', x, (g, x) => mul(g, cos(x))); }
/** Cosine. */
export function cos(x: Tensor): Tensor { return unaryOp('cos', x, (g, x) => neg(mul(g, sin(x)))); }
/** Hyperbolic tangent. */
export function tanh(x: Tensor): Tensor { return unaryOp('tanh', x, (g, _x, y) => mul(g, sub(1, mul(y, y)))); }
/** Logistic sigmoid 1 / (1 + e^-x), computed without overflow. */
export function sigmoid(x: Tensor): Tensor { return unaryOp('sigmoid', x, (g, _x, y) => mul(g, mul(y, sub(1, y)))); }
/** max(x, 0) */
export function relu(x: Tensor): Tensor { return unaryOp('relu', x, (g, _x, y) => mul(g, gt(y, 0))); }
/** The error function. */
export function erf(x: Tensor): Tensor { return unaryOp('erf', x, (g, x) => mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))); }
/** x * sigmoid(x) (SiLU / swish). */
export function silu(x: Tensor): Tensor {
  return unaryOp('silu', x, (g, x) => {
    const s = sigmoid(x);
    return mul(g, mul(s, add(1, mul(x, sub(1, s)))));
  });
}
/** GELU, exact (erf) or with `approximate: 'tanh'`, as torch.nn.functional.gelu. */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  if (opts.approximate === 'tanh') {
    const k = Math.sqrt(2 / Math.PI);
    return unaryOp('gelu_tanh', x, (g, x) => {
      const x2 = mul(x, x);
      const t = tanh(mul(mul(x, add(mul(x2, 0.044715), 1)), k));
      const dt = mul(mul(sub(1, mul(t, t)), k), add(mul(x2, 3 * 0.044715), 1));
      return mul(g, add(mul(add(t, 1), 0.5), mul(mul(x, dt), 0.5)));
    });
  }
  if (opts.approximate !== undefined && opts.approximate !== 'none') throw new Error(`gelu: approximate must be 'none' or 'tanh', got '${String(opts.approximate)}'`);
  return unaryOp('gelu', x, (g, x) => {
    const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = mul(exp(mul(mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return mul(g, add(cdf, mul(x, pdf)));
  });
}
/** Rounds down. */
export function floor(x: Tensor): Tensor { return isFloating(x.dtype) ? unaryOp('floor', x, zerosGrad) : x; }
/** Rounds up. */
export function ceil(x: Tensor): Tensor { return isFloating(x.dtype) ? unaryOp('ceil', x, zerosGrad) : x; }
/** Rounds half to even, as torch.round. */
export function round(x: Tensor): Tensor { return isFloating(x.dtype) ? unaryOp('round', x, zerosGrad) : x; }
/** True where x is NaN. */
export function isnan(x: Tensor): Tensor { return unaryOp('isnan', x, null); }
/** True where x is neither infinite nor NaN. */
export function isfinite(x: Tensor): Tensor { return unaryOp('isfinite', x, null); }
/** True where x is +-infinity. */
export function isinf(x: Tensor): Tensor { return unaryOp('isinf', x, null); }
/** Elementwise NOT. */
export function logicalNot(x: Tensor): Tensor { return unaryOp('logical_not', x, null); }

/** log(1 + exp(beta x)) / beta, linear above `threshold` as torch.nn.functional.softplus. */
export function softplus(x: Tensor, opts: { beta?: number; threshold?: number } = {}): Tensor {
  const beta = opts.beta ?? 1;
  const threshold = opts.threshold ?? 20;
  const bx = mul(x, beta);
  // clamp before exp so the unused branch cannot overflow into an inf * 0 = NaN gradient
  const soft = div(log1p(exp(minimum(bx, threshold))), beta);
  return where(gt(bx, threshold), x, soft);
}

/** Squared ReLU, relu(x)^2 (Nemotron's MLP activation). */
export function relu2(x: Tensor): Tensor {
  // One pass each way: the forward is one kernel, the backward g * 2 relu(x) the backend's fused kernel where it has one.
  return unaryOp('relu2', x, (g, x) => {
    const be = backendOf('relu2', g, x);
    if (be.relu2Backward) return wrap(be.relu2Backward(g, x, x.dtype), x.shape);
    const r = relu(x);
    return mul(g, add(r, r));
  });
}

// ---------------- binary ----------------

type Grad2 = (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null];
/** Runs a binary kernel on the broadcast, promoted operands; its op-table kind gives the result dtype. */
function binaryOp(op: BinaryOp, a: TensorLike, b: TensorLike, grad: Grad2 | null): Tensor {
  const kind = BINARY[op].kind;
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new Error(`${op}: at least one operand must be a tensor`);
  const like = (a instanceof Tensor ? a : b) as Tensor;
  let dt: DType =
    a instanceof Tensor && b instanceof Tensor ? promoteTypes(a.dtype, b.dtype)
    : a instanceof Tensor ? promoteWithScalar(a.dtype, b as number) : promoteWithScalar((b as Tensor).dtype, a as number);
  if (kind === 'float' && !isFloating(dt)) dt = 'float32';
  if (kind === 'arith' && dt === 'bool') dt = 'int32';
  const ta = cast(asTensor(a, dt, like), dt);
  const tb = cast(asTensor(b, dt, like), dt);
  const backend = backendOf(op, ta, tb);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  const outDt: DType = boolResult(kind) ? 'bool' : dt;
  const y = wrap(backend.binary(op, view(ta, shape), view(tb, shape), outDt), shape);
  if (!grad || !isFloating(outDt)) return y;
  return record(y, op, [ta, tb], (g) => {
    const [ga, gb] = grad(g, ta, tb, y);
    // an operand without a gradient (a mask, a scalar, a table) gets no broadcast reduction either
    return [ga && ta.requiresGrad ? sumToShape(ga, ta.shape) : null, gb && tb.requiresGrad ? sumToShape(gb, tb.shape) : null];
  });
}

/** a + alpha * b, with broadcasting. */
export function add(a: TensorLike, b: TensorLike, opts: { alpha?: number } = {}): Tensor {
  if (opts.alpha !== undefined && opts.alpha !== 1) return add(a, mul(b as Tensor, opts.alpha));
  return binaryOp('add', a, b, (g) => [g, g]);
}
/** a - alpha * b, with broadcasting. */
export function sub(a: TensorLike, b: TensorLike, opts: { alpha?: number } = {}): Tensor {
  if (opts.alpha !== undefined && opts.alpha !== 1) return sub(a, mul(b as Tensor, opts.alpha));
  return binaryOp('sub', a, b, (g, _a, b) => [g, b.requiresGrad ? neg(g) : null]);
}
/** a * b, with broadcasting. */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('mul', a, b, (g, a, b) => [a.requiresGrad ? mul(g, b) : null, b.requiresGrad ? mul(g, a) : null]);
}
/** a / b (true division: integers give float32). */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('div', a, b, (g, a, b, y) => [a.requiresGrad ? div(g, b) : null, b.requiresGrad ? neg(div(mul(g, y), b)) : null]);
}
/** a ** b, with broadcasting. */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('pow', a, b, (g, a, b, y) => [
    // torch masks the exponent == 0 case so 0^0 has gradient 0 rather than 0 * inf
    a.requiresGrad ? where(eq(b, 0), 0, mul(g, mul(b, pow(a, sub(b, 1))))) : null,
    b.requiresGrad ? where(logicalAnd(eq(a, 0), ge(b, 0)), 0, mul(g, mul(y, log(a)))) : null,
  ]);
}
/** Elementwise maximum (NaN propagates; ties split the gradient). */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('maximum', a, b, (g, a, b) => {
    const half = where(eq(a, b), mul(g, 0.5), g);
    return [where(lt(a, b), 0, half), where(gt(a, b), 0, half)];
  });
}
/** Elementwise minimum (NaN propagates; ties split the gradient). */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('minimum', a, b, (g, a, b) => {
    const half = where(eq(a, b), mul(g, 0.5), g);
    return [where(gt(a, b), 0, half), where(lt(a, b), 0, half)];
  });
}
/** atan2(a, b), the angle of the point (b, a). */
export function atan2(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('atan2', a, b, (g, a, b) => {
    const r = add(mul(a, a), mul(b, b));
    return [div(mul(g, b), r), neg(div(mul(g, a), r))];
  });
}
/** Python-style modulo (the result has the divisor's sign), as torch.remainder. */
export function remainder(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('remainder', a, b, (g, a, b) => [g, neg(mul(g, floor(div(a, b))))]);
}
/** a == b */
export function eq(a: TensorLike, b: TensorLike): Tensor { return binaryOp('eq', a, b, null); }
/** a != b */
export function ne(a: TensorLike, b: TensorLike): Tensor { return binaryOp('ne', a, b, null); }
/** a < b */
export function lt(a: TensorLike, b: TensorLike): Tensor { return binaryOp('lt', a, b, null); }
/** a <= b */
export function le(a: TensorLike, b: TensorLike): Tensor { return binaryOp('le', a, b, null); }
/** a > b */
export function gt(a: TensorLike, b: TensorLike): Tensor { return binaryOp('gt', a, b, null); }
/** a >= b */
export function ge(a: TensorLike, b: TensorLike): Tensor { return binaryOp('ge', a, b, null); }
/** Elementwise AND of truthiness. */
export function logicalAnd(a: TensorLike, b: TensorLike): Tensor { return binaryOp('logical_and', a, b, null); }
/** Elementwise OR of truthiness. */
export function logicalOr(a: TensorLike, b: TensorLike): Tensor { return binaryOp('logical_or', a, b, null); }
/** Elementwise XOR of truthiness. */
export function logicalXor(a: TensorLike, b: TensorLike): Tensor { return binaryOp('logical_xor', a, b, null); }

/** Limits x to [min, max] (either may be omitted); the gradient passes only where x was inside. */
export function clamp(x: Tensor, min?: TensorLike | null, max?: TensorLike | null): Tensor {
  const lo = min ?? null;
  const hi = max ?? null;
  if (lo === null && hi === null) throw new Error('clamp: at least one of min or max must be given');
  // Forward through maximum/minimum, unrecorded: clamp's own gradient is 1 on the closed interval, without tie-splitting.
  const y = withGradMode(false, () => {
    let r = x;
    if (lo !== null) r = maximum(r, lo);
    if (hi !== null) r = minimum(r, hi);
    return r;
  });
  const bounds = [lo, hi].filter((t): t is Tensor => t instanceof Tensor);
  return record(y, 'clamp', [x, ...bounds], (g) => {
    const above = lo === null ? null : ge(x, lo);
    const below = hi === null ? null : le(x, hi);
    const inside = above && below ? logicalAnd(above, below) : (above ?? below)!;
    const grads = [sumToShape(where(inside, g, 0), x.shape)];
    if (lo instanceof Tensor) grads.push(sumToShape(where(lt(x, lo), g, 0), lo.shape));
    if (hi instanceof Tensor) grads.push(sumToShape(where(gt(x, hi), g, 0), hi.shape));
    return grads;
  });
}

/** Picks a where cond is true, else b (broadcast together). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (cond.dtype !== 'bool') throw new Error(`where: condition must be a bool tensor, got ${cond.dtype}`);
  const dt: DType =
    a instanceof Tensor && b instanceof Tensor ? promoteTypes(a.dtype, b.dtype)
    : a instanceof Tensor ? promoteWithScalar(a.dtype, b as number)
    : b instanceof Tensor ? promoteWithScalar(b.dtype, a as number)
    : Number.isInteger(a) && Number.isInteger(b) ? 'int32' : 'float32';
  const ta = cast(asTensor(a, dt, cond), dt);
  const tb = cast(asTensor(b, dt, cond), dt);
  const backend = backendOf('where', cond, ta, tb);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, ta.shape), tb.shape);
  const y = wrap(backend.where(view(cond, shape), view(ta, shape), view(tb, shape), dt), shape);
  if (!isFloating(dt)) return y;
  return record(y, 'where', [ta, tb], (g) => [
    ta.requiresGrad ? sumToShape(where(cond, g, 0), ta.shape) : null,
    tb.requiresGrad ? sumToShape(where(cond, 0, g), tb.shape) : null,
  ]);
}
