// Shared by the Nemotron golden tests: reading a fixture case and comparing with its tolerances.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, type Tensor } from '@tensorzoo/tensor';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'nemotron');

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Case {
  name: string;
  dir: string;
  model_class: string;
  call: { method: string; inputs: string[]; kwargs?: Record<string, unknown> };
  tensors: Record<string, { role: string; shape: number[] }>;
  tolerance: { default: Tolerance; per_tensor: Record<string, Tolerance> };
  grads?: { file: string; tolerance: Tolerance };
  info?: Record<string, unknown>;
}

/** Every case folder with its case.json. */
export function cases(): Case[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => ({ ...(JSON.parse(readFileSync(join(FIXTURES, d.name, 'case.json'), 'utf8')) as Case), dir: join(FIXTURES, d.name) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The tensors of a case's io.safetensors (or another file of the case). */
export function io(c: Case, file = 'io.safetensors'): Promise<Map<string, Tensor>> {
  return loadSafetensors(join(c.dir, file));
}

/** Worst violation of |a - e| <= atol + rtol |e| (<= 0 means every element passes), with where it happened. */
export function excess(actual: Tensor, expected: Tensor, tol: Tolerance): { worst: number; at: number; a: number; e: number } {
  if (actual.shape.join(',') !== expected.shape.join(',')) throw new Error(`shape [${actual.shape.join(',')}] != expected [${expected.shape.join(',')}]`);
  const a = actual.float().dataSync();
  const e = expected.float().dataSync();
  let worst = -Infinity;
  let at = -1;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i]! - e[i]!) - (tol.atol + tol.rtol * Math.abs(e[i]!));
    const v = Number.isNaN(d) ? Infinity : d;
    if (v > worst) {
      worst = v;
      at = i;
    }
  }
  return { worst, at, a: a[at] ?? NaN, e: e[at] ?? NaN };
}

/** Asserts closeness with a message that says which tensor and element failed. */
export function assertClose(name: string, actual: Tensor, expected: Tensor, tol: Tolerance): void {
  const r = excess(actual, expected, tol);
  if (r.worst > 0) throw new Error(`${name}: element ${r.at} is ${r.a}, expected ${r.e} (beyond atol ${tol.atol} + rtol ${tol.rtol})`);
}
