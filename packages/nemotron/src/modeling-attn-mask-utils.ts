// The additive attention mask of eager attention (transformers' masking_utils / modeling_attn_mask_utils).
import { arange, eq, full, gt, logicalOr, where, type Device, type Tensor } from '@tensorzoo/tensor';

/** What HF adds for a hidden key: torch.finfo(float32).min, not -inf, so fully masked rows stay finite. */
export const MASK_MIN = -3.4028234663852886e38;

/**
 * The additive mask [b, 1, s, past + s] of HF's eager attention: MASK_MIN where key j is in the future of query i
 * or is padding (attentionMask [b, past + s], 0 = padding), else 0. Built with tensor ops on `device`, where the
 * attention mask already is (no host round trip). Null when nothing can be hidden (one query and no padding mask).
 */
export function buildCausalMask(batch: number, seq: number, past: number, attentionMask: Tensor | null, device: Device): Tensor | null {
  const total = past + seq;
  if (attentionMask && (attentionMask.shape[0] !== batch || attentionMask.shape[1] !== total)) {
    throw new Error(`attention_mask: expected shape [${batch},${total}], got [${attentionMask.shape.join(',')}]`);
  }
  if (!attentionMask && seq === 1) return null; // the one query sees every cached key
  const future = gt(arange(0, total, 1, { dtype: 'int32', device }).reshape(1, total), arange(past, total, 1, { dtype: 'int32', device }).reshape(seq, 1)); // [s, total]
  const hidden = attentionMask ? logicalOr(future, eq(attentionMask, 0).reshape(batch, 1, total)) : future.expand(batch, seq, total);
  // a tensor, not the number: MASK_MIN is an integer-valued double, which where() would take for an int32 scalar
  return where(hidden, full([], MASK_MIN, { device }), 0).unsqueeze(1);
}
