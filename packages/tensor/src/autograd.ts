// Reverse-mode autograd: ops record a node (inputs + a closure mapping the output's gradient to the inputs'),
// and backward() runs the closures in reverse topological order.
import type { Storage } from './backend.js';
import type { Tensor } from './tensor.js';

/** One recorded op: the tensors it read and the rule that pushes a gradient back to them. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Set to null once the graph is freed (after a backward without retainGraph). */
  backward: ((grad: Tensor) => readonly (Tensor | null)[]) | null;
}

let gradEnabled = true;

/** Whether ops currently record the graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording any graph (as `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` with graph recording on or off. */
export function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Records `out = op(inputs)` when any input needs a gradient. `backward` gets d(loss)/d(out) and returns one
 * gradient per input, already reduced to that input's shape (null where none flows).
 */
export function record(out: Tensor, name: string, inputs: readonly Tensor[], backward: (grad: Tensor) => readonly (Tensor | null)[]): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { name, inputs, backward };
  }
  return out;
}

/**
 * Runs backpropagation from `root` given d(loss)/d(root), accumulating into `.grad` of leaves (and retained non-leaves).
 * `accumulate` gets `owned` true when no other gradient, pending or handed out, shares g's storage and it is not the
 * caller's gradient: then the storage may be adopted as the leaf's `.grad` instead of copied.
 */
export function runBackward(root: Tensor, gradient: Tensor, retainGraph: boolean, accumulate: (t: Tensor, g: Tensor, owned: boolean) => void, add: (a: Tensor, b: Tensor) => Tensor): void {
  // Iterative DFS post-order: deep graphs (long RNN-like chains) must not overflow the call stack.
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const inputs = top[0].gradFn?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++]!;
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(top[0]);
      stack.pop();
    }
  }
  const grads = new Map<Tensor, Tensor>([[root, gradient]]);
  // Live gradients per storage (pass-through backwards such as add's or reshape's hand out views of their input
  // gradient); the caller's gradient and retained grads are never owned.
  const refs = new Map<Storage, number>([[gradient.storage, Infinity]]);
  const ref = (x: Tensor, d: number) => refs.set(x.storage, (refs.get(x.storage) ?? 0) + d);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    const g = grads.get(t);
    grads.delete(t);
    if (!g) continue;
    ref(g, -1);
    const node = t.gradFn;
    if (!node) {
      accumulate(t, g, refs.get(g.storage) === 0);
      continue;
    }
    if (t.retainsGrad) {
      accumulate(t, g, false);
      refs.set(g.storage, Infinity);
    }
    if (!node.backward) {
      throw new Error(`backward: trying to backward through the graph a second time (through '${node.name}'); its saved values were freed. Pass { retainGraph: true } to the first backward() call.`);
    }
    const inGrads = node.backward(g);
    if (!retainGraph) node.backward = null;
    node.inputs.forEach((x, k) => {
      const gx = inGrads[k];
      if (!gx || !x.requiresGrad) return;
      const prev = grads.get(x);
      if (prev) ref(prev, -1);
      const next = prev ? add(prev, gx) : gx;
      ref(next, 1);
      grads.set(x, next);
    });
  }
}
