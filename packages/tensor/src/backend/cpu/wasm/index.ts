// CPU fast kernels: WebAssembly SIMD modules emitted by our own TypeScript, on one shared heap,
// spread over worker threads; plain TypeScript fallbacks where WebAssembly/threads are unavailable.
export { allocF32, allocI32, allocU16, release, heapStats, setMaxTensorBytes } from './heap.js';
export {
  matmulF32, matmulF32x16, setNumThreads, getNumThreads, setParallelThreshold, type MatmulArgs, type MatmulArgs16,
} from './gemm.js';
export { matmulF32x16Ref } from './matmul16-ref.js';
export {
  binaryF32, unaryF32, rowReduceF32, softmaxRowsF32, layerNormRowsF32, setElementwiseParallelThreshold,
  type SimdBinaryOp, type SimdUnaryOp,
} from './elementwise.js';
export { kernels as wasmKernels, disableWasm, hasRelaxedSimd } from './module.js';
export { availableCores, poolInfo } from './pool.js';
export { matmulF32Ref } from '../matmul-ref.js';
