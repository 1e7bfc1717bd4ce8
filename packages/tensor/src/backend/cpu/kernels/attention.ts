// Fused attention on the CPU, the TypeScript kernel: per query position, one pass per group of query heads (scores,
// softmax and the weighted sum of values), reading the views in place: no repeat of the shared key/value heads, no
// contiguous copy of a cache slice, no intermediate tensors.
import type { View } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';

/** Scratch reused across calls (decoding calls this once per layer and token): scores and accumulators in float64. */
let scores = new Float64Array(0);
let acc = new Float64Array(0);

/**
 * out[b, h, l, :] = softmax(q[b, h, l, :] . k[b, hk, j, :] * scale over j) @ v[b, hk, :, :] with hk = h / (Hq / Hk),
 * j over every key, or j <= l when `causal` (torch's top-left is_causal), plus mask[b, 0, l, j] when a mask is given,
 * for q [B, Hq, L, E] and k, v [B, Hk, S, E] float views (any strides); out is [B, Hq, L, E] contiguous. Sums run in
 * float64 and each output is rounded once. `kDec` / `vDec` decode k / v elements stored as 16-bit float bits.
 */
export function attentionRows(q: View, k: View, v: View, scale: number, causal: boolean, mask: View | null, out: TypedArray, Q: TypedArray, K: TypedArray, V: TypedArray,
  M: TypedArray | null, kDec: ((bits: number) => number) | null = null, vDec: ((bits: number) => number) | null = null): void {
  const [B, Hq, L, E] = q.shape as [number, number, number, number];
  const [, Hk, S] = k.shape as [number, number, number, number];
  const G = Hq / Hk;
  if (scores.length < G * S) scores = new Float64Array(G * S);
  if (acc.length < G * E) acc = new Float64Array(G * E);
  const sc = scores;
  const ac = acc;
  const [qB, qH, qL, qE] = q.strides as [number, number, number, number];
  const [kB, kH, kS, kE] = k.strides as [number, number, number, number];
  const [vB, vH, vS, vE] = v.strides as [number, number, number, number];
  const [mB, , mL, mS] = mask ? (mask.strides as [number, number, number, number]) : [0, 0, 0, 0];
  for (let b = 0; b < B; b++) {
    for (let hk = 0; hk < Hk; hk++) {
      const k0 = k.offset + b * kB + hk * kH;
      const v0 = v.offset + b * vB + hk * vH;
      for (let l = 0; l < L; l++) {
        const n = causal ? Math.min(S, l + 1) : S;
        // Scores of the group's G query heads: each key row is read once for all of them.
        for (let g = 0; g < G; g++) {
          const q0 = q.offset + b * qB + (hk * G + g) * qH + l * qL;
          const row = g * S;
          const mo = mask ? mask.offset + b * mB + l * mL : 0;
          for (let j = 0, kp = k0; j < n; j++, kp += kS) {
            let s = 0;
            for (let e = 0, qi = q0, ki = kp; e < E; e++, qi += qE, ki += kE) s += Q[qi]! * (kDec ? kDec(K[ki]!) : K[ki]!);
            sc[row + j] = s * scale + (M ? M[mo + j * mS]! : 0);
          }
        }
        for (let g = 0; g < G; g++) {
          const row = g * S;
          let m = -Infinity;
          for (let j = 0; j < n; j++) if (sc[row + j]! > m) m = sc[row + j]!;
          let sum = 0;
          for (let j = 0; j < n; j++) {
            const p = Math.exp(sc[row + j]! - m);
            sc[row + j] = p;
            sum += p;
          }
          const inv = 1 / sum;
          for (let j = 0; j < n; j++) sc[row + j] = sc[row + j]! * inv;
          ac.fill(0, g * E, (g + 1) * E);
        }
        // Weighted sum of the value rows, each read once for the group.
        for (let j = 0, vp = v0; j < n; j++, vp += vS) {
          for (let g = 0; g < G; g++) {
            const p = sc[g * S + j]!;
            const a0 = g * E;
            for (let e = 0, vi = vp; e < E; e++, vi += vE) ac[a0 + e] += p * (vDec ? vDec(V[vi]!) : V[vi]!);
          }
        }
        for (let g = 0; g < G; g++) {
          const o = ((b * Hq + hk * G + g) * L + l) * E;
          for (let e = 0; e < E; e++) out[o + e] = ac[g * E + e]!;
        }
      }
    }
  }
}
