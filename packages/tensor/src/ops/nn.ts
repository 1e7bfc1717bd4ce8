// Neural-network functions with fused kernels: softmax, log-softmax, layer norm, and attention built on them.
import { isGradEnabled, record } from '../autograd.js';
import { computeDtype, isFloating } from '../dtype.js';
import { fmtShape, normDim, sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, cast, exp, mul, neg, sub, where } from './elementwise.js';
import { maskedFill } from './indexing.js';
import { cat, tril } from './join.js';
import { matmul } from './linalg.js';
import { mean, sum } from './reduce.js';
import { full, ones } from '../creation.js';
import { backendOf, wrap } from './util.js';
import { contiguous, expand, narrow, reshape, transpose, unsqueeze } from './view.js';
import { logicalNot } from './elementwise.js';

function floatInput(x: Tensor): Tensor {
  return cast(x, isFloating(x.dtype) ? computeDtype(x.dtype) : 'float32');
}

function softmaxImpl(x: Tensor, dim: number, log: boolean): Tensor {
  const xc = floatInput(x);
  const d = normDim(log ? 'logSoftmax' : 'softmax', dim, x.ndim);
  const moved = x.ndim === 0 ? xc.detach() : transpose(xc.detach(), d, -1);
  const be = backendOf('softmax', xc);
  const r = wrap(be.softmax(moved, log, xc.dtype), moved.shape);
  const y = (x.ndim === 0 ? r : transpose(r, d, -1)).detach();
  return record(y, log ? 'logSoftmax' : 'softmax', [xc], (g) => {
    if (be.softmaxBackward) {
      const gm = x.ndim === 0 ? g : transpose(g, d, -1);
      const dx = wrap(be.softmaxBackward(gm, r, log, xc.dtype), moved.shape);
      return [x.ndim === 0 ? dx : transpose(dx, d, -1)];
    }
    return log ? [sub(g, mul(exp(y), sum(g, d, true)))] : [mul(y, sub(g, sum(mul(g, y), d, true)))];
  });
}

/** exp(x) / sum(exp(x)) along dim, computed stably. */
export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl(x, dim, false);
}

/** log(softmax(x)) along dim, computed stably. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl(x, dim, true);
}

/** Layer normalization over the trailing `normalizedShape` dims, as torch.nn.functional.layer_norm. */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const nd = normalizedShape.length;
  const tail = x.shape.slice(x.ndim - nd);
  if (nd === 0 || nd > x.ndim || !sameShape(tail, normalizedShape)) {
    throw new Error(`layerNorm: normalizedShape ${fmtShape(normalizedShape)} does not match the trailing dims of input ${fmtShape(x.shape)}`);
  }
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && !sameShape(p.shape, normalizedShape)) throw new Error(`layerNorm: ${name} ${fmtShape(p.shape)} must have shape ${fmtShape(normalizedShape)}`);
  }
  const xc = floatInput(x);
  const w = weight ? cast(weight, xc.dtype) : null;
  const b = bias ? cast(bias, xc.dtype) : null;
  const be = backendOf('layerNorm', xc, w, b);
  const out = be.layerNorm(xc, nd, w && contiguous(w.detach()), b && contiguous(b.detach()), eps, xc.dtype);
  const y = wrap(out.y, x.shape);
  const statShape = [...x.shape.slice(0, x.ndim - nd), ...normalizedShape.map(() => 1)];
  const mu = wrap(out.mean, statShape);
  const rstd = wrap(out.rstd, statShape);
  const dims = normalizedShape.map((_, i) => x.ndim - nd + i);
  const lead = x.shape.slice(0, x.ndim - nd).map((_, i) => i);
  const inputs = [xc, ...(w ? [w] : []), ...(b ? [b] : [])];
  return record(y, 'layerNorm', inputs, (g) => {
    if (be.layerNormBackward) {
      const r = be.layerNormBackward(g, xc, mu, rstd, w && contiguous(w.detach()), nd, !!w?.requiresGrad, !!b?.requiresGrad, xc.dtype);
      const grads: (Tensor | null)[] = [wrap(r.dx, x.shape)];
      if (w) grads.push(r.dweight && wrap(r.dweight, normalizedShape));
      if (b) grads.push(r.dbias && wrap(r.dbias, normalizedShape));
      return grads;
    }
    const xhat = mul(sub(xc, mu), rstd);
    const gxhat = w ? mul(g, w) : g;
    const gx = mul(rstd, sub(sub(gxhat, mean(gxhat, dims, true)), mul(xhat, mean(mul(gxhat, xhat), dims, true))));
    const grads: Tensor[] = [gx];
    // sum over an empty dim list would reduce every dim, so with no leading dims the per-row terms are the grads
    if (w) grads.push(lead.length ? sum(mul(g, xhat), lead) : mul(g, xhat));
    if (b) grads.push(lead.length ? sum(g, lead) : g);
    return grads;
  });
}

