// LoRA on a Linear, as Hugging Face PEFT's lora.Linear (tuners/lora/layer.py): the frozen base layer plus a
// low-rank update, y = base(x) + lora_B(lora_A(dropout(x))) * scaling, with the same module names (base_layer,
// lora_A.<adapter>, lora_B.<adapter>, lora_dropout.<adapter>) so state dict keys read like PEFT's.
import { matmul, noGrad, type DType, type Generator, type Tensor } from '@tensorzoo/tensor';
import { ModuleDict } from './containers.js';
import { Dropout } from './dropout.js';
import { kaimingUniform_, zeros_ } from './init.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** Settings of one LoRA adapter on one layer (PEFT's LoraLayer.update_layer arguments). */
export interface LoraLayerOptions {
  /** Rank of the update (a positive integer). */
  r: number;
  /** Scale numerator: scaling = loraAlpha / r (default 8, PEFT's). */
  loraAlpha?: number;
  /** Dropout probability on the adapter's input (default 0). */
  loraDropout?: number;
  /** rsLoRA: scaling = loraAlpha / sqrt(r). */
  useRslora?: boolean;
  /** PEFT's init_lora_weights: true = A kaiming-uniform(a = sqrt 5), B zeros (an identity update); false = both random. */
  initLoraWeights?: boolean;
  /** The adapter's name in lora_A / lora_B (PEFT's 'default'). */
  adapterName?: string;
  /** Source of A's (and dropout's) random numbers. */
  generator?: Generator;
}

/** The dtype of the adapter matrices: the base's when it computes in it, else float32 (PEFT's autocast_adapter_dtype). */
function adapterDtype(base: Tensor): DType {
  return base.dtype === 'float64' ? 'float64' : 'float32';
}

/** A Linear with a LoRA adapter; stands in for the Linear it wraps (weight, bias, features, forward). */
export class LoraLinear extends Module {
  readonly base_layer: Linear;
  readonly lora_A: ModuleDict<Linear>;
  readonly lora_B: ModuleDict<Linear>;
  readonly lora_dropout: ModuleDict<Dropout>;
  readonly adapterName: string;
  readonly r: number;
  readonly loraAlpha: number;
  readonly scaling: number;
  /** Whether the update is currently added into base_layer.weight (merge()) instead of computed in forward. */
  merged = false;
  /** When true, forward is the base layer's alone (PEFT's disable_adapter). */
  disableAdapters = false;

  constructor(base: Linear, opts: LoraLayerOptions) {
    super();
    const { r } = opts;
    if (!Number.isInteger(r) || r <= 0) throw new Error(`LoraLinear: r should be a positive integer, got ${r}`);
    this.adapterName = opts.adapterName ?? 'default';
    this.r = r;
    this.loraAlpha = opts.loraAlpha ?? 8;
    this.scaling = opts.useRslora ? this.loraAlpha / Math.sqrt(r) : this.loraAlpha / r;
    this.base_layer = this.registerModule('base_layer', base);
    const dtype = adapterDtype(base.weight);
    const g = opts.generator;
    const a = new Linear(base.inFeatures, r, { bias: false, dtype, generator: g });
    const b = new Linear(r, base.outFeatures, { bias: false, dtype, generator: g });
    // reset_lora_parameters(init_lora_weights=True): A as nn.Linear's default init, B zeros, so the update starts at 0
    if (opts.initLoraWeights ?? true) {
      kaimingUniform_(a.weight, { a: Math.sqrt(5) }, g);
      zeros_(b.weight);
    }
    this.lora_dropout = this.registerModule('lora_dropout', new ModuleDict({ [this.adapterName]: new Dropout(opts.loraDropout ?? 0, g) }));
    this.lora_A = this.registerModule('lora_A', new ModuleDict({ [this.adapterName]: a }));
    this.lora_B = this.registerModule('lora_B', new ModuleDict({ [this.adapterName]: b }));
  }

  /** The base layer's weight (as PEFT's BaseTunerLayer.weight, for code that reads proj.weight). */
  get weight(): Tensor {
    return this.base_layer.weight;
  }
  get bias(): Tensor | null {
    return this.base_layer.bias;
  }
  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }
  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }

  /** x [..., in] -> base(x) + B(A(dropout(x))) * scaling [..., out]. */
  forward(x: Tensor): Tensor {
    const result = this.base_layer.forward(x);
    if (this.merged || this.disableAdapters) return result;
    const k = this.adapterName;
    const a = this.lora_A.get(k);
    const h = this.lora_dropout.get(k).forward(x.dtype === a.weight.dtype ? x : x.to(a.weight.dtype));
    const update = this.lora_B.get(k).forward(a.forward(h)).mul(this.scaling);
    return result.add(update.dtype === result.dtype ? update : update.to(result.dtype));
  }

  /** The update as a weight, B A * scaling [out, in] (PEFT's get_delta_weight, fan_in_fan_out false). */
  getDeltaWeight(): Tensor {
    const k = this.adapterName;
    return matmul(this.lora_B.get(k).weight, this.lora_A.get(k).weight).mul(this.scaling);
  }

  /** Adds the update into the base weight, so forward costs what the plain Linear costs. */
  merge(): void {
    if (this.merged) return;
    this.addToBase(1);
    this.merged = true;
  }

  /** Subtracts a merged update from the base weight again. */
  unmerge(): void {
    if (!this.merged) return;
    this.addToBase(-1);
    this.merged = false;
  }

  private addToBase(sign: 1 | -1): void {
    noGrad(() => {
      const w = this.base_layer.weight;
      // as PEFT: the update is rounded to the weight's dtype first (bf16 stays bf16), then added
      let delta = this.getDeltaWeight();
      if (delta.dtype !== w.dtype) delta = delta.to(w.dtype);
      const sum = sign === 1 ? w.add(delta) : w.sub(delta);
      w.copy_(sum.dtype === w.dtype ? sum : sum.to(w.dtype));
    });
  }
}
