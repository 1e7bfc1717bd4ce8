// Module: the PyTorch-shaped building block. Parameters, buffers and submodules are registered by name
// (Hugging Face checkpoint names), in declaration order, so state dicts line up with checkpoints key for key.
import { getBackend, hostDevice, isDevice, isFloating, noGrad, Tensor, type Device, type DType, type Storage } from '@tensorzoo/tensor';
import { registerForwardHook, registerForwardPreHook, type ForwardHook, type ForwardPreHook, type HookOptions, type RemovableHandle } from './hooks.js';

/** Missing and unexpected keys reported by a non-strict loadStateDict. */
export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** Options of loadStateDict. */
export interface LoadOptions {
  /** Throw on missing or unexpected keys (default true). Wrong shapes always throw. */
  strict?: boolean;
  /**
   * Take the loaded tensors as they are (dtype and device included) instead of copying their values into the
   * existing ones, as torch's `assign=True`: how a bfloat16 checkpoint stays bfloat16 in memory.
   */
  assign?: boolean;
}

/**
 * Memory a module took from its caller through loadStateDict({ assign: true }): the caller's tensors still point at it,
 * so replacing it (to(), another load) leaves it to them instead of freeing it.
 */
const borrowed = new WeakSet<Storage>();

/** A view's identity: tensors on the same memory with the same window share one converted copy (ties stay tied). */
function viewKey(t: Tensor): string {
  return `${t.shape.join(',')}|${t.strides.join(',')}|${t.offset}`;
}

/** Base class of every layer and model. */
export class Module {
  /** Training mode (dropout active); switched by train()/eval(). */
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _nonPersistent = new Set<string>();
  private readonly _modules = new Map<string, Module | null>();

  /**
   * Registers a trainable tensor under `name` (marks it requiresGrad) and returns it. Unless `pin` is false, it is
   * moved where the kernels read it without copying (tables that are only looked up, like embeddings, opt out).
   */
  registerParameter<T extends Tensor | null>(name: string, param: T, opts: { pin?: boolean } = {}): T {
    this.checkName(name);
    if (param) {
      if (!param.isLeaf) throw new Error(`registerParameter: '${name}' must be a leaf tensor (detach() it first)`);
      param.requiresGrad = true;
      if (opts.pin ?? true) param.pin_();
    }
    this._parameters.set(name, param);
    return param;
  }

  /** Registers a non-trainable tensor (saved in the state dict unless persistent is false) and returns it. */
  registerBuffer<T extends Tensor | null>(name: string, buffer: T, persistent = true): T {
    this.checkName(name);
    this._buffers.set(name, buffer);
    if (!persistent) this._nonPersistent.add(name);
    return buffer;
  }

  /** Registers a submodule under `name` and returns it. */
  registerModule<M extends Module | null>(name: string, module: M): M {
    this.checkName(name);
    this._modules.set(name, module);
    return module;
  }

