// CPU accelerators: WebAssembly SIMD kernels emitted by our own TypeScript, on one shared heap, spread over worker
// threads. Each entry point says when it cannot run (false / null); the TypeScript kernels in cpu/ then do the work.
export { allocF32, allocI32, allocU16, allocU8, release, heapStats } from './heap.js';
export {
  matmulF32, matmulF32x16, matmulF32xQ, setNumThreads, getNumThreads, setParallelThreshold, type MatmulArgs, type MatmulArgs16, type MatmulArgsQ,
} from './gemm.js';
export {
  binaryF32, unaryF32, rowReduceF32, softmaxRowsF32, softmaxCausalRowsF32, layerNormRowsF32, adamF32, rowLogSumExpF32, crossEntropyGradF32, rotaryF32, layerNormBackwardF32, softmaxBackwardF32, relu2BackwardF32, setElementwiseParallelThreshold,
  type SimdBinaryOp, type SimdUnaryOp,
} from './elementwise.js';
export { kernels as wasmKernels, disableWasm, hasRelaxedSimd } from './module.js';
export { availableCores, poolInfo } from './pool.js';
