// The backend interface: the small set of kernels a device implements. Backends know nothing of autograd;
// every op's shape rule and gradient live in ops/, written once on top of these kernels.
import type { BINARY_OPS, REDUCE_OPS, UNARY_OPS } from './backend/op-table.js';
import type { DType, QuantDType, TypedArray } from './dtype.js';

/**
 * The devices backends can register under. Each backend adds its own name by declaration merging
 * (`declare module '../../backend.js' { interface DeviceNames { webgpu: true } }`), so a new backend names itself in
 * its own folder and the front end never spells a device.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface DeviceNames {}

/** Where a tensor's memory lives: a name some backend registers under. */
export type Device = keyof DeviceNames & string;

/** A device buffer holding `length` elements of one dtype. */
export interface Storage {
  readonly device: Device;
  readonly dtype: DType;
  readonly length: number;
  /** Frees the memory now (GPU buffers, pooled CPU memory); later use is an error. */
  dispose(): void;
  readonly disposed: boolean;
}

/** A strided window onto a storage: what every kernel reads. Offsets and strides are in elements. */
export interface View {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** An elementwise unary op: a row of the op table. */
export type UnaryOp = keyof typeof UNARY_OPS;
/** An elementwise binary op: a row of the op table. */
export type BinaryOp = keyof typeof BINARY_OPS;
/** A reduction over trailing dims: a row of the op table. */
export type ReduceOp = keyof typeof REDUCE_OPS;

/** The scalars of one Adam / AdamW update; bias corrections are 1 - beta^step. */
export interface AdamStepHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Weight decay applied to the weights (AdamW) rather than added to the gradient (Adam). */
  decoupled: boolean;
  maximize: boolean;
  biasCorrection1: number;
  biasCorrection2: number;
}

/** What a device holds now, as `memory()` reports it. */
export interface BackendMemory {
  /** Live storages: each tensor that owns memory counts once; views, detach() and reshape() share their base's. */
  numTensors: number;
  /** Their bytes. */
  numBytes: number;
  /** Free buffers kept for reuse (not counted in numBytes). */
  pooledBuffers: number;
  pooledBytes: number;
  /** Bytes the device's kernels read in place (CPU: the WebAssembly heap's live blocks: pinned weights and scratch). */
  kernelBytes: number;
  /** Compiled kernels (GPU pipelines). */
  pipelines: number;
}

