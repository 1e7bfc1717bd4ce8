// sameShape, the allocation-free shape check the ops run on every call, agrees with comparing formatted shapes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fmtShape, sameShape } from '../dist/shape.js';

describe('sameShape', () => {
  it('is true exactly when the formatted shapes are equal', () => {
    const shape = fc.array(fc.nat(4), { maxLength: 4 });
    fc.assert(fc.property(shape, shape, (a, b) => sameShape(a, b) === (fmtShape(a) === fmtShape(b))));
    fc.assert(fc.property(shape, (a) => sameShape(a, [...a]) && !sameShape(a, [...a, 1]) && (a.length === 0 || !sameShape(a, [...a.slice(0, -1), a.at(-1)! + 1]))));
  });
});
