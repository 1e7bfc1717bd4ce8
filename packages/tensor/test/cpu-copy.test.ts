// CPU copies of strided views whose innermost rows are dense (head transposes) move whole rows: the result must be the
// element-by-element gather of the view, for every dtype, with offsets, and for rows just below and at the threshold.
import { describe, expect, it } from 'vitest';
import * as tz from '../dist/index.js';

/** The view's values read one by one through its shape and strides (the reference). */
function gathered(t: tz.Tensor): number[] {
  const base = tz.getBackend('cpu').readSync!(t.storage) as ArrayLike<number>;
  const out: number[] = [];
  const idx = new Array<number>(t.ndim).fill(0);
  for (let k = 0; k < t.numel(); k++) {
    let p = t.offset;
    for (let d = 0; d < t.ndim; d++) p += idx[d]! * t.strides[d]!;
    out.push(base[p]!);
    for (let d = t.ndim - 1; d >= 0; d--) {
      if (++idx[d]! < t.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

describe('cpu copy of views with dense innermost rows', () => {
  for (const dtype of ['float32', 'float64', 'int32', 'bfloat16', 'bool'] as const) {
    for (const inner of [31, 32, 65]) {
      it(`${dtype}, rows of ${inner}: contiguous() of a head transpose and of a narrowed one equals the element-wise read`, () => {
        const src = tz.randn([3, 5, 2, inner], { generator: new tz.Generator(inner) }).mul(4).to(dtype);
        for (const view of [src.transpose(1, 2), src.narrow(1, 1, 3).transpose(0, 2), src.narrow(3, 1, inner - 1).transpose(1, 2)]) {
          const c = view.contiguous();
          expect(c.isContiguous()).toBe(true);
          expect(Array.from(tz.getBackend('cpu').readSync!(c.storage) as ArrayLike<number>).slice(c.offset, c.offset + c.numel())).toEqual(gathered(view));
        }
      });
    }
  }
});
