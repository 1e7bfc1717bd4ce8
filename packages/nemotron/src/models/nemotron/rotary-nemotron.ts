// Rotary position embeddings as transformers' NemotronRotaryEmbedding: default RoPE only (v4.56 ignores
// rope_scaling for Nemotron), applied to the first rotary_dim channels of each head, NeoX "rotate_half" layout.
import { applyRotaryEmb, arange, cat, cos, keep, noGrad, pow, sin, tensor, tidy, type Device, type Tensor } from '@tensorzoo/tensor';
import type { NemotronConfig } from './configuration-nemotron.js';

/** Positions the rotary table holds at first (max_position_embeddings when fewer): 2 MiB at rotary_dim 64. */
const TABLE_POSITIONS = 4096;

/** Computes cos/sin tables for given positions. */
export class NemotronRotaryEmbedding {
  /** 1 / theta^(2i/d), float32 as in HF, as plain values: a device's copy is made from them, so none stays on the host. [d/2] */
  private readonly invFreqValues: Float32Array;
  /** invFreqValues on the device forward last ran on (null before the first forward). [d/2] */
  invFreq: Tensor | null = null;
  /** forward() of positions 0 .. positions - 1 on one device, [1, positions, d] each (null before the first range()). */
  private table: { cos: Tensor; sin: Tensor; positions: number } | null = null;
  private readonly maxPositions: number;

  constructor(config: NemotronConfig) {
    this.maxPositions = config.max_position_embeddings;
    const d = config.rotary_dim;
    // HF: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), all float32
    this.invFreqValues = tidy(() => Float32Array.from(noGrad(() => pow(config.rope_theta, arange(0, d, 2).float().div(d)).reciprocal()).dataSync() as Float32Array));
  }

  /** positionIds [b, s] (int32) -> cos, sin [b, s, rotary_dim] (float32). */
  forward(positionIds: Tensor): { cos: Tensor; sin: Tensor } {
    return noGrad(() => {
      if (this.invFreq?.device !== positionIds.device) {
        // made on first use of a device, the previous device's copy freed; kept, since this may run inside a caller's
        // tidy() (e.g. a generation step)
        this.invFreq?.dispose();
        this.invFreq = keep(tensor(this.invFreqValues, { device: positionIds.device }));
      }
      const inv = this.invFreq;
      const freqs = positionIds.float().unsqueeze(-1).mul(inv); // [b, s, d/2]
      const emb = cat([freqs, freqs], -1); // [b, s, d]
      return { cos: cos(emb), sin: sin(emb) };
    });
  }

  /**
   * forward() of positions start .. start + length - 1 in each of `batch` rows, [batch, length, d], as views of a table
   * computed once per device (for max_position_embeddings positions, more when asked): a decode step then costs no op
   * here, where forward() runs six. The table's elements are forward()'s, computed by the same elementwise ops.
   */
  range(start: number, length: number, batch: number, device: Device): { cos: Tensor; sin: Tensor } {
    return noGrad(() => {
      const end = start + length;
      let t = this.table;
      if (!t || t.cos.device !== device || t.positions < end) {
        const positions = Math.max(Math.min(this.maxPositions, TABLE_POSITIONS), 2 ** Math.ceil(Math.log2(Math.max(end, 1))), t && t.cos.device === device ? 2 * t.positions : 0);
        // kept: this may run inside a caller's tidy() (e.g. a generation step); the previous table is freed
        const made = tidy(() => this.forward(arange(0, positions, 1, { device }).unsqueeze(0)));
        t?.cos.dispose();
        t?.sin.dispose();
        t = this.table = { cos: keep(made.cos), sin: keep(made.sin), positions };
      }
      const d = t.cos.shape[2]!;
      return { cos: t.cos.narrow(1, start, length).expand(batch, length, d), sin: t.sin.narrow(1, start, length).expand(batch, length, d) };
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
