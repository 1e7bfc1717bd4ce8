// Builds and compiles the kernel module once, and instantiates it on this thread once per heap memory (a kernel reads
// the one memory its instance imports).
import { ModuleBuilder } from './emit.js';
import { DEFAULT_GEMM, emitGemm, type GemmParams } from './emit-gemm.js';
import { emitElementwise } from './emit-elementwise.js';
import { emitGemm16 } from './emit-gemm16.js';
import { emitGemmQ } from './emit-gemmq.js';
import { emitQuantizers } from './emit-quantize.js';
import { getHeap, heapMemory, MAX_PAGES } from './heap.js';

/** Whether `f32x4.relaxed_madd` validates here (Node 20 needs --experimental-wasm-relaxed-simd). */
export function hasRelaxedSimd(): boolean {
  if (typeof WebAssembly === 'undefined') return false;
  const b = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 0x60, 3, 0x7b, 0x7b, 0x7b, 1, 0x7b, 3, 2, 1, 0, 10, 13, 1, 11, 0, 0x20, 0, 0x20, 1, 0x20, 2, 0xfd, 0x85, 0x02, 0x0b]);
  try {
    return WebAssembly.validate(b);
  } catch {
    return false;
  }
}

export function buildKernelBytes(shared: boolean, gemm: GemmParams = { ...DEFAULT_GEMM, fma: hasRelaxedSimd() }): Uint8Array<ArrayBuffer> {
  const mb = new ModuleBuilder(1, MAX_PAGES, shared);
  emitGemm(mb, gemm);
  emitGemm16(mb, gemm);
  emitGemmQ(mb, gemm);
  emitElementwise(mb);
  emitQuantizers(mb);
  return mb.build();
}

export type Kernels = Record<string, (...args: number[]) => number | void>;

let mod: WebAssembly.Module | null | undefined;
let disabled = false;
/** Instances by memory index (undefined: not built yet; null: failed). */
const insts: (Kernels | null | undefined)[] = [];

/** The compiled kernel module, or null when WebAssembly SIMD is unavailable. */
export function kernelModule(): WebAssembly.Module | null {
  if (mod !== undefined) return mod;
  mod = null;
  const h = getHeap();
  if (!h) return mod;
  try {
    mod = new WebAssembly.Module(buildKernelBytes(h.shared));
  } catch {
    mod = null;
  }
  return mod;
}

/** This thread's kernel instance on heap memory `mem`, or null (then callers use plain TypeScript). */
export function kernels(mem = 0): Kernels | null {
  if (disabled) return null;
  const k = insts[mem];
  if (k !== undefined) return k;
  insts[mem] = null;
  const m = kernelModule();
  if (!m) return null;
  try {
    insts[mem] = new WebAssembly.Instance(m, { env: { mem: heapMemory(mem) } }).exports as unknown as Kernels;
  } catch {
    insts[mem] = null;
  }
  return insts[mem];
}

/** Disables WebAssembly kernels (for tests of the fallback). */
export function disableWasm(off: boolean): void {
  disabled = off;
}