/** Options of scaledDotProductAttention, as torch's. */
export interface AttentionOptions {
  /** bool: true where a query may attend to a key; float: added to the scores. Broadcasts to [..., L, S]. */
  attnMask?: Tensor | null;
  /** A top-left aligned causal mask (query i sees keys 0..i). */
  isCausal?: boolean;
  /** Multiplies q @ k^T; defaults to 1 / sqrt(head_dim). */
  scale?: number;
  /** Lets k/v have fewer heads than q (grouped-query attention); each k/v head serves heads/kvHeads query heads. */
  enableGqa?: boolean;
}

/** softmax(q @ k^T * scale + mask) @ v over [..., heads, L, E] inputs, as torch.nn.functional.scaled_dot_product_attention. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  if (q.ndim < 2 || k.ndim < 2 || v.ndim < 2) throw new Error(`scaledDotProductAttention: q, k, v need at least 2 dims, got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  const E = q.shape[q.ndim - 1]!;
  if (k.shape[k.ndim - 1] !== E) throw new Error(`scaledDotProductAttention: q ${fmtShape(q.shape)} and k ${fmtShape(k.shape)} must share the last dim`);
  if (k.shape[k.ndim - 2] !== v.shape[v.ndim - 2]) throw new Error(`scaledDotProductAttention: k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} must have the same sequence length`);
  if (opts.isCausal && opts.attnMask) throw new Error('scaledDotProductAttention: pass either attnMask or isCausal, not both (as torch)');
  const fused = fusedAttention(q, k, v, opts);
  if (fused) return fused;
  let kk = k;
  let vv = v;
  if (opts.enableGqa && q.ndim >= 3) {
    const hq = q.shape[q.ndim - 3]!;
    const hk = k.shape[k.ndim - 3]!;
    if (hq % hk !== 0) throw new Error(`scaledDotProductAttention: ${hq} query heads are not a multiple of ${hk} key/value heads`);
    kk = repeatHeads(k, hq / hk);
    vv = repeatHeads(v, hq / hk);
  }
  const L = q.shape[q.ndim - 2]!;
  const S = kk.shape[kk.ndim - 2]!;
  const scale = opts.scale ?? 1 / Math.sqrt(E);
  let scores = mul(matmul(q, transpose(kk, -1, -2)), scale);
  if (opts.isCausal) scores = maskedFill(scores, logicalNot(tril(ones([L, S], { dtype: 'bool', device: q.device }))), -Infinity);
  if (opts.attnMask) {
    const m = opts.attnMask;
    scores = m.dtype === 'bool' ? maskedFill(scores, logicalNot(m), -Infinity) : add(scores, m);
  }
  return matmul(softmax(scores, -1), vv);
}

/**
 * The backend's fused kernel when it has one and nothing needs a gradient: [B, H, L, E] (or [H, L, E]) inputs of one
 * batch size, q float32, k and v float32, bfloat16 or float16; a mask the same for every head (a padding or causal
 * mask [B, 1, L, S], [L, S], ...), bool or float, or isCausal (the kernel's own). Null when the composite must run.
 */
function fusedAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor | null {
  const be = backendOf('scaledDotProductAttention', q, k, v);
  if (!be.attention || q.ndim !== k.ndim || q.ndim !== v.ndim || (q.ndim !== 3 && q.ndim !== 4)) return null;
  // keys and values may be stored 16-bit (a bfloat16 / float16 KV cache): the kernels decode them as they read
  const kvOk = (t: Tensor) => t.dtype === 'float32' || t.dtype === 'bfloat16' || t.dtype === 'float16';
  if (q.dtype !== 'float32' || !kvOk(k) || !kvOk(v)) return null;
  if (k.shape[k.ndim - 2] === 0 || q.shape[q.ndim - 2] === 0) return null;
  const m = opts.attnMask ?? null;
  if (isGradEnabled() && [q, k, v, m].some((t) => t?.requiresGrad)) return null;
  const [q4, k4, v4] = q.ndim === 3 ? [q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)] : [q, k, v];
  const [B, hq, L, E] = q4.shape as [number, number, number, number];
  const [hk, S] = [k4.shape[1]!, k4.shape[2]!];
  if (q4.shape[0] !== k4.shape[0] || k4.shape[0] !== v4.shape[0] || v4.shape[1] !== hk || v4.shape[3] !== E) return null;
  if (hq !== hk && !(opts.enableGqa && hq % hk === 0)) return null;
  // a mask that differs between heads, or has dims past [B, H, L, S], keeps the composite
  if (m && (m.ndim > 4 || (m.ndim >= 3 && m.shape[m.ndim - 3] !== 1) || (m.ndim === 4 && m.shape[0] !== 1 && m.shape[0] !== B) || m.device !== q.device)) return null;
  let mask: Tensor | null = null;
  if (m) {
    // additive float32, as the composite adds it: a bool mask hides its false entries with -inf
    const f32 = { dtype: 'float32', device: m.device } as const;
    const additive = m.dtype === 'bool' ? where(m, full([], 0, f32), full([], -Infinity, f32)) : cast(m, 'float32');
    try {
      mask = expand(reshape(additive, [...Array<number>(4 - m.ndim).fill(1), ...m.shape]), [B, 1, L, S]);
    } catch {
      return null; // does not broadcast: the composite reports it
    }
  }
  const out = be.attention(q4, k4, v4, opts.scale ?? 1 / Math.sqrt(E), opts.isCausal ?? false, mask, 'float32');
  return wrap(out, q.shape);
}

/** [..., h, S, E] -> [..., h * n, S, E], each head repeated n times in place (torch.repeat_interleave on the head dim). */
export function repeatHeads(x: Tensor, n: number): Tensor {
  if (n === 1) return x;
  const s = x.shape;
  const d = x.ndim - 3;
  const e = expand(unsqueeze(x, d + 1), [...s.slice(0, d + 1), n, ...s.slice(d + 1)]);
  return reshape(e, [...s.slice(0, d), s[d]! * n, ...s.slice(d + 1)]);
}

/**
 * Rotary position embedding as transformers' apply_rotary_pos_emb (NeoX layout): x * cos + rotate_half(x) * sin on the
 * first d = cos.shape[-1] channels of x's last dim (rotate_half(x) = [-x[d/2:d], x[:d/2]]), the other channels passed
 * through (partial rotary). cos and sin broadcast against x's leading dims. One fused kernel where the backend has one
 * and nothing needs a gradient.
 */
export function applyRotaryEmb(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const D = x.shape[x.ndim - 1];
  const d = cos.shape[cos.ndim - 1];
  if (D === undefined || d === undefined || d % 2 !== 0 || d > D || !sameShape(cos.shape, sin.shape)) {
    throw new Error(`applyRotaryEmb: cos ${fmtShape(cos.shape)} and sin ${fmtShape(sin.shape)} must have the same shape, with an even last dim of at most x's ${fmtShape(x.shape)}`);
  }
  const fused = rotaryFused(x, cos, sin, d);
  if (fused) return fused;
  const xr = d === D ? x : narrow(x, -1, 0, d);
  const h = d / 2;
  const rotated = cat([neg(narrow(xr, -1, h, h)), narrow(xr, -1, 0, h)], -1);
  const emb = add(mul(xr, cos), mul(rotated, sin));
  return d === D ? emb : cat([emb, narrow(x, -1, d, D - d)], -1);
}

function rotaryFused(x: Tensor, cos: Tensor, sin: Tensor, d: number): Tensor | null {
  const be = backendOf('applyRotaryEmb', x, cos, sin);
  if (!be.rotaryEmbedding || (x.dtype !== 'float32' && x.dtype !== 'float64') || cos.dtype !== x.dtype || sin.dtype !== x.dtype) return null;
  if (isGradEnabled() && (cos.requiresGrad || sin.requiresGrad)) return null;
  if (cos.ndim > x.ndim) return null;
  const shape = [...x.shape.slice(0, -1), d];
  const rotate = (v: Tensor, s: Tensor) => wrap(be.rotaryEmbedding!(v, expand(cos, shape), expand(s, shape), x.dtype), x.shape);
  // d/dx is the rotation's transpose, the same kernel with sin replaced by -[sin[d/2:], sin[:d/2]] (pass-through
  // channels copy the gradient as they copy x).
  return record(rotate(x.detach(), sin), 'applyRotaryEmb', [x], (g) => {
    const h = d / 2;
    return [rotate(g, neg(cat([narrow(sin, -1, h, h), narrow(sin, -1, 0, h)], -1)))];
  });
}
