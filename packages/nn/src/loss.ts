// Losses as modules, wrapping the functions of @tensorzoo/tensor.
import { binaryCrossEntropyWithLogits, crossEntropy, mseLoss, type CrossEntropyOptions, type Reduction, type Tensor } from '@tensorzoo/tensor';
import { Module } from './module.js';

/** Cross entropy over class logits, as torch.nn.CrossEntropyLoss. */
export class CrossEntropyLoss extends Module {
  constructor(readonly options: CrossEntropyOptions = {}) { super(); }
  forward(input: Tensor, target: Tensor): Tensor { return crossEntropy(input, target, this.options); }
}

/** Mean squared error, as torch.nn.MSELoss. */
export class MSELoss extends Module {
  constructor(readonly options: { reduction?: Reduction } = {}) { super(); }
  forward(input: Tensor, target: Tensor): Tensor { return mseLoss(input, target, this.options); }
}

/** Sigmoid + binary cross entropy, as torch.nn.BCEWithLogitsLoss. */
export class BCEWithLogitsLoss extends Module {
  constructor(readonly options: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {}) { super(); }
  forward(input: Tensor, target: Tensor): Tensor { return binaryCrossEntropyWithLogits(input, target, this.options); }
}
