// The additive attention mask of eager attention (transformers' masking_utils / modeling_attn_mask_utils).
import { tensor, type Tensor } from '@tensorzoo/tensor';

/** What HF adds for a hidden key: torch.finfo(float32).min, not -inf, so fully masked rows stay finite. */
export const MASK_MIN = -3.4028234663852886e38;

/**
 * The additive mask [b, 1, s, past + s] of HF's eager attention: MASK_MIN where key j is in the future of query i
 * or is padding, else 0. Null when nothing is hidden.
 */
export function buildCausalMask(batch: number, seq: number, past: number, attentionMask: Tensor | null): Tensor | null {
  const total = past + seq;
  const am = attentionMask?.dataSync();
  if (am && am.length !== batch * total) throw new Error(`attention_mask: expected shape [${batch},${total}], got [${attentionMask!.shape.join(',')}]`);
  const hidden = (b: number, i: number, j: number) => j > past + i || (am !== undefined && am[b * total + j] === 0);
  let any = false;
  const m = new Float32Array(batch * seq * total);
  for (let b = 0; b < batch; b++) for (let i = 0; i < seq; i++) for (let j = 0; j < total; j++) {
    if (hidden(b, i, j)) {
      m[(b * seq + i) * total + j] = MASK_MIN;
      any = true;
    }
  }
  return any ? tensor(m, { shape: [batch, 1, seq, total] }) : null;
}
