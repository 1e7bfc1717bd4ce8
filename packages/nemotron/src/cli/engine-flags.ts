// Imported first by main.ts, before any WebAssembly kernel compiles: Node 20 ships WebAssembly relaxed SIMD behind a
// flag (browsers and later Node versions have it on), and the CPU backend's GEMMs use f32x4.relaxed_madd where it
// validates. V8 reads the flag when a module is validated, so setting it at start-up is enough; the issue allows the
// CLI to do this for itself. TENSORZOO_RELAXED_SIMD=0 keeps the engine's default (results then match the library
// run without the flag bit for bit).
import { setFlagsFromString } from 'node:v8';

if (process.env.TENSORZOO_RELAXED_SIMD !== '0') setFlagsFromString('--experimental-wasm-relaxed-simd');
