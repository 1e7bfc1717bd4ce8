// @tensorzoo/nn: PyTorch-shaped modules, layers, losses, optimizers and schedules.
export { Module, type LoadOptions, type LoadResult } from './module.js';
export { HookError, type ForwardHook, type ForwardPreHook, type HookOptions, type RemovableHandle } from './hooks.js';
export { Linear, newParam, type LayerOptions } from './linear.js';
export { Embedding, toIds, type Ids } from './embedding.js';
export { LayerNorm } from './layer-norm.js';
export { Dropout } from './dropout.js';
export { LoraLinear, type LoraLayerOptions } from './lora.js';
export { Sequential, ModuleList, ModuleDict, type TensorModule } from './containers.js';
export { ReLU, ReLU2, GELU, SiLU, Tanh, Sigmoid, ACT2FN, getActivation } from './activations.js';
export { CrossEntropyLoss, MSELoss, BCEWithLogitsLoss } from './loss.js';
export * as init from './init.js';
export { Optimizer, type OptimizerStateDict, type ParamGroup, type ParamState, type ParamsInput } from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, AdamW, type AdamOptions } from './optim/adam.js';
export { clipGradNorm_, clipGradValue_ } from './optim/clip.js';
export { LambdaLR, getLinearScheduleWithWarmup, getCosineScheduleWithWarmup } from './optim/schedule.js';
export { saveTrainingState, loadTrainingState, type TrainingState } from './checkpoint.js';
