// torch's version counter (Tensor._version): a count of the in-place writes to a storage, shared by every view of it.
// Whatever caches a value derived from a tensor (a module folding `weight + 1`) compares it to know it is stale.
import type { Storage } from './backend.js';

const versions = new WeakMap<Storage, number>();

/** In-place writes so far to `s` (0 for a storage never written in place). */
export function storageVersion(s: Storage): number {
  return versions.get(s) ?? 0;
}

/** Records an in-place write to `s`: every op that writes an existing storage calls it. */
export function bumpVersion(s: Storage): void {
  versions.set(s, (versions.get(s) ?? 0) + 1);
}
