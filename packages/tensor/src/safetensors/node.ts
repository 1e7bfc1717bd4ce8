// The only place the safetensors code touches Node: loaded with dynamic import() on first file access,
// so that bundling the core for a browser never pulls in node:fs.
export type NodeFs = typeof import('node:fs/promises');
export type NodePath = typeof import('node:path');

let fsp: Promise<NodeFs> | null = null;
let pathp: Promise<NodePath> | null = null;

export function nodeFs(): Promise<NodeFs> {
  return (fsp ??= import('node:fs/promises'));
}
export function nodePath(): Promise<NodePath> {
  return (pathp ??= import('node:path'));
}
