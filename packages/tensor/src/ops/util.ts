// Helpers shared by the op definitions: device checks, scalar operands, gradient reduction.
import { noGrad } from '../autograd.js';
import { getBackend, type Backend, type Device, type Storage } from '../backend.js';
import { allocArray, castScalar, isQuantized, numberToBf16, numberToF16, type DType } from '../dtype.js';
import { fmtShape, type Shape, sameShape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';

/** The backend all tensor operands live on; mixing devices is an error naming both. */
export function backendOf(op: string, ...ts: (Tensor | null | undefined)[]): Backend {
  let dev: Device | undefined;
  for (const t of ts) {
    if (!t) continue;
    if (t.storage.disposed) throw new Error(`${op}: an input tensor ${fmtShape(t.shape)} was disposed`);
    if (isQuantized(t.dtype) && op !== 'matmul' && op !== 'dequantize') {
      throw new Error(`${op}: ${t.dtype} tensors are quantized weights, read only by matmul / linear; use dequantize(t) for their values`);
    }
    if (dev === undefined) dev = t.device;
    else if (t.device !== dev) throw new Error(`${op}: expected all tensors on the same device, got '${dev}' and '${t.device}'`);
  }
  return getBackend(dev);
}

/** A 0-d tensor holding a number, on a device. */
export function scalar(x: number | boolean, dtype: DType, device?: Device): Tensor {
  const a = allocArray(dtype, 1);
  const v = Number(x);
  a[0] = dtype === 'bfloat16' ? numberToBf16(v) : dtype === 'float16' ? numberToF16(v) : castScalar(v, dtype);
  return new Tensor(getBackend(device).upload(dtype, a), []);
}

/** Turns a number operand into a tensor beside `like`. */
export function asTensor(x: TensorLike, dtype: DType, like: Tensor): Tensor {
  return x instanceof Tensor ? x : scalar(x, dtype, like.device);
}

/** Wraps a kernel's output storage as a tensor of `shape`. */
export function wrap(storage: Storage, shape: Shape): Tensor {
  return new Tensor(storage, [...shape]);
}

/** Sums a broadcast gradient back down to `shape` (the rule behind every broadcasting op's backward). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  return noGrad(() => {
    const lead = g.ndim - shape.length;
    const dims: number[] = [];
    for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
    return (dims.length ? g.sum(dims, true) : g).reshape([...shape]);
  });
}

/** Throws unless the dtype is floating point, naming the op. */
export function requireFloat(op: string, t: Tensor): void {
  if (t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16' && t.dtype !== 'bfloat16') {
    throw new Error(`${op}: expected a floating point tensor, got ${t.dtype}`);
  }
}
