// PEFT's ModulesToSaveWrapper (utils/other.py): a module trained in full beside the adapter (e.g. a classification
// head). The original stays untouched under original_module; a trainable copy under modules_to_save.<adapter> runs.
import { noGrad, type Tensor } from '@tensorzoo/tensor';
import { Linear, Module, ModuleDict } from '@tensorzoo/nn';

/** An independent trainable copy of a Linear (the modules PEFT users save in practice: score, classifier, lm_head). */
function copyLinear(m: Module, name: string): Linear {
  if (!(m instanceof Linear)) throw new Error(`modules_to_save: '${name}' is a ${m.constructor.name}; only Linear modules can be saved in full here`);
  const copy = new Linear(m.inFeatures, m.outFeatures, { bias: m.bias !== null, meta: true });
  noGrad(() => copy.loadStateDict(new Map([...m.stateDict()].map(([k, t]) => [k, t.clone()])), { assign: true }));
  copy.requiresGrad_(true);
  return copy;
}

/** Holds the original module and the trained copy that forward uses. */
export class ModulesToSaveWrapper extends Module {
  readonly original_module: Linear;
  readonly modules_to_save: ModuleDict<Linear>;

  constructor(original: Module, readonly adapterName: string, name: string) {
    super();
    const copy = copyLinear(original, name);
    this.original_module = this.registerModule('original_module', original as Linear);
    this.modules_to_save = this.registerModule('modules_to_save', new ModuleDict({ [adapterName]: copy }));
  }

  /** The copy that is trained, saved and used. */
  get active(): Linear {
    return this.modules_to_save.get(this.adapterName);
  }
  get weight(): Tensor {
    return this.active.weight;
  }
  get bias(): Tensor | null {
    return this.active.bias;
  }
  get inFeatures(): number {
    return this.active.inFeatures;
  }
  get outFeatures(): number {
    return this.active.outFeatures;
  }

  /** The trained copy's forward. */
  forward(x: Tensor): Tensor {
    return this.active.forward(x);
  }
}
