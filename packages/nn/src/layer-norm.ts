// LayerNorm over the trailing dims, as torch.nn.LayerNorm.
import { layerNorm, meta, ones, zeros, type Tensor } from '@tensorzoo/tensor';
import type { LayerOptions } from './linear.js';
import { Module } from './module.js';

/** Layer normalization with optional learned scale and shift. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(normalizedShape: number | number[], readonly eps = 1e-5, opts: LayerOptions & { elementwiseAffine?: boolean; bias?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    const affine = opts.elementwiseAffine ?? true;
    const make = (fill: typeof ones) => (opts.meta ? meta(this.normalizedShape, { dtype: opts.dtype }) : fill(this.normalizedShape, { dtype: opts.dtype }));
    this.weight = this.registerParameter('weight', affine ? make(ones) : null);
    this.bias = this.registerParameter('bias', affine && opts.bias !== false ? make(zeros) : null);
  }

  /** Normalizes x over its trailing normalizedShape dims. */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}
