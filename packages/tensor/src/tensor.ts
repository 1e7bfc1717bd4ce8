// The Tensor: a strided view onto a device storage, with the autograd fields, and torch-named methods
// that forward to the free functions in ops/ (each op is defined once, there).
import { noGrad, runBackward, type GradNode } from './autograd.js';
import { scalar } from './ops/util.js';
import { getBackend, isDevice, type Device, type Storage, type View } from './backend.js';
import { bf16ToNumber, f16ToNumber, isFloating, isQuantized, type DType, type TypedArray } from './dtype.js';
import { dequantize } from './quant.js';
import { contiguousStrides, fmtShape, normDim, numel, type Shape, sameShape } from './shape.js';
import { keep, trackTensor } from './tidy.js';
import { storageVersion } from './version.js';
import * as E from './ops/elementwise.js';
import * as V from './ops/view.js';
import * as J from './ops/join.js';
import * as I from './ops/indexing.js';
import * as R from './ops/reduce.js';
import * as S from './ops/scan.js';
import * as L from './ops/linalg.js';
import * as N from './ops/nn.js';

/** A tensor operand: a tensor, or a plain number/boolean that broadcasts like a 0-d tensor. */
export type TensorLike = Tensor | number | boolean;

/** Nested arrays of numbers (or booleans), as `tolist()` returns and `tensor()` accepts. */
export type NestedArray = number | boolean | NestedArray[];

/** Whether t's view is its whole storage in order, so adopting the storage keeps nothing else alive. */
function ownsWholeStorage(t: Tensor): boolean {
  return t.offset === 0 && t.storage.length === t.numel() && t.isContiguous();
}

/** An n-dimensional array on a device, with reverse-mode autograd. */
export class Tensor implements View {
  /** Set on results of recorded ops; null on leaves. */
  gradFn: GradNode | null = null;
  /** d(loss)/d(this), filled by backward() on leaves that require grad (and on retainGrad() tensors). */
  grad: Tensor | null = null;
  private _requiresGrad = false;
  private _retainsGrad = false;
  /** Set by pin_(): the memory stays where kernels read it fastest, also after set_() replaces it. */
  private _pinned = false;

  /** Internal: use `tensor()`, `zeros()` and the ops. Wraps a storage in a strided view. */
  constructor(
    // Not readonly only so that set_() can swap what a parameter points at (torch's `param.data = ...`).
    public storage: Storage,
    public shape: number[],
    public strides: number[] = contiguousStrides(shape),
    public offset = 0,
  ) {
    trackTensor(this);
  }

