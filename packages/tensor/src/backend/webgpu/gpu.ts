/// <reference types="webgpu" />
// The WebGPU context: one GPUDevice, a pool of storage buffers, a pipeline cache keyed by generated WGSL, and the
// dispatch helper every kernel goes through. Every piece of GPU work is submitted to the queue in program order, so
// a buffer returned to the pool can be handed to the next op at once: the queue runs them one after the other.
import type { Storage } from '../../backend.js';
import { arrayLength, isQuantized, type DType } from '../../dtype.js';

/** What initWebGPU() found. */
export interface WebGPUInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a software rasterizer (llvmpipe / SwiftShader / WARP). */
  software: boolean;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number };
}

/** GPU memory in use, as `memory()` reports it. */
export interface GpuMemory {
  /** Live (not disposed) storages: one per tensor that owns memory; views share their base's. */
  numTensors: number;
  /** Bytes held by those storages. */
  numBytes: number;
  /** Buffers kept in the pool for reuse, and their bytes. */
  pooledBuffers: number;
  pooledBytes: number;
}

export interface Ctx {
  device: GPUDevice;
  info: WebGPUInfo;
  maxBinding: number;
  maxBuffer: number;
}

let ctx: Ctx | null = null;

export function setContext(c: Ctx | null): void {
  ctx = c;
}

export function gpu(): Ctx {
  if (!ctx) throw new Error("device 'webgpu' is not available: call await initWebGPU() first");
  return ctx;
}

// ---------------- storages and the buffer pool ----------------

/** Bytes a storage of n elements of dtype occupies on the GPU (bool as u32; 16-bit floats packed two per u32). */
export function gpuBytes(dtype: DType, n: number): number {
  if (isQuantized(dtype)) return Math.ceil(arrayLength(dtype, n) / 4) * 4; // the blocks' bytes, read as u32 words
  switch (dtype) {
    case 'float16': case 'bfloat16': return Math.ceil(n / 2) * 4;
    case 'float64': return n * 8;
    default: return n * 4;
  }
}

const live = { tensors: 0, bytes: 0 };
const pool = new Map<number, GPUBuffer[]>();
let pooledBytes = 0;
let pooledBuffers = 0;
/** The pool keeps at most this many bytes of free buffers; beyond it, freed buffers are destroyed. */
const POOL_LIMIT = 512 * 2 ** 20;

const USAGE = 0x0080 /* STORAGE */ | 0x0004 /* COPY_SRC */ | 0x0008; /* COPY_DST */

/** Rounds a byte size up to a pool size class (2^k * {1, 1.25, 1.5, 1.75}), so freed buffers fit later requests. */
function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  if (b <= 256) return Math.ceil(b / 16) * 16;
  const p = 2 ** Math.floor(Math.log2(b));
  const q = p / 4;
  return Math.ceil(b / q) * q;
}

let currentOp = 'webgpu';
/** Names the op whose kernels run next (for error messages about sizes and dtypes). */
export function opName(op: string): void {
  currentOp = op;
}

function acquire(bytes: number): { buffer: GPUBuffer; size: number } {
  const c = gpu();
  const size = sizeClass(bytes);
  const list = pool.get(size);
  const reused = list?.pop();
  if (reused) {
    pooledBytes -= size;
    pooledBuffers--;
    return { buffer: reused, size };
  }
  const limit = Math.min(c.maxBinding, c.maxBuffer);
  if (bytes > limit) {
    throw new Error(
      `${currentOp}: a webgpu buffer of ${bytes} bytes exceeds the adapter's limit of ${limit} bytes ` +
      `(maxStorageBufferBindingSize ${c.maxBinding}, maxBufferSize ${c.maxBuffer}); split the tensor or keep it on 'cpu'`,
    );
  }
  return { buffer: c.device.createBuffer({ size: Math.min(size, limit), usage: USAGE }), size: Math.min(size, limit) };
}

function release(buffer: GPUBuffer, size: number): void {
  // A buffer freed while recorded work still reads it goes back to the pool only once that work is submitted: after
  // that, queue order makes any later write (a kernel, or queue.writeBuffer of new params or data) safe.
  if (batch) {
    batch.released.push([buffer, size]);
    return;
  }
  if (pooledBytes + size > POOL_LIMIT) {
    buffer.destroy();
    return;
  }
  let list = pool.get(size);
  if (!list) pool.set(size, (list = []));
  list.push(buffer);
  pooledBytes += size;
  pooledBuffers++;
}

