// Adam and AdamW, with torch.optim's exact update order (bias corrections folded into step size and denominator).
import { adamStep_, keep, maximum, zerosLike, type Tensor } from '@tensorzoo/tensor';
import { Optimizer, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.js';

/** Adam / AdamW hyperparameters. */
export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

function check(name: string, o: AdamOptions): void {
  if (!(o.lr >= 0)) throw new Error(`${name}: invalid learning rate ${o.lr}`);
  if (!(o.eps >= 0)) throw new Error(`${name}: invalid epsilon ${o.eps}`);
  for (const b of o.betas) if (!(b >= 0 && b < 1)) throw new Error(`${name}: invalid beta ${b} (must be in [0, 1))`);
  if (!(o.weightDecay >= 0)) throw new Error(`${name}: invalid weight decay ${o.weightDecay}`);
}

/** Sets state[key] to next(previous value): in place when it exists, else a new tensor kept past the step's scope. */
function inPlace(st: ParamState, key: string, next: (prev: Tensor | undefined) => Tensor): Tensor {
  const prev = st[key] as Tensor | undefined;
  const value = next(prev);
  if (prev) return prev.copy_(value);
  st[key] = keep(value);
  return value;
}

/**
 * One Adam update; `decoupled` applies weight decay to the weights (AdamW) instead of the gradient (Adam). Without
 * amsgrad it is one fused in-place op over the parameter and its moments (nothing returned).
 */
function adamUpdate(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<AdamOptions>, decoupled: boolean): Tensor | void {
  const [b1, b2] = g.betas;
  if (!g.amsgrad) {
    const step = ((st.step as number | undefined) ?? 0) + 1;
    // Pinned as the parameters are, so the fused update reads and writes the moments in place (no copies per step).
    const m = (st.expAvg as Tensor | undefined) ?? (st.expAvg = keep(zerosLike(p).pin_()));
    const v = (st.expAvgSq as Tensor | undefined) ?? (st.expAvgSq = keep(zerosLike(p).pin_()));
    adamStep_(p, grad, m, v, { lr: g.lr, beta1: b1, beta2: b2, eps: g.eps, weightDecay: g.weightDecay, decoupled, maximize: g.maximize, step });
    st.step = step;
    return;
  }
  let d = g.maximize ? grad.neg() : grad;
  let w = p;
  if (g.weightDecay !== 0) {
    if (decoupled) w = p.mul(1 - g.lr * g.weightDecay);
    else d = d.add(p.mul(g.weightDecay));
  }
  const step = ((st.step as number | undefined) ?? 0) + 1;
  const m = inPlace(st, 'expAvg', (prev) => (prev ? prev.mul(b1).add(d.mul(1 - b1)) : d.mul(1 - b1)));
  const v = inPlace(st, 'expAvgSq', (prev) => (prev ? prev.mul(b2).add(d.mul(d).mul(1 - b2)) : d.mul(d).mul(1 - b2)));
  st.step = step;
  const bc1 = 1 - b1 ** step;
  const bc2 = 1 - b2 ** step;
  const vv = g.amsgrad ? inPlace(st, 'maxExpAvgSq', (prev) => (prev ? maximum(prev, v) : v.clone())) : v;
  const denom = vv.sqrt().div(Math.sqrt(bc2)).add(g.eps);
  return w.sub(m.div(denom).mul(g.lr / bc1));
}

/** torch.optim.Adam (L2 weight decay added to the gradient). */
export class Adam extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    const d: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...opts };
    check('Adam', d);
    super(params, d);
  }
  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<AdamOptions>): Tensor | void {
    return adamUpdate(p, grad, st, g, false);
  }
}

/** torch.optim.AdamW (decoupled weight decay, default 0.01). */
export class AdamW extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    const d: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...opts };
    check('AdamW', d);
    super(params, d);
  }
  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<AdamOptions>): Tensor | void {
    return adamUpdate(p, grad, st, g, true);
  }
}
