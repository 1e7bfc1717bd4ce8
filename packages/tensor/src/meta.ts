// Placeholder storage for tensors built before their values exist; known to no backend, so no backend code depends on it.
import { hostDevice, type Device, type Storage } from './backend.js';
import type { DType, TypedArray } from './dtype.js';

/**
 * A placeholder with a shape but no memory (torch's "meta" tensors): modules are built on these before a
 * checkpoint's tensors are assigned, so a large model never allocates its initial weights. Reading one is an error.
 */
export class MetaStorage implements Storage {
  readonly device: Device = hostDevice();
  readonly length = 0;
  disposed = false;
  constructor(readonly dtype: DType) {}
  get data(): TypedArray {
    throw new Error('tensor has no data: it is a placeholder (meta) that was never assigned a value, e.g. a weight missing from a checkpoint');
  }
  dispose(): void {
    this.disposed = true;
  }
}
