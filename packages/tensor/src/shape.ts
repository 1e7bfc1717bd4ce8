// Shapes and strides: the arithmetic every view and broadcast rests on.

/** A tensor's dimensions, outermost first. */
export type Shape = readonly number[];

/** Number of elements of a shape (1 for a 0-d scalar). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides (in elements) of a contiguous tensor of this shape. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= Math.max(shape[i]!, 1);
  }
  return s;
}

/** Whether two shapes are equal, dim for dim (shape checks on every op call: no string building). */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Formats a shape as `[2,3]` for error messages. */
export function fmtShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** Validates a shape given by the user: non-negative integers. */
export function checkShape(op: string, shape: Shape): number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmtShape(shape)}: dimensions must be non-negative integers`);
  }
  return [...shape];
}

/** Resolves a possibly negative dim against a rank, throwing an error that names the op. */
export function normDim(op: string, dim: number, rank: number): number {
  const r = Math.max(rank, 1); // torch allows dim 0 / -1 on 0-d tensors
  if (!Number.isInteger(dim) || dim < -r || dim >= r) {
    throw new Error(`${op}: dimension ${dim} out of range for a tensor of rank ${rank} (expected in [${-r}, ${r - 1}])`);
  }
  return dim < 0 ? dim + r : dim;
}

/** Resolves a list of dims (or all dims when undefined), rejecting repeats. */
export function normDims(op: string, dims: number | readonly number[] | undefined, rank: number): number[] {
  if (dims === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : [...dims];
  const out = list.map((d) => normDim(op, d, rank)).filter((d) => d < rank);
  if (new Set(out).size !== out.length) throw new Error(`${op}: dim ${JSON.stringify(dims)} appears multiple times`);
  return out.sort((a, b) => a - b);
}

/** NumPy broadcasting of two shapes; throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together (dim ${i}: ${x} vs ${y})`);
    }
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Strides that view `shape`/`strides` as `target` by broadcasting (0 strides on expanded dims). */
export function broadcastStrides(op: string, shape: Shape, strides: readonly number[], target: Shape): number[] {
  const n = target.length;
  if (shape.length > n) throw new Error(`${op}: cannot broadcast ${fmtShape(shape)} to ${fmtShape(target)}`);
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const j = n - shape.length + i;
    const d = shape[i]!;
    if (d === target[j]) out[j] = d === 1 ? 0 : strides[i]!;
    else if (d === 1) out[j] = 0;
    else throw new Error(`${op}: cannot broadcast ${fmtShape(shape)} to ${fmtShape(target)}`);
  }
  return out;
}

/** Whether shape/strides describe a dense row-major layout. */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 0) return true;
    if (d !== 1 && strides[i] !== acc) return false;
    acc *= d;
  }
  return true;
}

/**
 * Strides for viewing a strided tensor under a new shape without copying, or null when the
 * layout makes that impossible (torch's `computeStride`: split/merge only runs of dims that are contiguous with each other).
 */
export function viewStrides(shape: Shape, strides: readonly number[], newShape: Shape): number[] | null {
  if (numel(shape) === 0 || shape.length === 0) return contiguousStrides(newShape);
  const out = new Array<number>(newShape.length);
  let viewD = newShape.length - 1;
  let chunkBase = strides[strides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d]!;
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = strides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return out;
}
