// Memory scopes: tidy(fn) frees every tensor created inside fn that is not part of its result,
// so GPU loops (and large CPU ones) do not wait for the garbage collector.
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Internal: called by every Tensor constructor to register it with the innermost tidy scope. */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Marks tensors to survive the enclosing tidy scopes (e.g. parameters created inside one). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Runs fn and disposes every tensor it created, except those reachable from its return value. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
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
  for (const t of scope) {
    if (kept.has(t.storage)) {
      outer?.add(t);
      continue;
    }
    if (!t.storage.disposed) t.storage.dispose();
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
