// The safetensors code's only contact with Node (the `#fs` import's node variant): node:fs and node:path,
// imported on first file access. Browser bundles get ./browser.ts instead, through package.json "imports".
export type NodeFs = typeof import('node:fs/promises');
export type NodePath = typeof import('node:path');

let fsp: Promise<NodeFs> | null = null;
let pathp: Promise<NodePath> | null = null;

/** node:fs/promises, imported once. */
export function nodeFs(): Promise<NodeFs> {
  return (fsp ??= import('node:fs/promises'));
}
/** node:path, imported once. */
export function nodePath(): Promise<NodePath> {
  return (pathp ??= import('node:path'));
}
