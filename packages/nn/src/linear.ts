// Linear: y = x W^T + b with W stored [out, in], as torch.nn.Linear (and Hugging Face checkpoints).
import { linear, meta, zeros, type DType, type Generator, type Tensor } from '@tensorzoo/tensor';
import { fanIn, kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';

/** Options shared by layers that create parameters. */
export interface LayerOptions {
  dtype?: DType;
  /** Source of the initial values (the default generator otherwise). */
  generator?: Generator;
  /** Create placeholder parameters without memory or initialization, to be filled by loadStateDict({ assign: true }). */
  meta?: boolean;
}

/** A parameter tensor: zeros to be initialized, or a memoryless placeholder when `opts.meta`. */
export function newParam(shape: number[], opts: LayerOptions): Tensor {
  return opts.meta ? meta(shape, { dtype: opts.dtype }) : zeros(shape, { dtype: opts.dtype });
}

/** A fully connected layer. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  /** `opts.weight` shares an existing [out, in] tensor (tied weights: one tensor, gradients summed). */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LayerOptions & { bias?: boolean; weight?: Tensor } = {}) {
    super();
    if (opts.weight && opts.weight.shape.join(',') !== `${outFeatures},${inFeatures}`) {
      throw new Error(`Linear: shared weight has shape [${opts.weight.shape.join(',')}], expected [${outFeatures},${inFeatures}]`);
    }
    this.weight = this.registerParameter('weight', opts.weight ?? newParam([outFeatures, inFeatures], opts));
    this.bias = this.registerParameter('bias', opts.bias === false ? null : newParam([outFeatures], opts));
    if (opts.meta || opts.weight) return;
    // torch's reset_parameters: kaiming_uniform(a=sqrt(5)) for W, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for b
    kaimingUniform_(this.weight, { a: Math.sqrt(5) }, opts.generator);
    if (this.bias) {
      const fi = fanIn(this.weight);
      const bound = fi > 0 ? 1 / Math.sqrt(fi) : 0;
      uniform_(this.bias, -bound, bound, opts.generator);
    }
  }

  /** x [..., in] -> [..., out] */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
