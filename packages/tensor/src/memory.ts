// memory(): what a device holds now, for leak checks and monitoring, through the backend registry.
import { getBackend, hasBackend, hostDevice, type BackendMemory, type Device } from './backend.js';

/** What `memory()` reports for one device. */
export interface MemoryInfo extends BackendMemory {
  device: Device;
}

/**
 * Live tensors (storages; views share their base's) and bytes on `device` (default: the host), plus the device's
 * pools. Zeros for a declared device that is not initialized yet. On the CPU, tensors dropped without dispose() count
 * until the garbage collector reclaims them; inside tidy() (or with dispose()) the counts are exact.
 */
export function memory(device: Device = hostDevice()): MemoryInfo {
  if (!hasBackend(device)) return { device, numTensors: 0, numBytes: 0, pooledBuffers: 0, pooledBytes: 0, kernelBytes: 0, pipelines: 0 };
  return { device, ...getBackend(device).memory() };
}

/**
 * Frees the free buffers `device` (default: the host) keeps for reuse, as torch.cuda.empty_cache(): the CPU's arrays
 * of disposed tensors and WebGPU's buffer pool. Live tensors are untouched; the pools refill as tensors are disposed.
 */
export function emptyCache(device: Device = hostDevice()): void {
  if (hasBackend(device)) getBackend(device).emptyCache();
}
