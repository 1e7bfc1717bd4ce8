// @tensorzoo/tensor: tensors, autograd and the CPU backend. Importing it registers the CPU backend.
import { registerBackend } from './backend.js';
import { cpuBackend } from './backend/cpu/index.js';

/** The CPU backend object (its export also makes the 'cpu' device name visible to dependants' type checks). */
export { cpuBackend };

registerBackend(cpuBackend, { host: true });

export { Tensor, type TensorLike, type NestedArray } from './tensor.js';
export { type DType, type QuantDType, type TypedArray, DTYPES, isFloating, isQuantized, blockBytes, QK, promoteTypes, itemSize, bf16ToNumber, numberToBf16, f16ToNumber, numberToF16 } from './dtype.js';
export { quantize, dequantize, fromBlocks, blockBytesShape, QUANT_DTYPES } from './quant.js';
export { type Shape, numel, broadcastShapes } from './shape.js';
export { type Device, type Backend, type Storage, type View, type UnaryOp, type BinaryOp, type ReduceOp, type DeviceNames, type BackendMemory, hasBackend, registerBackend, declareDevice, getBackend, hostDevice, isDevice } from './backend.js';
export { noGrad, isGradEnabled, withGradMode as setGradEnabled, type GradNode } from './autograd.js';
export { tidy, keep } from './tidy.js';
export { tensor, fromBits, meta, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, eye, type CreateOptions } from './creation.js';
export { Generator, defaultGenerator, manualSeed, rand, randn, randint, multinomial, dropout, type RandomOptions } from './random.js';
export {
  cast, neg, abs, sign, exp, log, log1p, expm1, sqrt, rsqrt, square, reciprocal, sin, cos, tanh, sigmoid, relu, relu2, erf, silu, gelu,
  floor, ceil, round, isnan, isfinite, isinf, logicalNot, softplus, add, sub, mul, div, pow, maximum, minimum, atan2, remainder,
  eq, ne, lt, le, gt, ge, logicalAnd, logicalOr, logicalXor, clamp, where,
} from './ops/elementwise.js';
export { reshape, view, flatten, permute, transpose, t, expand, squeeze, unsqueeze, slice, narrow, select, contiguous, clone } from './ops/view.js';
export { cat, stack, split, chunk, flip, pad, triu, tril } from './ops/join.js';
export { gather, scatterAdd, indexSelect, embedding, maskedFill } from './ops/indexing.js';
export { sum, mean, prod, amax, amin, max, min, argmax, argmin, var_ as var, std, logsumexp, any, all, type Dims } from './ops/reduce.js';
export { cumsum, sort, topk } from './ops/scan.js';
export { matmul, linear } from './ops/linalg.js';
export { softmax, logSoftmax, layerNorm, scaledDotProductAttention, repeatHeads, applyRotaryEmb, type AttentionOptions } from './ops/nn.js';
export { adamStep_, type AdamStepOptions } from './ops/optim.js';
export { crossEntropy, mseLoss, binaryCrossEntropyWithLogits, type CrossEntropyOptions, type Reduction } from './ops/loss.js';
export * from './safetensors/index.js';
export { initWebGPU, releasePooledMemory, type WebGPUInfo } from './backend/webgpu/index.js';
export { emptyCache, memory, type MemoryInfo } from './memory.js';
export { setNumThreads, getNumThreads, startThreads } from './backend/cpu/wasm/pool.js';
export { hasRelaxedSimd } from './backend/cpu/wasm/module.js';
