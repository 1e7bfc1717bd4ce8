// The `#fs` import's browser variant: a page cannot read paths, so plain strings are URLs and file calls fail
// with what to pass instead.
import type { RangeReader } from './model-source.js';

/** Whether plain strings name files on disk (false: in a browser they are URLs, relative to the page). */
export const hasFileSystem = false;

function noFileSystem(path: string): Error {
  return new Error(
    `cannot read '${path}': a browser has no file system; pass a URL (e.g. fromPretrained('/models/my-model/')) ` +
      'or the files themselves (a Map of file name -> Blob | ArrayBuffer | Uint8Array, or the FileList of an <input type="file">)',
  );
}

/** Always rejects: there is no file system in a browser. */
export function fileSize(path: string): Promise<number | null> {
  return Promise.reject(noFileSystem(path));
}
/** Always rejects: there is no file system in a browser. */
export function readFileBytes(path: string): Promise<Uint8Array> {
  return Promise.reject(noFileSystem(path));
}
/** Always rejects: there is no file system in a browser. */
export function openFile(path: string): Promise<RangeReader> {
  return Promise.reject(noFileSystem(path));
}
/** Always rejects: there is no file system in a browser. */
export function readFileText(path: string): Promise<string> {
  return Promise.reject(noFileSystem(path));
}
