// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (no host synchronization).
import { clamp, noGrad, stack, tidy, zeros, type Tensor } from '@tensorzoo/tensor';

/**
 * Scales all gradients in place so their joint p-norm is at most maxNorm; returns the norm before clipping (0-d tensor).
 * `normType` may be Infinity.
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, normType = 2): Tensor {
  // tidy: the per-gradient norms and scaled copies are freed at once (GPU memory is not garbage collected)
  return noGrad(() => tidy(() => {
    const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
    if (grads.length === 0) return zeros([]);
    const norms = grads.map((g) => (normType === Infinity ? g.abs().amax() : g.abs().pow(normType).sum().pow(1 / normType)));
    const all = stack(norms);
    const total = normType === Infinity ? all.amax() : all.pow(normType).sum().pow(1 / normType);
    // torch: clip_coef = max_norm / (total + 1e-6), clamped to 1 so small gradients are left as they are
    const coef = clamp(total.add(1e-6).reciprocal().mul(maxNorm), null, 1);
    for (const g of grads) g.copy_(g.mul(coef));
    return total;
  }));
}

/** Clamps every gradient element to [-clipValue, clipValue] in place. */
export function clipGradValue_(params: Iterable<Tensor>, clipValue: number): void {
  noGrad(() => tidy(() => {
    for (const p of params) if (p.grad) p.grad.copy_(clamp(p.grad, -clipValue, clipValue));
  }));
}
