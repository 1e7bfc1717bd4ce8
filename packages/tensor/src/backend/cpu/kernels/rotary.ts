// Rotary position embedding in one pass over strided views: the rotated channels, the pass-through channels and the
// output written together, where the composite takes two narrows, a negation, two concatenations, two products and a sum.
import type { View } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';
import { contiguousStrides } from '../../../shape.js';
import { forEachRow } from '../../strided.js';

/**
 * out = x * cos + rotate_half(x) * sin on the first d = cos.shape[-1] channels of x's last dim (rotate_half(x) =
 * [-x[d/2:d], x[:d/2]]), x[d:] copied; cos / sin are views of x's shape with d last channels (broadcast dims have
 * stride 0). `round` rounds each product and the sum as float32 arithmetic does (the composite's ops round each
 * result); out is contiguous.
 */
export function rotaryRows(x: View, cos: View, sin: View, X: TypedArray, C: TypedArray, S: TypedArray, out: TypedArray, round: boolean): void {
  const r = x.shape.length - 1;
  const D = x.shape[r]!;
  const d = cos.shape[r]!;
  const h = d / 2;
  const xs = x.strides[r]!;
  const cs = cos.strides[r]!;
  const ss = sin.strides[r]!;
  const lead = [...x.shape.slice(0, r), 1];
  const strides = [x, cos, sin].map((v) => [...v.strides.slice(0, r), 0]);
  strides.push([...contiguousStrides(x.shape).slice(0, r), 0]);
  const f = Math.fround;
  forEachRow(lead, strides, [x.offset, cos.offset, sin.offset, 0], (offs) => {
    const [xo, co, so, oo] = offs as [number, number, number, number];
    for (let i = 0; i < h; i++) {
      const a = X[xo + i * xs]!;
      const b = X[xo + (i + h) * xs]!;
      const c1 = C[co + i * cs]!;
      const s1 = S[so + i * ss]!;
      const c2 = C[co + (i + h) * cs]!;
      const s2 = S[so + (i + h) * ss]!;
      out[oo + i] = round ? f(f(a * c1) + f(-b * s1)) : a * c1 + -b * s1;
      out[oo + i + h] = round ? f(f(b * c2) + f(a * s2)) : b * c2 + a * s2;
    }
    for (let i = d; i < D; i++) out[oo + i] = X[xo + i * xs]!;
  });
}
