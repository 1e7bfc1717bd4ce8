// Optimizer updates as in-place ops: the Adam / AdamW step over one parameter, fused into one kernel where the
// device has it and composed of elementwise ops where it does not.
import { bumpVersion } from '../version.js';
import { noGrad } from '../autograd.js';
import type { AdamStepHyper } from '../backend.js';
import { fmtShape, sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { tidy } from '../tidy.js';
import { add, div, mul, neg, sqrt, sub } from './elementwise.js';
import { backendOf, requireFloat } from './util.js';
import { contiguous, copyInto } from './view.js';

/** Hyperparameters of one Adam / AdamW update (the backend's, less the bias corrections); `step` counts from 1. */
export interface AdamStepOptions extends Omit<AdamStepHyper, 'biasCorrection1' | 'biasCorrection2'> {
  step: number;
}

/**
 * One Adam (or AdamW) update in place, in torch.optim's order: expAvg and expAvgSq take the new moments and param
 * its new value. Autograd does not see it.
 */
export function adamStep_(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, o: AdamStepOptions): void {
  const b = backendOf('adamStep_', param, grad, expAvg, expAvgSq);
  for (const [name, t] of [['param', param], ['grad', grad], ['expAvg', expAvg], ['expAvgSq', expAvgSq]] as const) {
    requireFloat('adamStep_', t);
    if (t.dtype !== param.dtype) throw new Error(`adamStep_: ${name} is ${t.dtype}, param is ${param.dtype}`);
    if (!sameShape(t.shape, param.shape)) throw new Error(`adamStep_: ${name} ${fmtShape(t.shape)} must have the param's shape ${fmtShape(param.shape)}`);
  }
  const h: AdamStepHyper = {
    lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, decoupled: o.decoupled, maximize: o.maximize,
    biasCorrection1: 1 - o.beta1 ** o.step, biasCorrection2: 1 - o.beta2 ** o.step,
  };
  for (const t of [param, expAvg, expAvgSq]) bumpVersion(t.storage);
  noGrad(() => {
    if (b.adamStep?.(param, contiguous(grad), expAvg, expAvgSq, h)) return;
    tidy(() => {
      let d = o.maximize ? neg(grad) : grad;
      let w = param;
      if (o.weightDecay !== 0) {
        if (o.decoupled) w = mul(param, 1 - o.lr * o.weightDecay);
        else d = add(d, mul(param, o.weightDecay));
      }
      copyInto(expAvg, add(mul(expAvg, o.beta1), mul(d, 1 - o.beta1)));
      copyInto(expAvgSq, add(mul(expAvgSq, o.beta2), mul(mul(d, d), 1 - o.beta2)));
      const denom = add(div(sqrt(expAvgSq), Math.sqrt(h.biasCorrection2)), o.eps);
      copyInto(param, sub(w, mul(div(expAvg, denom), o.lr / h.biasCorrection1)));
    });
  });
}