/** The kernels of one device. Every output is a fresh contiguous storage. */
export interface Backend {
  readonly device: Device;
  /** A zero-filled storage. */
  zeros(dtype: DType, length: number): Storage;
  /** A storage holding a copy of host data (already encoded for `dtype`). */
  upload(dtype: DType, data: TypedArray): Storage;
  /**
   * Optional: a copy of a storage placed where kernels read it fastest, for long-lived tensors such as weights
   * (CPU: the WebAssembly heap, read in place by the SIMD kernels). Null when no such place has room.
   */
  pin?(storage: Storage): Storage | null;
  /** Reads a whole storage back to the host, as a fresh array the caller owns (never the storage's own memory). */
  read(storage: Storage): Promise<TypedArray>;
  /** Synchronous read; absent where the device can only be read asynchronously (GPUs). */
  readSync?(storage: Storage): TypedArray;
  /** In place: writes src into dst's strided positions (same shape and dtype); the one mutating kernel (cat, pad, copy_). */
  write(dst: View, src: View): void;
  /** Materializes a view contiguously, converting to `dtype`. */
  copy(x: View, dtype: DType): Storage;
  /** out = op(x), elementwise; x already has the output's shape. */
  unary(op: UnaryOp, x: View, outDtype: DType): Storage;
  /** out = op(a, b), elementwise; a and b are already broadcast (0 strides) to one shape and cast to one dtype. */
  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage;
  /** out = cond ? a : b, all three broadcast to one shape. */
  where(cond: View, a: View, b: View, dtype: DType): Storage;
  /** Reduces the trailing `reduceDims` dims of x; the output has x's leading dims. */
  reduce(op: ReduceOp, x: View, reduceDims: number, outDtype: DType): Storage;
  /**
   * Batched a[b] @ b[b] for 3-D views [B,M,K] x [B,K,N] (batch strides may be 0); out [B,M,N] of `dtype`.
   * When dtype is float32, b may hold float16/bfloat16 or q8_0/q4_0 storage (weights), decoded inside the kernel.
   */
  matmul(a: View, b: View, dtype: DType): Storage;
  /** out[..., i, ...] = x[..., index[..., i, ...], ...] along `dim`; index has the output's shape. */
  gather(x: View, dim: number, index: View, dtype: DType): Storage;
  /** out = x + scatter of src into index positions along `dim` (duplicates accumulate). */
  scatterAdd(x: View, dim: number, index: View, src: View, dtype: DType): Storage;
  /** Inclusive scan of the last dim. */
  cumsum(x: View, dtype: DType): Storage;
  /** Stable sort of the last dim: values and int32 indices. */
  sort(x: View, descending: boolean, dtype: DType): { values: Storage; indices: Storage };
  /** Softmax or log-softmax of the last dim, computed stably. */
  softmax(x: View, log: boolean, dtype: DType): Storage;
  /** Layer norm over the trailing `normDims` dims, returning y and the per-row mean and 1/std (for backward). */
  layerNorm(x: View, normDims: number, weight: View | null, bias: View | null, eps: number, dtype: DType): { y: Storage; mean: Storage; rstd: Storage };
  /**
   * Optional: attention in one fused pass, without the scores as a tensor: softmax(q k^T * scale) @ v for q
   * [B, Hq, L, E] and k, v [B, Hk, S, E], Hq a multiple of Hk (query head h reads key/value head h / (Hq / Hk)); out
   * [B, Hq, L, E] contiguous of `dtype`. `causal`: query l sees keys 0..l only (torch's top-left is_causal), else every
   * key. `mask`: float32 [B, 1, L, S] (broadcast dims with stride 0) added to the scaled scores, or null. Without it,
   * attention is composed of matmul and softmax.
   */
  attention?(q: View, k: View, v: View, scale: number, causal: boolean, mask: View | null, dtype: DType): Storage;
  /**
   * Optional: rotary position embedding in one pass: x * cos + rotate_half(x) * sin on the first d = cos.shape[-1]
   * channels of x's last dim, the rest copied; cos / sin are views of x's shape with d last channels (broadcast dims
   * have stride 0). Without it, the rotation is composed of narrow, neg, cat, mul and add.
   */
  rotaryEmbedding?(x: View, cos: View, sin: View, dtype: DType): Storage;
  /**
   * Optional: q8_0 / q4_0 blocks of a contiguous float32 / bfloat16 view (a whole number of 32-blocks), rounded as
   * ggml's reference quantizers, or null when it cannot here. Without it (or on null), quantize() reads the values on
   * the host and uploads the blocks.
   */
  quantize?(x: View, dtype: QuantDType): Storage | null;
  /**
   * Optional: a storage of `length` elements of `dtype` whose own bytes `fill` writes (file reads land straight in the
   * memory the kernels read: no staging copy); null when it has no room for it, and the caller decodes the bytes on
   * the host and uploads them. When `fill` throws, nothing stays allocated.
   */
  fillStorage?(dtype: DType, length: number, fill: (bytes: Uint8Array) => Promise<void>): Promise<Storage | null>;
  /**
   * Optional: q8_0 / q4_0 blocks of `length` elements (whole 32-blocks) quantized from float32 or bfloat16 values that
   * `read(firstBlock, bytes)` writes slice by slice into buffers the backend hands out, rounded as quantize() rounds;
   * null when it cannot here (nothing was read), and the caller loads the floats, then quantizes.
   */
  quantizeFrom?(dtype: QuantDType, source: 'float32' | 'bfloat16', length: number, read: (firstBlock: number, bytes: Uint8Array) => Promise<void>): Promise<Storage | null>;
  /** Optional fused relu2 backward, g * 2 relu(x) in one pass (g and x of one shape). Without it, the op composes it. */
  relu2Backward?(g: View, x: View, dtype: DType): Storage;
  /**
   * Optional fused (log-)softmax backward over the last dim, from the output y and its gradient g (same shape): softmax
   * y (g - sum(g y)), log-softmax g - exp(y) sum(g). Without it, the op composes it.
   */
  softmaxBackward?(g: View, y: View, log: boolean, dtype: DType): Storage;
  /**
   * Optional fused layer-norm backward over contiguous rows (x's trailing `normDims` dims): dx, and the row sums
   * giving d(weight) = sum(g * xhat) and d(bias) = sum(g) when asked for. Without it, the op composes it.
   */
  layerNormBackward?(g: View, x: View, mean: View, rstd: View, weight: View | null, normDims: number, needWeight: boolean, needBias: boolean, dtype: DType): { dx: Storage; dweight: Storage | null; dbias: Storage | null };
  /**
   * Optional fused cross-entropy forward over logits rows [N, C]: lse = logsumexp per row and nll = lse - x[target]
   * (0 where the target is outside [0, C)), both [N]. Used with crossEntropyBackward; without both, the op composes it.
   */
  crossEntropyForward?(logits: View, target: View, dtype: DType): { nll: Storage; lse: Storage };
  /**
   * Optional fused cross-entropy backward over logits rows [N, C]: (exp(x - lse) - onehot(target)) * scale[row], a
   * target outside [0, C) adding no one-hot.
   */
  crossEntropyBackward?(logits: View, lse: View, target: View, scale: View, dtype: DType): Storage;
  /**
   * Optional fused Adam / AdamW update of one parameter, in place on contiguous param, expAvg and expAvgSq storages
   * (torch's operation order); false when it cannot run here (the op composes it instead).
   */
  adamStep?(param: View, grad: View, expAvg: View, expAvgSq: View, h: AdamStepHyper): boolean;
  /** Fills a new storage with start + i*step. */
  arange(start: number, step: number, length: number, dtype: DType): Storage;
  /** What the device holds now. */
  memory(): BackendMemory;
  /** Frees the pooled free buffers (`memory().pooledBytes`), as torch.cuda.empty_cache(); live tensors are untouched. */
  emptyCache(): void;
}

