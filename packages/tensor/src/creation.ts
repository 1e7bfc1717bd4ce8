// Creating tensors: from host data, constants, ranges.
import { getBackend, type Device } from './backend.js';
import { allocArray, castScalar, numberToBf16, numberToF16, type DType, type TypedArray } from './dtype.js';
import { checkShape, fmtShape, numel, type Shape } from './shape.js';
import { Tensor, type NestedArray } from './tensor.js';
import { wrap } from './ops/util.js';
import { MetaStorage } from './meta.js';

/** Options shared by the creation functions. */
export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Encodes host numbers into a typed array of `dtype` (rounding, truncation and 16-bit encoding as the dtype demands). */
export function encodeArray(values: ArrayLike<number>, dtype: DType): TypedArray {
  const out = allocArray(dtype, values.length);
  const enc = dtype === 'bfloat16' ? numberToBf16 : dtype === 'float16' ? numberToF16 : (v: number) => castScalar(v, dtype);
  for (let i = 0; i < values.length; i++) out[i] = enc(Number(values[i]));
  return out;
}

function inferNested(op: string, data: NestedArray): { shape: number[]; flat: number[]; hasBool: boolean } {
  const shape: number[] = [];
  let probe: NestedArray = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0] as NestedArray;
    if (probe === undefined) break;
  }
  const flat: number[] = [];
  let hasBool = false;
  const walk = (x: NestedArray, depth: number) => {
    if (depth === shape.length) {
      if (Array.isArray(x)) throw new Error(`${op}: ragged nested array: expected a number at depth ${depth}, got an array`);
      if (typeof x === 'boolean') hasBool = true;
      else if (typeof x !== 'number') throw new Error(`${op}: expected numbers or booleans, got ${typeof x}`);
      flat.push(Number(x));
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) {
      throw new Error(`${op}: ragged nested array: expected length ${shape[depth]} at depth ${depth}, got ${Array.isArray(x) ? x.length : typeof x}`);
    }
    for (const v of x) walk(v, depth + 1);
  };
  walk(data, 0);
  return { shape, flat, hasBool };
}

function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'bool';
  if (a instanceof Uint16Array) throw new Error('tensor: a Uint16Array is ambiguous; pass { dtype: "float16" | "bfloat16" } with decoded numbers or use fromBits()');
  return 'float32';
}

/**
 * A tensor from nested arrays, a typed array, or a number. Plain numbers default to float32
 * (JavaScript numbers do not say whether `1` is an int; pass `{ dtype: 'int32' }` for integers), booleans to bool.
 */
export function tensor(data: NestedArray | TypedArray, opts: CreateOptions & { shape?: Shape } = {}): Tensor {
  let values: ArrayLike<number>;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    dtype = opts.dtype ?? dtypeOfArray(data);
    values = data;
    shape = opts.shape ? checkShape('tensor', opts.shape) : [data.length];
  } else {
    const inf = inferNested('tensor', data);
    dtype = opts.dtype ?? (inf.hasBool ? 'bool' : 'float32');
    values = inf.flat;
    shape = opts.shape ? checkShape('tensor', opts.shape) : inf.shape;
  }
  if (numel(shape) !== values.length) throw new Error(`tensor: shape ${fmtShape(shape)} needs ${numel(shape)} values, got ${values.length}`);
  // raw copy when the array already holds this dtype's encoding (bytes of a Uint8Array are normalized to 0/1)
  const enc = ArrayBuffer.isView(data) && dtype !== 'bool' && dtypeOfArray(data) === dtype ? (data as TypedArray) : encodeArray(values, dtype);
  const t = wrap(getBackend(opts.device).upload(dtype, enc), shape);
  return finish(t, opts);
}

/** A tensor whose 16-bit float storage is given as raw bits (e.g. straight from a file). */
export function fromBits(bits: Uint16Array, shape: Shape, dtype: 'float16' | 'bfloat16', opts: { device?: Device } = {}): Tensor {
  if (numel(shape) !== bits.length) throw new Error(`fromBits: shape ${fmtShape(shape)} needs ${numel(shape)} values, got ${bits.length}`);
  return wrap(getBackend(opts.device).upload(dtype, bits), checkShape('fromBits', shape));
}

/** A tensor filled with `value`. */
export function full(shape: Shape, value: number | boolean, opts: CreateOptions = {}): Tensor {
  const s = checkShape('full', shape);
  const dtype = opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  const b = getBackend(opts.device);
  const v = Number(value);
  if (v === 0 && !Object.is(v, -0)) return finish(wrap(b.zeros(dtype, numel(s)), s), opts);
  const host = encodeArray([v], dtype);
  const data = allocArray(dtype, numel(s));
  data.fill(host[0]!);
  return finish(wrap(b.upload(dtype, data), s), opts);
}

/** A tensor of zeros. */
export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}
/** A tensor of ones. */
export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}
/** Zeros with x's shape, dtype and device (overridable). */
export function zerosLike(x: Tensor, opts: CreateOptions = {}): Tensor {
  return full(x.shape, 0, { dtype: x.dtype, device: x.device, ...opts });
}
/** Ones with x's shape, dtype and device (overridable). */
export function onesLike(x: Tensor, opts: CreateOptions = {}): Tensor {
  return full(x.shape, 1, { dtype: x.dtype, device: x.device, ...opts });
}
/** `value` everywhere, with x's shape, dtype and device (overridable). */
export function fullLike(x: Tensor, value: number | boolean, opts: CreateOptions = {}): Tensor {
  return full(x.shape, value, { dtype: x.dtype, device: x.device, ...opts });
}

/** start, start+step, ... below end, as torch.arange (`arange(n)` counts 0..n-1; integer arguments give int32). */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) throw new Error(`arange: step must be a finite non-zero number, got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new Error(`arange: start and end must be finite, got ${start} and ${end}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = opts.dtype ?? (Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step) ? 'int32' : 'float32');
  return finish(wrap(getBackend(opts.device).arange(start, step, n, dtype), [n]), opts);
}

/** `steps` evenly spaced values from start to end inclusive, as torch.linspace. */
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`linspace: steps must be a non-negative integer, got ${steps}`);
  const dtype = opts.dtype ?? 'float32';
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  // torch fills the second half backwards from `end` so the last value is exactly `end`
  const half = Math.floor(steps / 2);
  const vals = steps === 1 ? [start] : Array.from({ length: steps }, (_, i) => (i < half ? start + step * i : end - step * (steps - 1 - i)));
  return finish(wrap(getBackend(opts.device).upload(dtype, encodeArray(vals, dtype)), [steps]), opts);
}

/** An n x m identity matrix. */
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  checkShape('eye', [n, m]);
  const dtype = opts.dtype ?? 'float32';
  const vals = new Float64Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) vals[i * m + i] = 1;
  return finish(wrap(getBackend(opts.device).upload(dtype, encodeArray(vals, dtype)), [n, m]), opts);
}

/** A tensor with a shape and dtype but no memory, to be replaced through `set_()` (torch's device='meta'). */
export function meta(shape: Shape, opts: { dtype?: DType } = {}): Tensor {
  return new Tensor(new MetaStorage(opts.dtype ?? 'float32'), checkShape('meta', shape));
}
