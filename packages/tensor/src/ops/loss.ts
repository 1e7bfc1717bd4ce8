// Loss functions, as torch.nn.functional: cross entropy, MSE, binary cross entropy with logits.
import { noGrad, record } from '../autograd.js';
import { getBackend } from '../backend.js';
import { zeros } from '../creation.js';
import { computeDtype, isFloating } from '../dtype.js';
import { fmtShape, sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { abs, add, cast, div, exp, log1p, logicalAnd, lt, mul, ne, neg, relu, sub, where, ge } from './elementwise.js';
import { gather, scatterAdd } from './indexing.js';
import { logSoftmax, softmax } from './nn.js';
import { any as anyOf, mean, sum } from './reduce.js';
import { backendOf, wrap } from './util.js';
import { contiguous, flatten, permute, reshape, squeeze, unsqueeze } from './view.js';

/** How per-element losses are combined. */
export type Reduction = 'mean' | 'sum' | 'none';

function reduce(op: string, loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  if (reduction === 'sum') return sum(loss);
  if (reduction === 'mean') return mean(loss);
  throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
}

/** Options of crossEntropy, as torch.nn.functional.cross_entropy. */
export interface CrossEntropyOptions {
  ignoreIndex?: number;
  reduction?: Reduction;
  labelSmoothing?: number;
  /** Per-class rescaling weights [C]. */
  weight?: Tensor | null;
}

/**
 * Cross entropy between logits [N, C] (or [C], or [N, C, d1, ...]) and int32 class indices [N] ([d1...] matching),
 * or class probabilities with the logits' shape; with ignoreIndex, labelSmoothing and per-class weights as torch.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const reduction = opts.reduction ?? 'mean';
  const eps = opts.labelSmoothing ?? 0;
  if (eps < 0 || eps > 1) throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  if (logits.ndim === 0) throw new Error('crossEntropy: logits must have at least 1 dim');
  const C = logits.ndim === 1 ? logits.shape[0]! : logits.shape[1]!;
  // Classes last: [M, C] rows.
  const moved = logits.ndim <= 2 ? logits : permute(logits, [0, ...logits.shape.slice(2).map((_, i) => i + 2), 1]);
  const rows = reshape(moved.dtype === 'float64' ? moved : cast(moved, 'float32'), [-1, C]);
  const w = opts.weight ? cast(opts.weight, rows.dtype) : null;
  if (w && !sameShape(w.shape, [C])) throw new Error(`crossEntropy: weight ${fmtShape(w.shape)} must be [${C}]`);

  if (isFloating(target.dtype)) {
    const lsm = logSoftmax(rows, -1);
    if (!sameShape(target.shape, logits.shape)) throw new Error(`crossEntropy: probability targets ${fmtShape(target.shape)} must match logits ${fmtShape(logits.shape)}`);
    const tMoved = logits.ndim <= 2 ? target : permute(target, [0, ...target.shape.slice(2).map((_, i) => i + 2), 1]);
    let t = reshape(cast(tMoved, lsm.dtype), [-1, C]);
    if (eps > 0) t = add(mul(t, 1 - eps), eps / C);
    const wl = w ? mul(lsm, w) : lsm;
    const perRow = neg(sum(mul(wl, t), -1));
    const shaped = reshape(perRow, logits.ndim === 1 ? [] : [logits.shape[0]!, ...logits.shape.slice(2)]);
    // torch divides by the number of rows (numel / C), i.e. N * d1 * ..., not by N alone
    return reduction === 'mean' ? div(sum(perRow), perRow.shape[0]!) : reduce('crossEntropy', shaped, reduction);
  }

  if (target.dtype !== 'int32') throw new Error(`crossEntropy: class targets must be int32 (or float probabilities), got ${target.dtype}`);
  const expected = logits.ndim === 1 ? [] : [logits.shape[0]!, ...logits.shape.slice(2)];
  if (!sameShape(target.shape, expected)) throw new Error(`crossEntropy: target ${fmtShape(target.shape)} does not match logits ${fmtShape(logits.shape)} (expected ${fmtShape(expected)})`);
  const ignore = opts.ignoreIndex ?? -100;
  const tflat = flatten(target);
  const valid = ne(tflat, ignore);
  checkTargets(tflat, valid, C);
  const safe = where(valid, tflat, 0);
  const wt = w ? where(valid, gather(w, 0, safe), 0) : cast(valid, rows.dtype);
  // Label smoothing reads every class's log-probability, and a weight that needs its own gradient must stay in the
  // graph: both compose from the log-softmax; the common case is the fused one.
  const lsm = eps === 0 && !w?.requiresGrad ? null : logSoftmax(rows, -1);
  let loss = lsm ? mul(neg(squeeze(gather(lsm, 1, unsqueeze(safe, 1)), 1)), wt) : weightedNll(rows, safe, wt);
  if (lsm && eps > 0) {
    const smooth = div(neg(sum(w ? mul(lsm, w) : lsm, -1)), C);
    loss = add(mul(loss, 1 - eps), mul(where(valid, smooth, 0), eps));
  }
  if (reduction === 'none') return reshape(loss, expected);
  if (reduction === 'sum') return sum(loss);
  if (reduction !== 'mean') throw new Error(`crossEntropy: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  // torch divides by the total weight of the non-ignored targets (NaN when every target is ignored)
  return div(sum(loss), sum(wt));
}

/**
 * -logSoftmax(rows)[r, target[r]] * weight[r] for logits rows [M, C]. Where the device has the fused kernels, the
 * forward keeps only each row's logsumexp and the backward is one pass from the logits, (softmax - onehot) * g * weight:
 * no [M, C] intermediate besides the gradient. weight is a constant (0 at ignored rows, whose target is any valid class).
 */
function weightedNll(rows: Tensor, target: Tensor, weight: Tensor): Tensor {
  const b = backendOf('crossEntropy', rows, target, weight);
  const x = rows.detach();
  const wt = weight.detach();
  if (b.crossEntropyForward && b.crossEntropyBackward) {
    const { nll, lse } = b.crossEntropyForward(x, target, x.dtype);
    const lseT = wrap(lse, [x.shape[0]!]);
    const loss = noGrad(() => mul(wrap(nll, [x.shape[0]!]), wt));
    return record(loss, 'crossEntropy', [rows], (g) => [wrap(b.crossEntropyBackward!(x, lseT, target, contiguous(mul(g, wt)), x.dtype), x.shape)]);
  }
  const loss = noGrad(() => {
    const lsm = wrap(b.softmax(x, true, x.dtype), x.shape);
    const picked = squeeze(gather(lsm, 1, unsqueeze(target, 1)), 1);
    lsm.dispose();
    return mul(neg(picked), wt);
  });
  return record(loss, 'crossEntropy', [rows], (g) => {
    const s1 = unsqueeze(mul(g, wt), 1);
    return [sub(mul(softmax(x, -1), s1), scatterAdd(zeros(x.shape, { dtype: x.dtype, device: x.device }), 1, unsqueeze(target, 1), s1))];
  });
}

/** Rejects class indices outside [0, C) (other than the ignored ones) where values can be read synchronously. */
function checkTargets(t: Tensor, valid: Tensor, C: number): void {
  if (!getBackend(t.device).readSync) return;
  const bad = logicalAnd(valid, logicalAnd(ge(t, 0), lt(t, C)).logicalNot());
  if (anyOf(bad).item()) {
    const vals = t.dataSync();
    const mask = bad.dataSync();
    const i = mask.findIndex((m) => m !== 0);
    throw new Error(`crossEntropy: target ${vals[i]} is out of bounds for ${C} classes (at position ${i})`);
  }
}

/** Mean squared error, as torch.nn.functional.mse_loss. */
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  if (!sameShape(input.shape, target.shape)) throw new Error(`mseLoss: input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  const d = sub(input, target);
  return reduce('mseLoss', mul(d, d), opts.reduction ?? 'mean');
}

/** Sigmoid + binary cross entropy in one stable expression, as torch.nn.functional.binary_cross_entropy_with_logits. */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  if (!sameShape(input.shape, target.shape)) throw new Error(`binaryCrossEntropyWithLogits: target ${fmtShape(target.shape)} must have the same shape as input ${fmtShape(input.shape)}`);
  const x = cast(input, computeDtype(isFloating(input.dtype) ? input.dtype : 'float32'));
  const t = cast(target, x.dtype);
  // log(1 + e^-|x|) + max(-x, 0) is log(1 + e^-x) without overflow
  const softplusNeg = add(log1p(exp(neg(abs(x)))), relu(neg(x)));
  const logWeight = opts.posWeight ? add(mul(sub(opts.posWeight, 1), t), 1) : null;
  let loss = add(mul(sub(1, t), x), logWeight ? mul(logWeight, softplusNeg) : softplusNeg);
  if (opts.weight) loss = mul(loss, opts.weight);
  return reduce('binaryCrossEntropyWithLogits', loss, opts.reduction ?? 'mean');
}
