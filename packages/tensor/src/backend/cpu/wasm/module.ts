// Builds, compiles and instantiates the kernel module (once per thread) on the shared heap.
import { ModuleBuilder } from './emit.js';
import { DEFAULT_GEMM, emitGemm, type GemmParams } from './emit-gemm.js';
import { emitElementwise } from './emit-elementwise.js';
import { emitGemm16 } from './emit-gemm16.js';
import { emitGemmQ } from './emit-gemmq.js';
import { getHeap, MAX_PAGES } from './heap.js';

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
  return mb.build();
}

export type Kernels = Record<string, (...args: number[]) => number | void>;

let mod: WebAssembly.Module | null | undefined;
let inst: Kernels | null | undefined;

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

/** The main thread's kernel instance, or null (then callers use plain TypeScript). */
export function kernels(): Kernels | null {
  if (inst !== undefined) return inst;
  inst = null;
  const m = kernelModule();
  if (!m) return inst;
  try {
    inst = new WebAssembly.Instance(m, { env: { mem: getHeap()!.mem } }).exports as unknown as Kernels;
  } catch {
    inst = null;
  }
  return inst;
}

/** Disables WebAssembly kernels (for tests of the fallback). */
export function disableWasm(off: boolean): void {
  inst = off ? null : undefined;
}
