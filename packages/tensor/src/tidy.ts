// Memory scopes: tidy(fn) frees every storage allocated inside fn that is not part of its result,
// so GPU loops (and large CPU ones) do not wait for the garbage collector.
import type { Storage } from './backend.js';
import type { Tensor } from './tensor.js';

const scopes: Set<Storage>[] = [];
/** Storages already owned by some tensor: a later tensor on the same storage is a view and owns nothing. */
const owned = new WeakSet<Storage>();

/**
 * Internal: called by every Tensor constructor. The first tensor on a storage registers that storage with the
 * innermost tidy scope; views (reshape, detach, ...) of existing memory register nothing, so a view taken inside
 * a scope never frees a tensor created outside it.
 */
export function trackTensor(t: Tensor): void {
  if (owned.has(t.storage)) return;
  owned.add(t.storage);
  scopes[scopes.length - 1]?.add(t.storage);
}

/** Marks tensors (their memory, shared with every view of it) to survive the enclosing tidy scopes. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t.storage);
  return t;
}

/** Runs fn and disposes every storage it allocated, except those reachable from its return value. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Storage>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) throw new Error('tidy: the function must be synchronous (it returned a Promise)');
  const kept = new Set<unknown>();
  collect(result, kept, new Set());
  const outer = scopes[scopes.length - 1];
  for (const s of scope) {
    if (kept.has(s)) {
      outer?.add(s);
      continue;
    }
    if (!s.disposed) s.dispose();
  }
  return result;
}

function collect(x: unknown, storages: Set<unknown>, seen: Set<unknown>): void {
  if (x === null || typeof x !== 'object' || seen.has(x)) return;
  seen.add(x);
  const t = x as Tensor;
  if (typeof t.storage === 'object' && Array.isArray(t.shape) && t.storage !== null && 'disposed' in t.storage) {
    storages.add(t.storage);
    collect(t.grad, storages, seen);
    return;
  }
  if (Array.isArray(x)) for (const v of x) collect(v, storages, seen);
  else if (x instanceof Map) for (const v of x.values()) collect(v, storages, seen);
  else for (const v of Object.values(x)) collect(v, storages, seen);
}
