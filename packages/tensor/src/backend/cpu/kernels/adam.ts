// The fused Adam / AdamW update: one pass over a parameter, its gradient and both moments, in place.
import type { AdamStepHyper } from '../../../backend.js';

/**
 * Updates p, m, v (length n, from index 0) given g (from gOff) in torch's operation order. With float32 arrays every
 * intermediate is rounded to float32 (scalars too), so the result equals the op-by-op update bit for bit.
 */
export function adamStep(p: Float32Array | Float64Array, g: Float32Array | Float64Array, gOff: number, m: Float32Array | Float64Array, v: Float32Array | Float64Array, n: number, h: AdamStepHyper): void {
  if (p instanceof Float32Array) adamStepF32(p, g as Float32Array, gOff, m as Float32Array, v as Float32Array, n, h);
  else adamStepF64(p, g as Float64Array, gOff, m as Float64Array, v as Float64Array, n, h);
}

// The two loops are the same arithmetic: separate functions keep each one monomorphic (a shared loop calling a
// rounding function through a variable runs about ten times slower).
function adamStepF32(p: Float32Array, g: Float32Array, gOff: number, m: Float32Array, v: Float32Array, n: number, h: AdamStepHyper): void {
  const r = Math.fround;
  const b1 = r(h.beta1), b2 = r(h.beta2), omb1 = r(1 - h.beta1), omb2 = r(1 - h.beta2);
  const decay = r(1 - h.lr * h.weightDecay), wd = r(h.weightDecay);
  const sqrtBc2 = r(Math.sqrt(h.biasCorrection2)), eps = r(h.eps), stepSize = r(h.lr / h.biasCorrection1);
  const mode = h.weightDecay === 0 ? 0 : h.decoupled ? 1 : 2;
  const sign = h.maximize ? -1 : 1;
  for (let i = 0; i < n; i++) {
    let d = sign * g[gOff + i]!;
    let w = p[i]!;
    if (mode === 1) w = r(w * decay);
    else if (mode === 2) d = r(d + r(w * wd));
    const mi = r(r(m[i]! * b1) + r(d * omb1));
    const vi = r(r(v[i]! * b2) + r(r(d * d) * omb2));
    m[i] = mi;
    v[i] = vi;
    p[i] = w - r(r(mi / r(r(r(Math.sqrt(vi)) / sqrtBc2) + eps)) * stepSize);
  }
}

function adamStepF64(p: Float64Array, g: Float64Array, gOff: number, m: Float64Array, v: Float64Array, n: number, h: AdamStepHyper): void {
  const { beta1: b1, beta2: b2, eps } = h;
  const omb1 = 1 - b1, omb2 = 1 - b2, decay = 1 - h.lr * h.weightDecay, wd = h.weightDecay;
  const sqrtBc2 = Math.sqrt(h.biasCorrection2), stepSize = h.lr / h.biasCorrection1;
  const mode = h.weightDecay === 0 ? 0 : h.decoupled ? 1 : 2;
  const sign = h.maximize ? -1 : 1;
  for (let i = 0; i < n; i++) {
    let d = sign * g[gOff + i]!;
    let w = p[i]!;
    if (mode === 1) w = w * decay;
    else if (mode === 2) d = d + w * wd;
    const mi = m[i]! * b1 + d * omb1;
    const vi = v[i]! * b2 + d * d * omb2;
    m[i] = mi;
    v[i] = vi;
    p[i] = w - (mi / (Math.sqrt(vi) / sqrtBc2 + eps)) * stepSize;
  }
}
