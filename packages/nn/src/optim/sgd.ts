// Stochastic gradient descent with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD.
import { keep, type Tensor } from '@tensorzoo/tensor';
import { Optimizer, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.js';

/** SGD hyperparameters. */
export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** torch.optim.SGD. */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, opts: Partial<SGDOptions> = {}) {
    const d: SGDOptions = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts };
    if (d.lr < 0) throw new Error(`SGD: invalid learning rate ${d.lr}`);
    if (d.momentum < 0) throw new Error(`SGD: invalid momentum ${d.momentum}`);
    if (d.nesterov && (d.momentum <= 0 || d.dampening !== 0)) throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
    super(params, d);
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<SGDOptions>): Tensor {
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    if (g.momentum !== 0) {
      const prev = state.momentumBuffer as Tensor | undefined;
      // in place after the first step (torch's buf.mul_(momentum).add_(d, alpha=1-dampening))
      const buf = prev ? prev.copy_(prev.mul(g.momentum).add(d.mul(1 - g.dampening))) : (state.momentumBuffer = keep(d.clone()));
      d = g.nesterov ? d.add(buf.mul(g.momentum)) : buf;
    }
    return p.sub(d.mul(g.lr));
  }
}
