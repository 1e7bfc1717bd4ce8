// The optimizer base: parameter groups with their hyperparameters, per-parameter state, and state dicts
// in torch's layout (parameters referred to by their position across groups).
import { noGrad, tidy, type Tensor } from '@tensorzoo/tensor';

/** Per-parameter optimizer state: tensors (moments, momentum buffers) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

/** A group of parameters sharing hyperparameters. */
export type ParamGroup<H> = H & { params: Tensor[] };

/** What a constructor accepts: parameters, or groups that override some defaults. */
export type ParamsInput<H> = Iterable<Tensor> | (Partial<H> & { params: Iterable<Tensor> })[];

/** An optimizer's serializable state, as torch's `optimizer.state_dict()`. */
export interface OptimizerStateDict<H> {
  state: Record<number, ParamState>;
  paramGroups: (H & { params: number[] })[];
}

/** Base class: subclasses implement `update` for one parameter. */
export abstract class Optimizer<H extends { lr: number }> {
  readonly paramGroups: ParamGroup<H>[];
  readonly state = new Map<Tensor, ParamState>();

  constructor(params: ParamsInput<H>, readonly defaults: H) {
    const list = [...(params as Iterable<Tensor | (Partial<H> & { params: Iterable<Tensor> })>)];
    const isGroups = list.length > 0 && !('storage' in (list[0] as object));
    const groups = isGroups ? (list as (Partial<H> & { params: Iterable<Tensor> })[]) : [{ params: list as Tensor[] } as unknown as Partial<H> & { params: Iterable<Tensor> }];
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g) => {
      const ps = [...new Set(g.params)]; // torch only warns about repeats within a group; they are dropped here
      for (const p of ps) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: some parameters appear in more than one parameter group`);
        seen.add(p);
        if (!p.isLeaf) throw new Error(`${this.constructor.name}: can't optimize a non-leaf tensor`);
      }
      return { ...defaults, ...g, params: ps } as ParamGroup<H>;
    });
    if (seen.size === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
  }

  /**
   * Clears every parameter's gradient (set to null, as torch's default set_to_none) and frees its memory at once
   * (GPU memory is not garbage collected): clone a gradient you want to keep past this call.
   */
  zeroGrad(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          if (!p.grad) continue;
          let st = this.state.get(p);
          if (!st) this.state.set(p, (st = {}));
          const grad = p.grad;
          // Every temporary of the update is freed here; the state is updated in place (new state tensors are kept).
          tidy(() => {
            const next = this.update(p, grad, st!, group);
            if (next) p.copy_(next);
          });
        }
      }
    });
  }

  /**
   * The new value of parameter p given its gradient, or nothing when the update wrote p in place. Updates `state` in
   * place (`copy_`); a state tensor created on the first step must be `keep()`-ed, since the update runs inside a
   * tidy scope.
   */
  protected abstract update(p: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<H>): Tensor | void;

  /** The state and hyperparameters, with parameters numbered in group order. */
  stateDict(): OptimizerStateDict<H> {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      return { ...(hyper as unknown as H), params: params.map((p) => { index.set(p, index.size); return index.size - 1; }) };
    });
    const state: Record<number, ParamState> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i !== undefined) state[i] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : v.clone()]));
    }
    return { state, paramGroups };
  }

  /** Restores a stateDict() taken from an optimizer over the same parameter layout. */
  loadStateDict(sd: OptimizerStateDict<H>): void {
    if (sd.paramGroups.length !== this.paramGroups.length) throw new Error(`${this.constructor.name}.loadStateDict: ${sd.paramGroups.length} parameter groups in the state dict, ${this.paramGroups.length} in the optimizer`);
    const params: Tensor[] = [];
    sd.paramGroups.forEach((g, i) => {
      const own = this.paramGroups[i]!;
      if (g.params.length !== own.params.length) throw new Error(`${this.constructor.name}.loadStateDict: group ${i} has ${g.params.length} parameters in the state dict, ${own.params.length} in the optimizer`);
      const { params: _ids, ...hyper } = g;
      Object.assign(own, hyper);
      params.push(...own.params);
    });
    this.state.clear();
    for (const [k, s] of Object.entries(sd.state)) {
      const p = params[Number(k)];
      if (!p) throw new Error(`${this.constructor.name}.loadStateDict: state for parameter ${k}, which does not exist`);
      for (const [name, v] of Object.entries(s)) {
        if (typeof v !== 'number' && v.shape.join(',') !== p.shape.join(',') ) throw new Error(`${this.constructor.name}.loadStateDict: state '${name}' of parameter ${k} has shape [${v.shape.join(',')}], parameter has [${p.shape.join(',')}]`);
      }
      // as torch: the state moves to its parameter's device
      this.state.set(p, Object.fromEntries(Object.entries(s).map(([n, v]) => [n, typeof v === 'number' ? v : v.device === p.device ? v.clone() : v.to(p.device)])));
    }
  }
}