  get dtype(): DType {
    return this.storage.dtype;
  }
  get device(): Device {
    return this.storage.device;
  }
  /** torch's `_version`: in-place writes so far to this tensor's memory (shared with its views); caches compare it. */
  get _version(): number {
    return storageVersion(this.storage);
  }
  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }
  /** Whether gradients are tracked for this tensor. */
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (v && !isFloating(this.dtype)) throw new Error(`requiresGrad: only floating point tensors can require gradients (got ${this.dtype})`);
    this._requiresGrad = v;
  }
  /** Whether this is a leaf of the graph (created by the user, not by a recorded op). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  /** Whether backward() also stores `.grad` on this non-leaf. */
  get retainsGrad(): boolean {
    return this._retainsGrad;
  }

  /** Number of elements. */
  numel(): number {
    return numel(this.shape);
  }
  /** Size of one dim, or the whole shape. */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    if (dim === undefined) return [...this.shape];
    return this.shape[normDim('size', dim, this.ndim)] ?? 1;
  }
  /** Whether the elements are laid out densely in row-major order. */
  isContiguous(): boolean {
    return V.isContiguousView(this);
  }

  /** The values as a fresh typed array in row-major order (16-bit floats and quantized blocks decoded to a Float32Array). */
  async data(): Promise<TypedArray> {
    if (isQuantized(this.dtype)) return dequantize(this).data();
    const c = this.contiguousStorage();
    // read() hands back a fresh array: no second copy unless this tensor is a part of its storage
    return decode16(c.storage.dtype, await getBackend(this.device).read(c.storage), c.offset, this.numel(), true);
  }
  /** Synchronous `data()`; only on devices read synchronously (the CPU). */
  dataSync(): TypedArray {
    const b = getBackend(this.device);
    if (!b.readSync) throw new Error(`dataSync: tensors on '${this.device}' can only be read asynchronously; use await t.data()`);
    if (isQuantized(this.dtype)) return dequantize(this).dataSync();
    const c = this.contiguousStorage();
    return decode16(c.storage.dtype, b.readSync(c.storage), c.offset, this.numel());
  }
  /** The single value of a one-element tensor (synchronous; CPU only). */
  item(): number {
    if (this.numel() !== 1) throw new Error(`item: only one-element tensors can be converted to a number, got shape ${fmtShape(this.shape)}`);
    return this.dataSync()[0]!;
  }
  /** The values as nested arrays (booleans for bool tensors); CPU only, use `await t.cpu()` first on other devices. */
  tolist(): NestedArray {
    const d = this.dataSync();
    const conv = this.dtype === 'bool' ? (v: number) => v !== 0 : (v: number) => v;
    const build = (dim: number, base: number): NestedArray => {
      if (dim === this.ndim) return conv(d[base]!);
      const inner = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, base + i * inner));
    };
    return build(0, 0);
  }

  private contiguousStorage(): { storage: Storage; offset: number } {
    if (this.isContiguous()) return { storage: this.storage, offset: this.offset };
    return { storage: getBackend(this.device).copy(this, this.dtype), offset: 0 };
  }

  /** Frees the device memory now (shared with every view of it). */
  dispose(): void {
    this.storage.dispose();
  }
  /** Whether the memory was freed. */
  get isDisposed(): boolean {
    return this.storage.disposed;
  }

  // --- autograd ---

  /** Computes d(this)/d(leaves) and accumulates into their `.grad`; a non-scalar needs an explicit `gradient`. */
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    if (!this.requiresGrad) throw new Error('backward: this tensor does not require grad and has no grad_fn (did you call it inside noGrad, or on a tensor that depends on no parameter?)');
    let g: Tensor;
    if (gradient === undefined) {
      if (this.numel() !== 1) throw new Error(`backward: grad can be implicitly created only for scalar outputs, got shape ${fmtShape(this.shape)}; pass a gradient of the same shape`);
      g = scalar(1, this.dtype, this.device).expand(this.shape);
    } else {
      if (!sameShape(gradient.shape, this.shape)) throw new Error(`backward: gradient shape ${fmtShape(gradient.shape)} does not match output shape ${fmtShape(this.shape)}`);
      g = gradient.detach();
    }
    noGrad(() =>
      runBackward(this, g, options.retainGraph ?? false, (t, gt, owned) => {
        // A storage of its own: a grad must not alias the caller's gradient, another leaf's grad (add's backward
        // hands the same tensor to both inputs) or an intermediate that tidy() frees; an owned, dense gradient is
        // adopted, anything else copied. keep(): it outlives the scope.
        // Later gradients accumulate in place, as torch's, so the grad's memory is reused, not replaced.
        if (!t.grad) t.grad = keep(owned && ownsWholeStorage(gt) ? gt.detach() : V.clone(gt.detach()));
        else {
          const sum = E.add(t.grad, gt.detach());
          t.grad.copy_(sum);
          sum.dispose();
        }
      }, E.add),
    );
  }
  /** Marks this tensor as needing gradients (in place); returns this. */
  requiresGrad_(requiresGrad = true): this {
    if (!this.isLeaf && !requiresGrad) throw new Error('requiresGrad_: cannot turn off gradients of a non-leaf tensor; use detach()');
    this.requiresGrad = requiresGrad;
    return this;
  }
  /** Keeps `.grad` for this non-leaf tensor during backward. */
  retainGrad(): this {
    if (!this.requiresGrad) throw new Error("retainGrad: can't retain grad on a tensor that doesn't require grad");
    if (!this.isLeaf) this._retainsGrad = true;
    return this;
  }
  /** A view of the same data cut off from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  // --- conversions ---

  /**
   * Casts to a dtype, or moves to a device. Moving onto a GPU is synchronous (`t.to('webgpu')`); moving off one reads
   * GPU memory, which is asynchronous: use `await t.cpu()` (`t.to('cpu')` on a GPU tensor throws saying so).
   */
  to(target: DType): Tensor;
  to(target: Device): Tensor;
  to(target: DType | Device): Tensor {
    if (isDevice(target)) return E.toDevice(this, target);
    return E.cast(isQuantized(this.dtype) ? dequantize(this) : this, target);
  }
  /** A copy on the CPU once the device's read completes (this tensor itself when already on the CPU). */
  cpu(): Promise<Tensor> {
    return E.toCpu(this);
  }
  /** Same as `to(dtype)`. */
  type(dtype: DType): Tensor {
    return E.cast(this, dtype);
  }
  float(): Tensor { return E.cast(this, 'float32'); }
  double(): Tensor { return E.cast(this, 'float64'); }
  int(): Tensor { return E.cast(this, 'int32'); }
  bool(): Tensor { return E.cast(this, 'bool'); }
  /** A copy that owns its memory (recorded for autograd). */
  clone(): Tensor { return V.clone(this); }
  /**
   * Makes this tensor an alias of `src` (its storage, shape and strides), keeping this object's identity, grad flag,
   * registrations and placement (a pinned tensor pins its new memory): how modules swap in loaded weights of another
   * dtype or device (torch's `param.data = src`).
   */
  set_(src: Tensor): this {
    this.storage = src.storage;
    this.shape = [...src.shape];
    this.strides = [...src.strides];
    this.offset = src.offset;
    if (!isFloating(this.dtype)) this._requiresGrad = false;
    if (this._pinned) this.place();
    return this;
  }
  /**
   * Keeps this tensor's memory, now and after every set_(), where the kernels read it without copying (on CPU: the
   * WebAssembly heap), through the backend's one placement call. For long-lived tensors such as weights; nn does it
   * for every registered parameter. Returns this.
   */
  pin_(): this {
    this._pinned = true;
    this.place();
    return this;
  }
  private place(): void {
    const b = getBackend(this.device);
    if (!b.pin || this.storage.length === 0) return;
    const dense = this.isContiguous() && this.offset === 0 && this.storage.length === this.numel() ? this : V.contiguous(this.detach());
    const pinned = b.pin(dense.storage);
    if (pinned && pinned !== this.storage) {
      // through a Tensor, so the new storage is registered as owned (a later view inside a tidy scope must not adopt it)
      const owner = new Tensor(pinned, [...this.shape]);
      this.storage = owner.storage;
      this.strides = [...owner.strides];
      this.offset = 0;
    }
  }
  /** In place: overwrites this tensor's elements with `src` (broadcast); not recorded by autograd. */
  copy_(src: TensorLike): this { V.copyInto(this, src); return this; }

  // --- elementwise ---
  add(o: TensorLike, opts?: { alpha?: number }): Tensor { return E.add(this, o, opts); }
  sub(o: TensorLike, opts?: { alpha?: number }): Tensor { return E.sub(this, o, opts); }
  mul(o: TensorLike): Tensor { return E.mul(this, o); }
  div(o: TensorLike): Tensor { return E.div(this, o); }
  pow(o: TensorLike): Tensor { return E.pow(this, o); }
  maximum(o: TensorLike): Tensor { return E.maximum(this, o); }
  minimum(o: TensorLike): Tensor { return E.minimum(this, o); }
  neg(): Tensor { return E.neg(this); }
  abs(): Tensor { return E.abs(this); }
  sign(): Tensor { return E.sign(this); }
  exp(): Tensor { return E.exp(this); }
  log(): Tensor { return E.log(this); }
  log1p(): Tensor { return E.log1p(this); }
  sqrt(): Tensor { return E.sqrt(this); }
  rsqrt(): Tensor { return E.rsqrt(this); }
  square(): Tensor { return E.square(this); }
  reciprocal(): Tensor { return E.reciprocal(this); }
  sin(): Tensor { return E.sin(this); }
  cos(): Tensor { return E.cos(this); }
  tanh(): Tensor { return E.tanh(this); }
  sigmoid(): Tensor { return E.sigmoid(this); }
  relu(): Tensor { return E.relu(this); }
  erf(): Tensor { return E.erf(this); }
  floor(): Tensor { return E.floor(this); }
  ceil(): Tensor { return E.ceil(this); }
  round(): Tensor { return E.round(this); }
  clamp(min?: number | null, max?: number | null): Tensor { return E.clamp(this, min, max); }
  eq(o: TensorLike): Tensor { return E.eq(this, o); }
  ne(o: TensorLike): Tensor { return E.ne(this, o); }
  lt(o: TensorLike): Tensor { return E.lt(this, o); }
  le(o: TensorLike): Tensor { return E.le(this, o); }
  gt(o: TensorLike): Tensor { return E.gt(this, o); }
  ge(o: TensorLike): Tensor { return E.ge(this, o); }
  logicalAnd(o: TensorLike): Tensor { return E.logicalAnd(this, o); }
  logicalOr(o: TensorLike): Tensor { return E.logicalOr(this, o); }
  logicalXor(o: TensorLike): Tensor { return E.logicalXor(this, o); }
  logicalNot(): Tensor { return E.logicalNot(this); }
  isnan(): Tensor { return E.isnan(this); }
  isfinite(): Tensor { return E.isfinite(this); }
  isinf(): Tensor { return E.isinf(this); }
  maskedFill(mask: Tensor, value: TensorLike): Tensor { return I.maskedFill(this, mask, value); }

  // --- views and shape ---
  reshape(...shape: (number | number[])[]): Tensor { return V.reshape(this, flatArgs(shape)); }
  view(...shape: (number | number[])[]): Tensor { return V.view(this, flatArgs(shape)); }
  flatten(startDim = 0, endDim = -1): Tensor { return V.flatten(this, startDim, endDim); }
  permute(...dims: (number | number[])[]): Tensor { return V.permute(this, flatArgs(dims)); }
  transpose(dim0: number, dim1: number): Tensor { return V.transpose(this, dim0, dim1); }
  /** 2-D transpose (a no-op on 0-d and 1-d tensors), as torch's `t()`. */
  t(): Tensor { return V.t(this); }
  get T(): Tensor { return V.permute(this, this.shape.map((_, i) => this.ndim - 1 - i)); }
  expand(...shape: (number | number[])[]): Tensor { return V.expand(this, flatArgs(shape)); }
  expandAs(other: Tensor): Tensor { return V.expand(this, other.shape); }
  squeeze(dim?: number | number[]): Tensor { return V.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return V.unsqueeze(this, dim); }
  narrow(dim: number, start: number, length: number): Tensor { return V.narrow(this, dim, start, length); }
  slice(dim: number, start?: number | null, end?: number | null, step?: number): Tensor { return V.slice(this, dim, start, end, step); }
  select(dim: number, index: number): Tensor { return V.select(this, dim, index); }
  contiguous(): Tensor { return V.contiguous(this); }
  split(splitSizeOrSections: number | number[], dim = 0): Tensor[] { return J.split(this, splitSizeOrSections, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return J.chunk(this, chunks, dim); }
  flip(dims: number | number[]): Tensor { return J.flip(this, dims); }
  triu(diagonal = 0): Tensor { return J.triu(this, diagonal); }
  tril(diagonal = 0): Tensor { return J.tril(this, diagonal); }
  gather(dim: number, index: Tensor): Tensor { return I.gather(this, dim, index); }
  indexSelect(dim: number, index: Tensor): Tensor { return I.indexSelect(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return I.scatterAdd(this, dim, index, src); }

  // --- reductions ---
  sum(dim?: number | number[] | null, keepdim = false): Tensor { return R.sum(this, dim, keepdim); }
  mean(dim?: number | number[] | null, keepdim = false): Tensor { return R.mean(this, dim, keepdim); }
  prod(dim?: number | null, keepdim = false): Tensor { return R.prod(this, dim, keepdim); }
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } { return dim === undefined ? R.max(this) : R.max(this, dim, keepdim); }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } { return dim === undefined ? R.min(this) : R.min(this, dim, keepdim); }
  amax(dim?: number | number[] | null, keepdim = false): Tensor { return R.amax(this, dim, keepdim); }
  amin(dim?: number | number[] | null, keepdim = false): Tensor { return R.amin(this, dim, keepdim); }
  argmax(dim?: number | null, keepdim = false): Tensor { return R.argmax(this, dim, keepdim); }
  argmin(dim?: number | null, keepdim = false): Tensor { return R.argmin(this, dim, keepdim); }
  var(dim?: number | number[] | null, opts?: { correction?: number; keepdim?: boolean }): Tensor { return R.var_(this, dim, opts); }
  std(dim?: number | number[] | null, opts?: { correction?: number; keepdim?: boolean }): Tensor { return R.std(this, dim, opts); }
  logsumexp(dim: number | number[], keepdim = false): Tensor { return R.logsumexp(this, dim, keepdim); }
  any(dim?: number | number[] | null, keepdim = false): Tensor { return R.any(this, dim, keepdim); }
  all(dim?: number | number[] | null, keepdim = false): Tensor { return R.all(this, dim, keepdim); }
  cumsum(dim: number): Tensor { return S.cumsum(this, dim); }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } { return S.sort(this, dim, descending); }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } { return S.topk(this, k, dim, largest); }

  // --- linear algebra and nn ---
  matmul(o: Tensor): Tensor { return L.matmul(this, o); }
  softmax(dim: number): Tensor { return N.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return N.logSoftmax(this, dim); }

  /** Short description for debugging: shape, dtype, device. */
  toString(): string {
    return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

function flatArgs(args: (number | number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? args[0] : (args as number[]);
}

/** Elements [offset, offset + n) of `a` as a fresh array (16-bit floats decoded); `owned`: `a` is already the caller's copy. */
function decode16(dtype: DType, a: TypedArray, offset: number, n: number, owned = false): TypedArray {
  if (dtype !== 'float16' && dtype !== 'bfloat16') {
    // Callers may mutate the result, so it never aliases a storage. Each fresh ArrayBuffer costs more than its copy in
    // Chromium (the shipped model's 4,096 logits: two copies were 7% of a page's decode step), so `a` itself is
    // returned when it is already a copy of exactly these elements.
    return owned && offset === 0 && n === a.length ? a : a.slice(offset, offset + n);
  }
  const dec = dtype === 'bfloat16' ? bf16ToNumber : f16ToNumber;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dec(a[offset + i]!);
  return out;
}


