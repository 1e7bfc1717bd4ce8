// The CPU backend object, dispatch only: each kernel tries its WebAssembly accelerator (when on and able to run) and
// otherwise runs the TypeScript kernel; the bodies live in elementwise.ts, fused.ts, train.ts, matmul.ts and ./kernels/.
// `setWasmAccelerators(false)` turns every accelerator off (tests use it to run the TypeScript kernels on their own).
import type { Backend } from '../../backend.js';
import { elementCount } from '../../dtype.js';
import { binary, reduce, unary, where } from './elementwise.js';
import { attention, layerNorm, rotaryEmbedding, softmax } from './fused.js';
import { arange } from './kernels/arange.js';
import { copy, write } from './kernels/copy.js';
import { gather, scatterAdd } from './kernels/gather.js';
import { quantizeCpu } from './kernels/quant.js';
import { fillStorageCpu, quantizeFromCpu } from './load.js';
import { cumsum } from './kernels/scan.js';
import { sort } from './kernels/sort.js';
import { matmulCpu } from './matmul.js';
import { drainRecycled, recycledMemory } from './recycle.js';
import { arr, cpuAlloc, cpuLive, onHeap } from './storage.js';
import { adamStepCpu, crossEntropyBackward, crossEntropyForward, layerNormBackward, relu2Backward, softmaxBackward } from './train.js';
import { disableWasm, heapStats, wasmKernels } from './wasm/index.js';

declare module '../../backend.js' {
  interface DeviceNames {
    cpu: true;
  }
}

/** Turns the WebAssembly accelerators on or off (on by default where WebAssembly SIMD exists). */
export function setWasmAccelerators(enabled: boolean): void {
  disableWasm(!enabled);
}

/** Whether the WebAssembly accelerators are on and available here. */
export function wasmAccelerators(): boolean {
  return wasmKernels() !== null;
}

/** The CPU backend. */
export const cpuBackend: Backend = {
  device: 'cpu',
  zeros: (dtype, n) => cpuAlloc(dtype, n),
  upload: (dtype, data) => {
    const s = cpuAlloc(dtype, elementCount(dtype, data.length));
    s.data.set(data);
    return s;
  },
  pin: (s) => {
    const a = arr(s);
    if (onHeap(a)) return s;
    // The heap places it in one of its memories, keeping room in each for kernel scratch (wasm/heap.ts).
    const p = cpuAlloc(s.dtype, s.length, true);
    if (!onHeap(p.data)) {
      p.dispose(); // a dtype the heap does not hold (float64, bool): counted in memory() until collected otherwise
      return null;
    }
    p.data.set(a);
    return p;
  },
  read: async (s) => arr(s).slice(),
  readSync: (s) => arr(s),
  write,
  copy,
  unary,
  binary,
  where,
  reduce,
  matmul: matmulCpu,
  gather,
  scatterAdd,
  cumsum,
  sort,
  softmax,
  layerNorm,
  attention,
  rotaryEmbedding,
  quantize: quantizeCpu,
  fillStorage: fillStorageCpu,
  quantizeFrom: quantizeFromCpu,
  relu2Backward,
  softmaxBackward,
  layerNormBackward,
  crossEntropyForward,
  crossEntropyBackward,
  adamStep: adamStepCpu,
  arange,
  memory: () => {
    const { storages, bytes } = cpuLive();
    return { numTensors: storages, numBytes: bytes, ...recycledMemory(), kernelBytes: heapStats().liveBytes, pipelines: 0 };
  },
  emptyCache: drainRecycled,
};
