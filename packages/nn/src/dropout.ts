// Dropout as a module: active only in training mode.
import { dropout, type Generator, type Tensor } from '@tensorzoo/tensor';
import { Module } from './module.js';

/** Zeroes elements with probability p during training, scaling the rest by 1/(1-p). */
export class Dropout extends Module {
  constructor(readonly p = 0.5, private readonly generator?: Generator) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: probability has to be between 0 and 1, got ${p}`);
  }

  /** x unchanged in eval mode. */
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, { generator: this.generator });
  }
}
