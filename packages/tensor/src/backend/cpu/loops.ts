// Elementwise loops specialized per op and element type. A generic loop calling `f(a, b)` through a variable
// goes megamorphic once several ops run and is 3-10x slower; generating one small function per (op, dtypes)
// keeps every call site monomorphic. Where code generation is forbidden (strict CSP), a closure loop is used instead.
import type { BinaryOp, UnaryOp } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import { BINARY, UNARY } from '../op-table.js';
import { forEachRow } from '../strided.js';

/** Strided elementwise loop over `shape` with k inputs; writes the output densely. */
export type Loop = (out: TypedArray, ins: TypedArray[], shape: readonly number[], strides: readonly (readonly number[])[], offsets: readonly number[], F: (...x: number[]) => number) => void;

let codegen = true;
const cache = new Map<string, Loop>();

/** Builds the loop source: the innermost dim is a tight loop, outer dims an odometer. */
function source(k: number, expr: string): string {
  const v = Array.from({ length: k }, (_, j) => j);
  return `
const r = shape.length - 1, n = shape[r];
${v.map((j) => `const I${j} = ins[${j}], st${j} = strides[${j}], s${j} = st${j}[r]; let o${j} = offsets[${j}];`).join('\n')}
let rows = 1; for (let d = 0; d < r; d++) rows *= shape[d];
if (n === 0) return;
const idx = new Int32Array(r > 0 ? r : 1);
let k = 0;
for (let row = 0; row < rows; row++) {
  ${v.map((j) => `let p${j} = o${j};`).join(' ')}
  for (let i = 0; i < n; i++) {
    ${['a', 'b', 'c'].slice(0, k).map((name, j) => `const ${name} = I${j}[p${j}]; p${j} += s${j};`).join(' ')}
    out[k++] = ${expr};
  }
  for (let d = r - 1; d >= 0; d--) {
    idx[d]++;
    ${v.map((j) => `o${j} += st${j}[d];`).join(' ')}
    if (idx[d] < shape[d]) break;
    ${v.map((j) => `o${j} -= st${j}[d] * shape[d];`).join(' ')}
    idx[d] = 0;
  }
}`;
}

/** The same loop without code generation: one closure call per element. */
function closureLoop(k: number, fn: (...x: number[]) => number): Loop {
  return (out, ins, shape, strides, offsets) => {
    const r = shape.length - 1;
    const s = strides.map((st) => st[r]!);
    let o = 0;
    forEachRow(shape, strides, offsets, (offs, len) => {
      const p = [...offs];
      const args = new Array<number>(k);
      for (let i = 0; i < len; i++) {
        for (let j = 0; j < k; j++) {
          args[j] = ins[j]![p[j]!]!;
          p[j]! += s[j]!;
        }
        out[o++] = fn(...args);
      }
    });
  };
}

function build(key: string, k: number, expr: string, fallback: (...x: number[]) => number): Loop {
  let f = cache.get(key);
  if (f) return f;
  if (codegen) {
    try {
      f = new Function('out', 'ins', 'shape', 'strides', 'offsets', 'F', source(k, expr)) as Loop;
    } catch {
      codegen = false;
    }
  }
  f ??= closureLoop(k, fallback);
  cache.set(key, f);
  return f;
}

function kind(a: TypedArray): string {
  return a.constructor.name;
}

/** The loop for a unary op over arrays of these kinds: the op table's JavaScript expression, or a call of its reference `F`. */
export function unaryLoop(op: UnaryOp, out: TypedArray, x: TypedArray): Loop {
  return build(`u:${op}:${kind(out)}:${kind(x)}`, 1, UNARY[op].js ?? 'F(a)', UNARY[op].ref);
}
/** The loop for a binary op over arrays of these kinds. */
export function binaryLoop(op: BinaryOp, out: TypedArray, a: TypedArray, b: TypedArray): Loop {
  return build(`b:${op}:${kind(out)}:${kind(a)}:${kind(b)}`, 2, BINARY[op].js ?? 'F(a, b)', BINARY[op].ref);
}
/** The loop for cond ? a : b. */
export function whereLoop(out: TypedArray, c: TypedArray, a: TypedArray, b: TypedArray): Loop {
  return build(`w:${kind(out)}:${kind(c)}:${kind(a)}:${kind(b)}`, 3, '(a !== 0 ? b : c)', (c, a, b) => (c !== 0 ? a : b));
}
/** The loop for a strided copy with a scalar conversion (identity when null). */
export function copyLoop(tag: string, out: TypedArray, x: TypedArray, expr: string, fallback: (a: number) => number): Loop {
  return build(`c:${tag}:${kind(out)}:${kind(x)}`, 1, expr, fallback);
}
