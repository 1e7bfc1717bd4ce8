// Containers: Sequential and ModuleList, named '0', '1', ... as in torch (and in checkpoint keys like layers.0.mlp).
import type { Tensor } from '@tensorzoo/tensor';
import { Module } from './module.js';

/** A module with a forward from one tensor to one tensor. */
export interface TensorModule extends Module {
  forward(x: Tensor): Tensor;
}

/** Runs its modules in order. */
export class Sequential extends Module {
  private readonly items: TensorModule[];
  constructor(...modules: TensorModule[]) {
    super();
    this.items = modules.map((m, i) => this.registerModule(String(i), m));
  }
  /** Feeds x through every module in turn. */
  forward(x: Tensor): Tensor {
    return this.items.reduce((h, m) => m.forward(h), x);
  }
  get length(): number {
    return this.items.length;
  }
  /** The i-th module. */
  at(i: number): TensorModule {
    const m = this.items[i < 0 ? i + this.items.length : i];
    if (!m) throw new Error(`Sequential: index ${i} out of range for ${this.items.length} modules`);
    return m;
  }
}

/** A list of submodules registered as '0', '1', ... */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];
  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.push(m);
  }
  /** Appends a module. */
  push(m: M): this {
    this.items.push(this.registerModule(String(this.items.length), m));
    return this;
  }
  /** The i-th module (negative counts from the end). */
  at(i: number): M {
    const m = this.items[i < 0 ? i + this.items.length : i];
    if (!m) throw new Error(`ModuleList: index ${i} out of range for ${this.items.length} modules`);
    return m;
  }
  get length(): number {
    return this.items.length;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/** Submodules by name, as torch's nn.ModuleDict (PEFT keeps one LoRA matrix per adapter name in one). */
export class ModuleDict<M extends Module = Module> extends Module {
  private readonly items = new Map<string, M>();
  constructor(modules: Record<string, M> = {}) {
    super();
    for (const [k, m] of Object.entries(modules)) this.set(k, m);
  }
  /** Registers a module under a new key. */
  set(key: string, m: M): this {
    this.items.set(key, this.registerModule(key, m));
    return this;
  }
  /** The module under key. */
  get(key: string): M {
    const m = this.items.get(key);
    if (!m) throw new Error(`ModuleDict: no key '${key}' (keys: ${[...this.items.keys()].join(', ')})`);
    return m;
  }
  /** Whether a module is registered under key. */
  has(key: string): boolean {
    return this.items.has(key);
  }
  /** The keys, in insertion order. */
  keys(): string[] {
    return [...this.items.keys()];
  }
}