/** Destroys every pooled buffer (memory pressure, or tearing the device down). */
export function drainPool(): void {
  for (const list of pool.values()) for (const b of list) b.destroy();
  pool.clear();
  pooledBytes = 0;
  pooledBuffers = 0;
}

/** What a dropped storage returns to the pool (it must not reference the storage itself). */
interface Held {
  buf: GPUBuffer;
  size: number;
  bytes: number;
}
function forget(h: Held): void {
  live.tensors--;
  live.bytes -= h.bytes;
  release(h.buf, h.size);
}
/**
 * The safety net for tensors user code drops without dispose(): their buffers go back to the pool when the garbage
 * collector reclaims the storage, so a forgotten dispose() costs time, not the process. The queue runs in order, so a
 * buffer handed out again is written only after the work that read it.
 */
const dropped: FinalizationRegistry<Held> | null = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(forget) : null;

/** A tensor's memory on the GPU: one pooled buffer. */
export class GpuStorage implements Storage {
  readonly device = 'webgpu' as const;
  disposed = false;
  private buf: GPUBuffer | null;
  readonly bytes: number;
  private readonly size: number;
  constructor(readonly dtype: DType, readonly length: number) {
    if (dtype === 'float64') throw new Error(`${currentOp}: float64 is not supported on 'webgpu' (WGSL has no 64-bit floats); use float32, or keep the tensor on 'cpu'`);
    this.bytes = gpuBytes(dtype, length);
    const a = acquire(this.bytes);
    this.buf = a.buffer;
    this.size = a.size;
    live.tensors++;
    live.bytes += this.bytes;
    dropped?.register(this, { buf: a.buffer, size: a.size, bytes: this.bytes }, this);
  }
  get buffer(): GPUBuffer {
    if (!this.buf) throw new Error('tensor was disposed: its memory can no longer be read');
    return this.buf;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    dropped?.unregister(this);
    forget({ buf: this.buf!, size: this.size, bytes: this.bytes });
    this.buf = null;
  }
}

/** The GPU storage behind a storage handle; a storage of another device is an error naming it. */
export function st(s: Storage): GpuStorage {
  if (!(s instanceof GpuStorage)) throw new Error(`webgpu: expected a storage on 'webgpu', got one on '${s.device}'`);
  return s;
}

export function gpuMemory(): GpuMemory {
  return { numTensors: live.tensors, numBytes: live.bytes, pooledBuffers, pooledBytes };
}

/** A short-lived scratch buffer (parameters, sort work space): returned to the pool by `done()`. */
export function scratch(bytes: number): { buffer: GPUBuffer; done: () => void } {
  const a = acquire(bytes);
  return { buffer: a.buffer, done: () => release(a.buffer, a.size) };
}

// ---------------- pipelines and dispatch ----------------

const pipelines = new Map<string, GPUComputePipeline>();
let compiled = 0;

/** Number of compute pipelines compiled so far (each distinct kernel signature compiles once). */
export function pipelineCount(): number {
  return compiled;
}

/** The pipeline for a WGSL source, compiled once per distinct source (the source encodes the shape signature). */
export function pipeline(code: string): GPUComputePipeline {
  let p = pipelines.get(code);
  if (!p) {
    const { device } = gpu();
    const module = device.createShaderModule({ code });
    p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    pipelines.set(code, p);
    compiled++;
  }
  return p;
}

/** A params buffer of i32/u32/f32 words (bitcast in the shader as needed). */
export type Params = (number | { f32: number })[];

function paramsBuffer(words: Params): { buffer: GPUBuffer; done: () => void } {
  const data = new ArrayBuffer(Math.max(words.length, 4) * 4);
  const i32 = new Int32Array(data);
  const f32 = new Float32Array(data);
  words.forEach((w, i) => {
    if (typeof w === 'number') i32[i] = w;
    else f32[i] = w.f32;
  });
  const s = scratch(data.byteLength);
  gpu().device.queue.writeBuffer(s.buffer, 0, data);
  return s;
}

