// Rotary position embeddings as transformers' NemotronRotaryEmbedding: default RoPE only (v4.56 ignores
// rope_scaling for Nemotron), applied to the first rotary_dim channels of each head, NeoX "rotate_half" layout.
import { applyRotaryEmb, arange, cat, cos, keep, noGrad, pow, sin, type Tensor } from '@tensorzoo/tensor';
import type { NemotronConfig } from './configuration-nemotron.js';

/** Computes cos/sin tables for given positions. */
export class NemotronRotaryEmbedding {
  /** 1 / theta^(2i/d), float32 as in HF. [d/2] */
  invFreq: Tensor;

  constructor(config: NemotronConfig) {
    const d = config.rotary_dim;
    // HF: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), all float32
    this.invFreq = noGrad(() => pow(config.rope_theta, arange(0, d, 2).float().div(d)).reciprocal());
  }

  /** positionIds [b, s] (int32) -> cos, sin [b, s, rotary_dim] (float32). */
  forward(positionIds: Tensor): { cos: Tensor; sin: Tensor } {
    return noGrad(() => {
      // moved on first use; kept, since this may run inside a caller's tidy() (e.g. a generation step)
      const inv = this.invFreq.device === positionIds.device ? this.invFreq : (this.invFreq = keep(this.invFreq.to(positionIds.device)));
      const freqs = positionIds.float().unsqueeze(-1).mul(inv); // [b, s, d/2]
      const emb = cat([freqs, freqs], -1); // [b, s, d]
      return { cos: cos(emb), sin: sin(emb) };
    });
  }
}

/**
 * Rotates the first cos.shape[-1] channels of q and k ([b, heads, s, head_dim]) and passes the rest through,
 * as Nemotron's apply_rotary_pos_emb. cos/sin are [b, s, d] and broadcast over heads.
 */
export function applyRotaryPosEmb(q: Tensor, k: Tensor, cosT: Tensor, sinT: Tensor): [Tensor, Tensor] {
  const c = cosT.unsqueeze(1);
  const s = sinT.unsqueeze(1);
  return [applyRotaryEmb(q, c, s), applyRotaryEmb(k, c, s)];
}
