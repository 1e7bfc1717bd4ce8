// Forward hooks as PyTorch defines them (torch.nn.Module.register_forward_hook / register_forward_pre_hook):
// pre-hooks see (module, inputs) and may return replacement inputs; hooks see (module, inputs, output) and may
// return a replacement output; both fire in registration order. A module with no hook runs its own forward
// untouched: the first registration installs a wrapper on the instance and the last removal deletes it.
// Written against any object with a forward() (Module imports this file, not the reverse).

/** Called before forward with its arguments; returning an array replaces them (undefined keeps them). */
export type ForwardPreHook<M extends object = object> = (module: M, inputs: unknown[]) => unknown[] | void;

/** Called after forward with its arguments and result; returning a value other than undefined replaces the result. */
export type ForwardHook<M extends object = object> = (module: M, inputs: unknown[], output: unknown) => unknown;

/** Returned by a registration; remove() unregisters the hook (a second call does nothing). */
export interface RemovableHandle {
  remove(): void;
}

/** Options of a hook registration. */
export interface HookOptions {
  /** The module's qualified name (as namedModules() spells it), used in errors; default: its class name. */
  name?: string;
}

type Forward = (...args: unknown[]) => unknown;

interface HookState {
  /** The instance's own forward property before the wrapper, restored on the last removal (usually none). */
  ownDescriptor: PropertyDescriptor | undefined;
  pre: Map<number, { hook: ForwardPreHook<never>; name?: string }>;
  post: Map<number, { hook: ForwardHook<never>; name?: string }>;
}

/** Hook tables of the modules that have any; a module without hooks has no entry and no wrapper. */
const states = new WeakMap<object, HookState>();
let nextId = 0;

/** Error thrown by a hook, naming the module it was registered on. */
export class HookError extends Error {
  constructor(readonly moduleName: string, kind: 'forward pre-hook' | 'forward hook', cause: unknown) {
    super(`${kind} of ${moduleName} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'HookError';
  }
}

function forwardOf(module: object): Forward {
  const f = (module as unknown as { forward?: unknown }).forward;
  if (typeof f !== 'function') throw new Error(`${module.constructor.name} has no forward() to hook`);
  return f as Forward;
}

function install(module: object): HookState {
  let s = states.get(module);
  if (s) return s;
  const own = forwardOf(module);
  const state: HookState = { ownDescriptor: Object.getOwnPropertyDescriptor(module, 'forward'), pre: new Map(), post: new Map() };
  s = state;
  states.set(module, state);
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    let inputs = args;
    for (const { hook, name } of [...state.pre.values()]) {
      let r: unknown[] | void;
      try {
        r = hook(module as never, inputs);
      } catch (e) {
        throw new HookError(name ?? module.constructor.name, 'forward pre-hook', e);
      }
      if (r !== undefined) {
        if (!Array.isArray(r)) throw new HookError(name ?? module.constructor.name, 'forward pre-hook', new Error('a pre-hook returns an array of arguments or undefined'));
        inputs = r;
      }
    }
    let output = own.apply(this, inputs);
    for (const { hook, name } of [...state.post.values()]) {
      let r: unknown;
      try {
        r = hook(module as never, inputs, output);
      } catch (e) {
        throw new HookError(name ?? module.constructor.name, 'forward hook', e);
      }
      if (r !== undefined) output = r;
    }
    return output;
  };
  Object.defineProperty(module, 'forward', { value: wrapped, configurable: true, writable: true, enumerable: false });
  return state;
}

function handle(module: object, table: 'pre' | 'post', id: number): RemovableHandle {
  return {
    remove() {
      const s = states.get(module);
      if (!s || !s[table].delete(id)) return;
      if (s.pre.size === 0 && s.post.size === 0) {
        states.delete(module);
        if (s.ownDescriptor) Object.defineProperty(module, 'forward', s.ownDescriptor);
        else delete (module as unknown as { forward?: unknown }).forward;
      }
    },
  };
}

/** Registers a forward pre-hook on `module` (see Module.registerForwardPreHook). */
export function registerForwardPreHook<M extends object>(module: M, hook: ForwardPreHook<M>, opts: HookOptions = {}): RemovableHandle {
  forwardOf(module);
  const id = nextId++;
  install(module).pre.set(id, { hook: hook as ForwardPreHook<never>, name: opts.name });
  return handle(module, 'pre', id);
}

/** Registers a forward hook on `module` (see Module.registerForwardHook). */
export function registerForwardHook<M extends object>(module: M, hook: ForwardHook<M>, opts: HookOptions = {}): RemovableHandle {
  forwardOf(module);
  const id = nextId++;
  install(module).post.set(id, { hook: hook as ForwardHook<never>, name: opts.name });
  return handle(module, 'post', id);
}
