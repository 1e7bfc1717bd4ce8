// Embedding: a lookup table of row vectors, as torch.nn.Embedding.
import { embedding, ne, noGrad, tensor, where, type Tensor } from '@tensorzoo/tensor';
import { normal_ } from './init.js';
import { newParam, type LayerOptions } from './linear.js';
import { Module } from './module.js';

/** Integer ids of any shape, as a tensor or (nested) plain arrays. */
export type Ids = Tensor | number[] | number[][];

/** Turns plain id arrays into an int32 tensor. */
export function toIds(ids: Ids): Tensor {
  return Array.isArray(ids) ? tensor(ids, { dtype: 'int32' }) : ids;
}

/** A table of numEmbeddings vectors of size embeddingDim. */
export class Embedding extends Module {
  readonly weight: Tensor;
  readonly paddingIdx: number | null;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: LayerOptions & { paddingIdx?: number } = {}) {
    super();
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (pad < -numEmbeddings || pad >= numEmbeddings) throw new Error(`Embedding: paddingIdx ${pad} must be within num_embeddings ${numEmbeddings}`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    // Only looked up, never multiplied: it need not occupy kernel memory (a tied output projection pins it anyway).
    this.weight = this.registerParameter('weight', newParam([numEmbeddings, embeddingDim], opts), { pin: false });
    if (opts.meta) return;
    normal_(this.weight, 0, 1, opts.generator);
    if (pad !== null) noGrad(() => this.weight.narrow(0, pad, 1).copy_(0));
  }

  /** ids [...] -> [..., embeddingDim]; the padding row receives no gradient, as in torch. */
  forward(ids: Ids): Tensor {
    const t = toIds(ids);
    const y = embedding(t, this.weight);
    if (this.paddingIdx === null || !this.weight.requiresGrad) return y;
    const keep = ne(t, this.paddingIdx).unsqueeze(-1);
    return where(keep, y, y.detach());
  }
}