/** One dispatch: binds `buffers` to @binding(0..) (params last, when given) and runs `groups` workgroups. */
export interface Dispatch {
  code: string;
  buffers: GPUBuffer[];
  params?: Params;
  groups: [number, number?, number?];
}

/** Splits a workgroup count over x and y so neither passes the 65535-per-dimension limit. */
export function grid(n: number): [number, number] {
  if (n <= 65535) return [Math.max(n, 1), 1];
  const y = Math.ceil(n / 65535);
  return [Math.ceil(n / y), y];
}

// Batched submission: ops record into one command encoder (one compute pass while only kernels run), submitted when
// the host waits (a read), after MAX_BATCH dispatches, or at the end of the current task (a microtask), so a forward
// pass is a handful of submits instead of one per op.

/** Dispatches recorded before a submit is forced. */
const MAX_BATCH = 256;

interface Batch {
  enc: GPUCommandEncoder;
  pass: GPUComputePassEncoder | null;
  dispatches: number;
  /** Buffers freed while recorded: returned to the pool after the submit. */
  released: [GPUBuffer, number][];
}
let batch: Batch | null = null;
let submits = 0;

function recording(): Batch {
  if (!batch) {
    batch = { enc: gpu().device.createCommandEncoder(), pass: null, dispatches: 0, released: [] };
    queueMicrotask(flush);
  }
  return batch;
}

/** A command encoder outside any compute pass (for copies and clears), in the current batch. */
function commands(): GPUCommandEncoder {
  const b = recording();
  if (b.pass) {
    b.pass.end();
    b.pass = null;
  }
  return b.enc;
}

/** Submits the recorded work now (reads call it; so can code that wants the GPU started early). */
export function flush(): void {
  const b = batch;
  if (!b) return;
  batch = null;
  if (b.pass) b.pass.end();
  gpu().device.queue.submit([b.enc.finish()]);
  submits++;
  for (const [buffer, size] of b.released) release(buffer, size);
}

/** Command buffers submitted so far (the bench reports submits per forward). */
export function submitCount(): number {
  return submits;
}

let dispatched = 0;
/** Compute dispatches recorded so far (the bench reports dispatches per decoded token). */
export function dispatchCount(): number {
  return dispatched;
}

/** Records dispatches into the current batch. */
export function run(dispatches: Dispatch[]): void {
  const { device } = gpu();
  for (const d of dispatches) {
    if (d.groups[0] === 0 || d.groups[1] === 0 || d.groups[2] === 0) continue;
    const b = recording(); // first, so that buffers freed below wait for this batch's submit
    const p = pipeline(d.code);
    const entries: GPUBindGroupEntry[] = d.buffers.map((buffer, i) => ({ binding: i, resource: { buffer } }));
    if (d.params) {
      // written now with queue.writeBuffer, which lands before this batch's submit; freed into the batch (above)
      const pb = paramsBuffer(d.params);
      entries.push({ binding: d.buffers.length, resource: { buffer: pb.buffer } });
      pb.done();
    }
    b.pass ??= b.enc.beginComputePass();
    b.pass.setPipeline(p);
    b.pass.setBindGroup(0, device.createBindGroup({ layout: p.getBindGroupLayout(0), entries }));
    b.pass.dispatchWorkgroups(d.groups[0], d.groups[1] ?? 1, d.groups[2] ?? 1);
    dispatched++;
    if (++b.dispatches >= MAX_BATCH) flush();
  }
}

/** Zero-fills a buffer, in order with the recorded work. */
export function clear(buffer: GPUBuffer, bytes: number): void {
  if (bytes === 0) return;
  commands().clearBuffer(buffer, 0, Math.ceil(bytes / 4) * 4);
}

/** Reads `bytes` bytes of a buffer back to the host (submitting the recorded work first). */
export async function readBuffer(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const { device } = gpu();
  const size = Math.max(Math.ceil(bytes / 4) * 4, 4);
  const staging = device.createBuffer({ size, usage: 0x0001 /* MAP_READ */ | 0x0008 /* COPY_DST */ });
  commands().copyBufferToBuffer(buffer, 0, staging, 0, size);
  flush();
  await staging.mapAsync(0x0001 /* READ */);
  const out = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return out;
}