const backends = new Map<Device, Backend>();
const howToEnable = new Map<Device, string>();
let host: Device | undefined;

/**
 * Registers the kernels of a device. The host backend (the one whose memory the program reads synchronously: the CPU)
 * registers with `host: true`; it is the default device of every creation function.
 */
export function registerBackend(b: Backend, opts: { host?: boolean } = {}): void {
  backends.set(b.device, b);
  if (opts.host) host = b.device;
}

/** Declares a device whose backend registers later, with the sentence telling a user how to make it available. */
export function declareDevice(device: Device, enable: string): void {
  howToEnable.set(device, enable);
}

/** Whether a name is a device (registered or declared), as opposed to e.g. a dtype passed to `to()`. */
export function isDevice(name: string): name is Device {
  return backends.has(name as Device) || howToEnable.has(name as Device);
}

/** The host device: where tensors are created by default and where `cpu()` copies to. */
export function hostDevice(): Device {
  if (host === undefined) throw new Error('no host backend registered: import @tensorzoo/tensor, which registers the CPU backend');
  return host;
}

/** Whether a backend is registered under `device` now. */
export function hasBackend(device: Device): boolean {
  return backends.has(device);
}

/** The backend for a device (default: the host), or a clear error when it was never initialized. */
export function getBackend(device: Device = hostDevice()): Backend {
  const b = backends.get(device);
  if (!b) throw new Error(`device '${device}' is not available: ${howToEnable.get(device) ?? 'no backend registered under that name'}`);
  return b;
}
