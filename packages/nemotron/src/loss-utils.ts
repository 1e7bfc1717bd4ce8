// The heads' losses as transformers' loss/loss_utils.py defines them: ForCausalLMLoss, ForSequenceClassificationLoss,
// ForTokenClassification, ForQuestionAnsweringLoss.
import { binaryCrossEntropyWithLogits, clamp, crossEntropy, mseLoss, pad, tensor, type Tensor } from '@tensorzoo/tensor';
import type { PretrainedConfig, ProblemType } from './configuration-utils.js';
import { toIntTensor, type IntInput } from './inputs.js';

/** Labels: a tensor, or plain arrays (integers for classes; nested floats for multi-label / regression targets). */
export type LabelInput = Tensor | number[] | number[][];

/** ForCausalLMLoss: logits at t scored against labels[t+1] (the model shifts), ignore -100, mean. */
export function causalLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const V = logits.shape[logits.ndim - 1]!;
  const shifted = pad(labels, [0, 1], { value: -100 }).narrow(-1, 1, labels.shape[labels.ndim - 1]!);
  return crossEntropy(logits.reshape(-1, V), shifted.reshape(-1), { ignoreIndex: -100 });
}

/** The problem type HF infers: num_labels 1 -> regression, integer labels -> single label, else multi label. */
function problemType(config: PretrainedConfig, labels: LabelInput): ProblemType {
  if (config.problem_type) return config.problem_type;
  if (config.num_labels === 1) return 'regression';
  // Plain arrays do not say int or float: a flat list is class ids, a nested [batch, num_labels] list is multi-hot.
  const isInt = Array.isArray(labels) ? !Array.isArray(labels[0]) : labels.dtype === 'int32';
  return isInt ? 'single_label_classification' : 'multi_label_classification';
}

function toLabels(labels: LabelInput, type: ProblemType): Tensor {
  if (!Array.isArray(labels)) return type === 'single_label_classification' ? toIntTensor('labels', labels, labels.ndim) : labels.float();
  return tensor(labels as number[], { dtype: type === 'single_label_classification' ? 'int32' : 'float32' });
}

/** ForSequenceClassificationLoss on pooled logits [b, num_labels]: regression (MSE), single label (CE) or multi label (BCE). */
export function sequenceClassificationLoss(logits: Tensor, labels: LabelInput, config: PretrainedConfig): Tensor {
  const type = problemType(config, labels);
  const y0 = toLabels(labels, type);
  const y = y0.device === logits.device ? y0 : y0.to(logits.device);
  const L = config.num_labels;
  if (type === 'regression') return L === 1 ? mseLoss(logits.squeeze(), y.float().squeeze()) : mseLoss(logits, y.float());
  if (type === 'single_label_classification') return crossEntropy(logits.reshape(-1, L), y.reshape(-1), { ignoreIndex: -100 });
  return binaryCrossEntropyWithLogits(logits, y.float());
}

/** ForTokenClassification: cross entropy over logits [b, s, num_labels] against labels [b, s], ignore -100. */
export function tokenClassificationLoss(logits: Tensor, labels: IntInput): Tensor {
  const L = logits.shape[logits.ndim - 1]!;
  return crossEntropy(logits.reshape(-1, L), toIntTensor('labels', labels, 2, logits.device).reshape(-1), { ignoreIndex: -100 });
}

/** ForQuestionAnsweringLoss: (CE(start) + CE(end)) / 2 with positions clamped to [0, s] and s ignored. */
export function questionAnsweringLoss(startLogits: Tensor, endLogits: Tensor, startPositions: IntInput, endPositions: IntInput): Tensor {
  const s = startLogits.shape[1]!;
  const pos = (x: IntInput, name: string) => {
    const t = toIntTensor(name, x, Array.isArray(x) ? 1 : x.ndim, startLogits.device);
    return clamp(t.ndim > 1 ? t.squeeze(-1) : t, 0, s).int();
  };
  const ce = (l: Tensor, p: Tensor) => crossEntropy(l, p, { ignoreIndex: s });
  return ce(startLogits, pos(startPositions, 'start_positions')).add(ce(endLogits, pos(endPositions, 'end_positions'))).div(2);
}
