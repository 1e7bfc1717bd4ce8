// Activations as modules (the functions themselves live in @tensorzoo/tensor).
import { gelu, relu, relu2, sigmoid, silu, tanh, type Tensor } from '@tensorzoo/tensor';
import { Module } from './module.js';

/** max(x, 0) */
export class ReLU extends Module {
  forward(x: Tensor): Tensor { return relu(x); }
}
/** relu(x)^2, Nemotron's MLP activation (transformers' ReLUSquaredActivation, "relu2"). */
export class ReLU2 extends Module {
  forward(x: Tensor): Tensor { return relu2(x); }
}
/** GELU, exact or tanh-approximated. */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); }
  forward(x: Tensor): Tensor { return gelu(x, { approximate: this.approximate }); }
}
/** x * sigmoid(x) */
export class SiLU extends Module {
  forward(x: Tensor): Tensor { return silu(x); }
}
/** Hyperbolic tangent. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor { return tanh(x); }
}
/** Logistic sigmoid. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { return sigmoid(x); }
}

/** Activation functions by the names Hugging Face configs use (`hidden_act`). */
export const ACT2FN: Readonly<Record<string, (x: Tensor) => Tensor>> = {
  relu,
  relu2,
  gelu: (x) => gelu(x),
  gelu_new: (x) => gelu(x, { approximate: 'tanh' }),
  gelu_pytorch_tanh: (x) => gelu(x, { approximate: 'tanh' }),
  silu,
  swish: silu,
  tanh,
  sigmoid,
};

/** The activation function for a config's `hidden_act`, or a clear error listing the known ones. */
export function getActivation(name: string): (x: Tensor) => Tensor {
  const f = ACT2FN[name];
  if (!f) throw new Error(`unknown activation '${name}'; known: ${Object.keys(ACT2FN).join(', ')}`);
  return f;
}
