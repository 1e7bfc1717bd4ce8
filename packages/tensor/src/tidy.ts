// Memory scopes: tidy(fn) frees every storage allocated inside fn that is not part of its result,
// so GPU loops (and large CPU ones) do not wait for the garbage collector.
import type { Storage } from './backend.js';
import type { Tensor } from './tensor.js';

const scopes: Set<Storage>[] = [];
/**
 * Marks storages already owned by some tensor: a later tensor on the same storage is a view and owns nothing. A flag
 * on the storage, not a WeakSet: every op's result passes here, and a WeakSet entry costs a hash insert plus
 * ephemeron work in each garbage collection.
 */
const OWNED = Symbol('owned');
type Flagged = Storage & { [OWNED]?: true };

/**
 * Internal: called by every Tensor constructor. The first tensor on a storage registers that storage with the
 * innermost tidy scope; views (reshape, detach, ...) of existing memory register nothing, so a view taken inside
 * a scope never frees a tensor created outside it.
 */
export function trackTensor(t: Tensor): void {
  const s = t.storage as Flagged;
  if (s[OWNED]) return;
  s[OWNED] = true;
  scopes[scopes.length - 1]?.add(t.storage);
}

/** Marks tensors (their memory, shared with every view of it) to survive the enclosing tidy scopes. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t.storage);
  return t;
}

/**
 * Runs fn and disposes every storage it allocated, except those reachable from its return value. fn may be async
 * (`await tidy(async () => ...)`): the scope then stays open until the promise settles, so it also owns what other
 * code allocates while fn awaits; do not interleave it with unrelated tensor work you mean to keep. Two async scopes
 * running at once nest in the order they opened, whichever settles first.
 */
export function tidy<T>(fn: () => Promise<T>): Promise<T>;
export function tidy<T>(fn: () => T): T;
export function tidy<T>(fn: () => T | Promise<T>): T | Promise<T> {
  const parent = scopes[scopes.length - 1];
  const scope = new Set<Storage>();
  scopes.push(scope);
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (e) {
    close(scope, parent, undefined);
    throw e;
  }
  if (!(result instanceof Promise)) return close(scope, parent, result);
  return result.then(
    (value) => close(scope, parent, value),
    (e: unknown) => {
      close(scope, parent, undefined);
      throw e;
    },
  );
}

/**
 * Ends a scope (wherever it is on the stack: async scopes may settle out of order), freeing what `result` does not
 * reach; what it reaches moves to the scope that enclosed this one when it opened, if that one is still open.
 */
function close<T>(scope: Set<Storage>, parent: Set<Storage> | undefined, result: T): T {
  const at = scopes.lastIndexOf(scope);
  if (at >= 0) scopes.splice(at, 1);
  const kept = new Set<unknown>();
  collect(result, kept, new Set());
  const outer = parent && scopes.includes(parent) ? parent : undefined;
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