  /**
   * Replaces the submodule at a dotted path, as torch's set_submodule. Here a child lives both in the registry and
   * in a typed field (or a container's array), where torch has one attribute: every own field or array slot of the
   * parent that held the old child is pointed at the new one too, so forward() calls the replacement.
   */
  setSubmodule(target: string, module: Module): void {
    const names = target.split('.');
    const last = names.pop()!;
    let parent: Module = this;
    for (const n of names) {
      const child = parent._modules.get(n);
      if (!child) throw new Error(`setSubmodule: ${parent.constructor.name} has no submodule '${n}' (in '${target}')`);
      parent = child;
    }
    const old = parent._modules.get(last);
    if (!old) throw new Error(`setSubmodule: ${parent.constructor.name} has no submodule '${last}' (in '${target}')`);
    parent._modules.set(last, module);
    const fields = parent as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      const v = fields[key];
      if (v === old) fields[key] = module;
      else if (Array.isArray(v)) v.forEach((x, i) => { if (x === old) v[i] = module; });
      else if (v instanceof Map) for (const [k, x] of v) if (x === old) v.set(k, module);
    }
  }

  private checkName(name: string): void {
    if (name === '' || name.includes('.')) throw new Error(`Module: invalid name '${name}' (must be non-empty and contain no '.')`);
    if (this._parameters.has(name) || this._buffers.has(name) || this._modules.has(name)) {
      throw new Error(`Module: '${name}' is already registered on ${this.constructor.name}`);
    }
  }

  /** Direct children with their names. */
  *namedChildren(): Generator<[string, Module]> {
    for (const [n, m] of this._modules) if (m) yield [n, m];
  }

  /** Direct children. */
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }

  /** This module and every descendant, with dotted names ('' for this one). Each module once. */
  *namedModules(prefix = '', seen = new Set<Module>()): Generator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [n, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${n}` : n, seen);
  }

  /** Every descendant module. */
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Parameters with dotted names, in registration order; a tensor shared by two names (tied weights) appears once. */
  *namedParameters(prefix = '', recurse = true): Generator<[string, Tensor]> {
    yield* this.namedTensors(prefix, recurse, (m) => m._parameters, true);
  }

  /** Parameters, as namedParameters without the names. */
  *parameters(recurse = true): Generator<Tensor> {
    for (const [, p] of this.namedParameters('', recurse)) yield p;
  }

  /** Buffers with dotted names. */
  *namedBuffers(prefix = '', recurse = true): Generator<[string, Tensor]> {
    yield* this.namedTensors(prefix, recurse, (m) => m._buffers, true);
  }

  private *namedTensors(prefix: string, recurse: boolean, pick: (m: Module) => Map<string, Tensor | null>, dedupe: boolean): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods = recurse ? [...this.namedModules(prefix)] : [[prefix, this] as [string, Module]];
    for (const [mp, m] of mods) {
      for (const [n, t] of pick(m)) {
        if (!t || (dedupe && seen.has(t))) continue;
        seen.add(t);
        yield [mp ? `${mp}.${n}` : n, t];
      }
    }
  }

  /** Every (path, module) pair, shared modules under each of their paths, as torch's state_dict walks them. */
  private *allPaths(prefix = '', path: Module[] = []): Generator<[string, Module]> {
    if (path.includes(this)) throw new Error(`Module: ${this.constructor.name} contains itself`);
    yield [prefix, this];
    for (const [n, m] of this.namedChildren()) yield* m.allPaths(prefix ? `${prefix}.${n}` : n, [...path, this]);
  }

  /** Parameters and persistent buffers by dotted name (tied weights under every name), as torch's state_dict. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [mp, m] of this.allPaths()) {
      const key = (n: string) => (mp ? `${mp}.${n}` : n);
      for (const [n, p] of m._parameters) if (p) out.set(key(n), p.detach());
      for (const [n, b] of m._buffers) if (b && !m._nonPersistent.has(n)) out.set(key(n), b.detach());
    }
    return out;
  }

  /**
   * Copies (or with `assign`, adopts) tensors by name. Wrong shapes always throw; missing and unexpected keys throw
   * when strict (the default), all of them reported together in one error.
   */
  loadStateDict(dict: Map<string, Tensor> | Record<string, Tensor>, opts: LoadOptions = {}): LoadResult {
    const src = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const strict = opts.strict ?? true;
    const own = new Map<string, { module: Module; name: string; kind: 'param' | 'buffer'; tensor: Tensor }>();
    for (const [mp, m] of this.allPaths()) {
      const key = (n: string) => (mp ? `${mp}.${n}` : n);
      for (const [n, p] of m._parameters) if (p) own.set(key(n), { module: m, name: n, kind: 'param', tensor: p });
      for (const [n, b] of m._buffers) if (b && !m._nonPersistent.has(n)) own.set(key(n), { module: m, name: n, kind: 'buffer', tensor: b });
    }
    const missingKeys = [...own.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    const wrongShape = [...own].filter(([k, o]) => src.has(k) && src.get(k)!.shape.join(',') !== o.tensor.shape.join(','));
    const problems: string[] = [];
    if (wrongShape.length) {
      problems.push(`size mismatch for ${wrongShape.map(([k, o]) => `${k}: checkpoint [${src.get(k)!.shape.join(',')}], model [${o.tensor.shape.join(',')}]`).join('; ')}`);
    }
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length) throw new Error(`loadStateDict: error(s) in loading state dict for ${this.constructor.name}:\n  ${problems.join('\n  ')}`);
    const replaced: Storage[] = [];
    noGrad(() => {
      for (const [k, o] of own) {
        const t = src.get(k);
        if (!t) continue;
        if (opts.assign) {
          replaced.push(o.tensor.storage);
          o.tensor.set_(t.detach());
          if (o.tensor.storage === t.storage) borrowed.add(t.storage);
        } else {
          const moved = t.to(o.tensor.device);
          o.tensor.copy_(moved);
          if (moved.storage !== t.storage) moved.dispose();
        }
      }
    });
    this.freeUnused(replaced);
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and all descendants. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Sets evaluation mode (train(false)). */
  eval(): this {
    return this.train(false);
  }

  /** Turns gradient tracking of every parameter on or off (off freezes the module). */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Clears the gradients of every parameter and frees their memory (clone a gradient you want to keep). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Calls fn on every descendant module (children first) and this one, as torch's apply. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Moves every parameter and buffer (and gradient) to a device, or casts the floating ones to a dtype, in place, as
   * torch's: each tensor object stays the same (optimizers and user references follow it) and gets new memory, and the
   * memory it had is freed, with every view of it (stateDict() entries, detach()): clone() what you keep. Memory
   * adopted with loadStateDict({ assign: true }) stays the caller's. Reading a GPU's memory is asynchronous: move to
   * the host with `await model.cpu()`.
   */
  to(target: Device | DType): this {
    if (isDevice(target)) {
      const stuck = this.heldTensors().find((t) => t.device !== target && !getBackend(t.device).readSync);
      if (stuck) throw new Error(`${this.constructor.name}.to: moving from '${stuck.device}' to '${target}' reads device memory, which is asynchronous; use await model.cpu()`);
    }
    // as torch's Module.to(dtype): only floating tensors are cast (q8_0/q4_0 weights keep their blocks, ids stay int32)
    const convert = (t: Tensor): Tensor => (isDevice(target) || isFloating(t.dtype) ? t.to(target as DType) : t);
    const pairs = this.sharedViews();
    const made = new Map<Tensor, Tensor>();
    try {
      noGrad(() => { for (const [, first] of pairs) if (!made.has(first)) made.set(first, convert(first)); });
    } catch (e) {
      // nothing was swapped yet: free the copies made before the failure
      for (const [t, c] of made) if (c.storage !== t.storage) c.dispose();
      throw e;
    }
    this.replaceAll(pairs.map(([t, first]) => [t, made.get(first)!]));
    return this;
  }

  /** Moves every parameter and buffer (and gradient) to the host, as to() does; asynchronous, since it reads device memory. */
  async cpu(): Promise<this> {
    const host = hostDevice();
    const pairs = this.sharedViews();
    const made = new Map<Tensor, Tensor>();
    try {
      for (const [, first] of pairs) if (first.device !== host && !made.has(first)) made.set(first, await first.detach().cpu());
    } catch (e) {
      for (const c of made.values()) c.dispose();
      throw e;
    }
    this.replaceAll(pairs.map(([t, first]) => [t, made.get(first) ?? t]));
    return this;
  }

  /** Every distinct tensor this module holds: parameters, buffers and their gradients. */
  private heldTensors(): Tensor[] {
    const out = new Set<Tensor>();
    for (const m of this.modules()) {
      for (const t of [...m._parameters.values(), ...m._buffers.values()]) {
        if (!t) continue;
        out.add(t);
        if (t.grad) out.add(t.grad);
      }
    }
    return [...out];
  }

  /**
   * Pairs each held tensor with the first one on the same memory in the same window: converting only that one and
   * pointing all of them at the result keeps tensors that share memory sharing it (and converts it once).
   */
  private sharedViews(): [Tensor, Tensor][] {
    const first = new Map<Storage, Map<string, Tensor>>();
    return this.heldTensors().map((t) => {
      const views = first.get(t.storage) ?? first.set(t.storage, new Map()).get(t.storage)!;
      const key = viewKey(t);
      if (!views.has(key)) views.set(key, t);
      return [t, views.get(key)!];
    });
  }

  /** Points each tensor at its new data (set_: a pinned one is placed again) and frees the memory nothing holds now. */
  private replaceAll(pairs: [Tensor, Tensor][]): void {
    const dropped: Storage[] = [];
    noGrad(() => {
      for (const [t, next] of pairs) {
        if (next.storage === t.storage) continue;
        dropped.push(t.storage, next.storage);
        t.set_(next);
      }
    });
    this.freeUnused(dropped);
  }

  /** Frees those of `storages` that no tensor of this module uses any more, except memory borrowed from a caller. */
  private freeUnused(storages: Storage[]): void {
    const used = new Set(this.heldTensors().map((t) => t.storage));
    for (const s of new Set(storages)) if (!used.has(s) && !borrowed.has(s) && !s.disposed) s.dispose();
  }

  /**
   * Registers a hook called after every forward() with (module, inputs, output), in registration order; a hook
   * returning a value other than undefined replaces the output (torch's register_forward_hook). A module with no
   * hook runs its forward untouched.
   */
  registerForwardHook(hook: ForwardHook<this>, opts: HookOptions = {}): RemovableHandle {
    return registerForwardHook(this, hook, opts);
  }

  /** Registers a hook called before every forward() with (module, inputs); returning an array replaces the inputs. */
  registerForwardPreHook(hook: ForwardPreHook<this>, opts: HookOptions = {}): RemovableHandle {
    return registerForwardPreHook(this, hook, opts);
  }

  /** Total number of elements over the (deduplicated) parameters. */
  numParameters(onlyTrainable = false): number {
    let n = 0;
    for (const p of this.parameters()) if (!onlyTrainable || p.requiresGrad) n += p.numel();
    return n;
  }
}
