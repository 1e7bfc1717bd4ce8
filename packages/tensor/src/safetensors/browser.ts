// The `#fs` import's browser variant: a page has no file system, so every path-based call fails with what to use.
import type { NodeFs, NodePath } from './node.js';

const message =
  'safetensors: a file path needs Node.js; in a browser pass the bytes (a Uint8Array) or a source ' +
  '{ size, read(offset, length) } to openSafetensors / loadSafetensors, and use serializeSafetensors() instead of saveSafetensors()';

/** Always rejects: there is no file system in a browser. */
export function nodeFs(): Promise<NodeFs> {
  return Promise.reject(new Error(message));
}
/** Always rejects: there is no file system in a browser. */
export function nodePath(): Promise<NodePath> {
  return Promise.reject(new Error(message));
}
