/// <reference types="webgpu" />
// The WebGPU backend: every kernel of the Backend interface as WGSL compute shaders, on navigator.gpu in a browser
// and on Dawn's Node bindings (the `webgpu` package, loaded on demand) in Node.
//
// Semantics that differ from the CPU backend, because a GPU cannot throw from inside a kernel:
// - gather (and indexSelect / embedding / crossEntropy built on it) clamps an out-of-range index into [0, size) and
//   raises a device-side flag: the next read of any webgpu tensor (`await t.data()`) throws an error naming the op,
//   the bad index and the size, as CUDA's device-side asserts do. scatterAdd drops updates whose index is out of
//   range. Nothing is ever read or written out of bounds.
// - reads are asynchronous only: `await t.data()` or `await t.cpu()`; `dataSync()`, `item()`, `tolist()` throw.
// - float64 is refused (WGSL has no 64-bit floats) with an error naming the op.
// Storage layout: float32/int32 as 32-bit words, bool as one u32 per element, float16/bfloat16 packed two per u32.
import { declareDevice, registerBackend, type Backend } from '../../backend.js';
import { drainPool, gpuMemory, pipelineCount, setContext, gpu, type WebGPUInfo } from './gpu.js';
import * as Kn from './kernels.js';
import { matmul } from './matmul.js';
import { attention } from './attention.js';

export type { WebGPUInfo } from './gpu.js';

declare module '../../backend.js' {
  interface DeviceNames {
    webgpu: true;
  }
}
declareDevice('webgpu', 'call await initWebGPU() first');

/** The WebGPU kernels. */
export const webgpuBackend: Backend = {
  device: 'webgpu',
  zeros: Kn.zeros,
  upload: Kn.upload,
  read: Kn.read,
  write: Kn.write,
  copy: Kn.copy,
  unary: Kn.unary,
  binary: Kn.binary,
  where: Kn.where,
  reduce: Kn.reduce,
  matmul: (a, b, dtype) => matmul(a, b, dtype),
  gather: Kn.gather,
  scatterAdd: Kn.scatterAdd,
  cumsum: Kn.cumsum,
  sort: Kn.sort,
  softmax: Kn.softmax,
  layerNorm: Kn.layerNorm,
  attention,
  arange: Kn.arange,
  memory: () => ({ ...gpuMemory(), kernelBytes: 0, pipelines: pipelineCount() }),
  emptyCache: releasePooledMemory,
};

let info: WebGPUInfo | null = null;
/** Dawn's GPU object: dawn.node processes events (and resolves mapAsync) only while it is referenced. */
let gpuObject: GPU | null = null;
let pending: Promise<WebGPUInfo> | null = null;

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

async function findGPU(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!isNode()) throw new Error('initWebGPU: this browser has no WebGPU (navigator.gpu is undefined); use a browser with WebGPU enabled, or stay on the cpu device');
  const name = 'webgpu'; // a variable, so browser bundlers do not try to resolve Dawn's Node addon
  let mod: { create: (options: string[]) => GPU };
  try {
    mod = (await import(name)) as typeof mod;
  } catch (e) {
    throw new Error(`initWebGPU: no WebGPU in this Node process: the 'webgpu' package (Dawn's Node bindings) could not be loaded (${(e as Error).message}); install it with \`pnpm add webgpu\``);
  }
  return mod.create([]);
}

/** Why Dawn found no adapter, as precisely as the file system tells. */
async function noAdapterMessage(): Promise<string> {
  const base = 'initWebGPU: no WebGPU adapter found';
  if (!isNode() || process.platform !== 'linux') return `${base}: no GPU (or GPU driver) is available to WebGPU on this machine`;
  const fsName = 'node:fs';
  const fs = (await import(fsName)) as typeof import('node:fs');
  const icdDirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  const icds = icdDirs.flatMap((d) => {
    try {
      return fs.readdirSync(d).map((f) => `${d}/${f}`);
    } catch {
      return [];
    }
  });
  const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];
  const loader = libDirs.some((d) => fs.existsSync(`${d}/libvulkan.so.1`));
  const hint = 'on a machine without a GPU, install Mesa\'s software Vulkan (llvmpipe) with `sudo scripts/install-software-vulkan.sh` (Debian bookworm: mesa-vulkan-drivers and libvulkan1 from bookworm-backports)';
  if (!loader) return `${base}: software Vulkan is not installed (the Vulkan loader libvulkan.so.1 is missing); ${hint}`;
  if (icds.length === 0) return `${base}: software Vulkan is not installed (no Vulkan driver manifest in ${icdDirs.join(', ')}); ${hint}`;
  return `${base} although Vulkan drivers are installed (${icds.join(', ')}): none of them offers a usable device; ${hint}`;
}

/**
 * Finds a WebGPU adapter (navigator.gpu, or Dawn through the `webgpu` package in Node), opens a device with the
 * adapter's largest buffer limits, registers the 'webgpu' backend and returns what it found. Safe to call again.
 * Throws an error naming what is missing: WebGPU itself, the `webgpu` package, or (Linux) a Vulkan driver.
 */
export async function initWebGPU(opts: { powerPreference?: 'low-power' | 'high-performance' } = {}): Promise<WebGPUInfo> {
  if (info) return info;
  pending ??= (async () => {
    const api = await findGPU();
    gpuObject = api;
    const adapter = await api.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : {});
    if (!adapter) throw new Error(await noAdapterMessage());
    const L = adapter.limits;
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
        maxBufferSize: L.maxBufferSize,
        maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
        maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
      },
    });
    device.addEventListener('uncapturederror', (e) => {
      console.error(`webgpu: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
    const a = adapter.info;
    const found: WebGPUInfo = {
      vendor: a.vendor,
      architecture: a.architecture,
      device: a.device,
      description: a.description,
      software: /llvmpipe|lavapipe|swiftshader|warp|software/i.test(`${a.architecture} ${a.description} ${a.device}`),
      limits: {
        maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
        maxBufferSize: device.limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      },
    };
    setContext({ device, info: found, maxBinding: device.limits.maxStorageBufferBindingSize, maxBuffer: device.limits.maxBufferSize });
    void device.lost.then((l) => {
      if (l.reason !== 'destroyed') console.error(`webgpu: device lost (${l.reason}): ${l.message}`);
      setContext(null);
      info = null;
      pending = null;
    });
    registerBackend(webgpuBackend);
    info = found;
    return found;
  })();
  try {
    return await pending;
  } catch (e) {
    pending = null;
    throw e;
  }
}

/** Frees the pooled (unused) GPU buffers now: the WebGPU backend's emptyCache (`emptyCache('webgpu')`). */
export function releasePooledMemory(): void {
  if (info) drainPool();
}

/** Internal (bench): the naive and tiled matmul kernels and the device. */
export { matmul as webgpuMatmul, type TileConfig } from './matmul.js';
export const webgpuDevice = (): GPUDevice => gpu().device;
/** Internal (bench, tests): submit the recorded work now; command buffers submitted so far. */
export { dispatchCount, flush as flushWebGPU, submitCount } from './gpu.js';
