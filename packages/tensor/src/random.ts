// Seeded randomness: xoshiro128** (32-bit integer arithmetic only, so every platform gives the same sequence).
import { getBackend, type Device } from './backend.js';
import { type DType } from './dtype.js';
import { checkShape, fmtShape, numel, type Shape } from './shape.js';
import type { Tensor } from './tensor.js';
import { encodeArray } from './creation.js';
import { div, lt, mul } from './ops/elementwise.js';
import { wrap } from './ops/util.js';

/** A reproducible random number source, as torch.Generator. */
export class Generator {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Resets the state from a seed (any integer up to 2^53). */
  manualSeed(seed: number): this {
    if (!Number.isSafeInteger(seed)) throw new Error(`Generator.manualSeed: seed must be a safe integer, got ${seed}`);
    // splitmix32 over both halves of the seed fills the state; never all zero
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) | 0, 0x9e3779b9);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
    this.spare = null;
    return this;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /** A uniform float64 in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal sample (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u = 1 - this.random(); // (0, 1]: log never sees 0
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.random();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }

  /** A uniform integer in [low, high). */
  integer(low: number, high: number): number {
    const span = high - low;
    if (span <= 2 ** 32) {
      // rejection sampling: no modulo bias
      const limit = Math.floor(2 ** 32 / span) * span;
      let x: number;
      do x = this.nextUint32();
      while (x >= limit);
      return low + (x % span);
    }
    return low + Math.floor(this.random() * span);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The generator used when none is passed. */
export const defaultGenerator = new Generator(0);

/** Reseeds the default generator, as torch.manual_seed. */
export function manualSeed(seed: number): Generator {
  return defaultGenerator.manualSeed(seed);
}

/** Options for the random creation functions. */
export interface RandomOptions {
  generator?: Generator;
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

function fill(op: string, shape: Shape, opts: RandomOptions, sample: (g: Generator) => number, defaultDtype: DType): Tensor {
  const s = checkShape(op, shape);
  const g = opts.generator ?? defaultGenerator;
  const vals = new Float64Array(numel(s));
  for (let i = 0; i < vals.length; i++) vals[i] = sample(g);
  const dtype = opts.dtype ?? defaultDtype;
  const t = wrap(getBackend(opts.device).upload(dtype, encodeArray(vals, dtype)), s);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Significand bits of each floating dtype: rand draws exactly that many so rounding to the dtype never gives 1.0. */
const RAND_BITS: Partial<Record<DType, number>> = { float32: 24, float16: 11, bfloat16: 8 };

/** Uniform samples in [0, 1) (multiples of 2^-p for a dtype with p significand bits, as torch). */
export function rand(shape: Shape, opts: RandomOptions = {}): Tensor {
  const bits = RAND_BITS[opts.dtype ?? 'float32'];
  if (bits === undefined) return fill('rand', shape, opts, (g) => g.random(), 'float32');
  const scale = 2 ** -bits;
  return fill('rand', shape, opts, (g) => (g.nextUint32() >>> (32 - bits)) * scale, 'float32');
}

/** Standard normal samples. */
export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  return fill('randn', shape, opts, (g) => g.normal(), 'float32');
}

/** Uniform integers in [low, high), int32 by default. */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) throw new Error(`randint: need integers low < high, got ${low} and ${high}`);
  return fill('randint', shape, opts, (g) => g.integer(low, high), 'int32');
}

/**
 * Draws `numSamples` category indices per row of non-negative weights `probs` ([C] or [N, C]), as torch.multinomial.
 * Reads probs synchronously (CPU).
 */
export function multinomial(probs: Tensor, numSamples: number, opts: { replacement?: boolean; generator?: Generator } = {}): Tensor {
  if (probs.ndim < 1 || probs.ndim > 2) throw new Error(`multinomial: probs must be 1-D or 2-D, got ${fmtShape(probs.shape)}`);
  const C = probs.shape[probs.ndim - 1]!;
  const N = probs.ndim === 2 ? probs.shape[0]! : 1;
  const replacement = opts.replacement ?? false;
  if (!Number.isInteger(numSamples) || numSamples <= 0) throw new Error(`multinomial: numSamples must be a positive integer, got ${numSamples}`);
  if (!replacement && numSamples > C) throw new Error(`multinomial: cannot sample ${numSamples} > ${C} categories without replacement`);
  const p = probs.dataSync();
  const g = opts.generator ?? defaultGenerator;
  const out = new Int32Array(N * numSamples);
  for (let r = 0; r < N; r++) {
    const w = Array.from(p.subarray(r * C, (r + 1) * C), Number);
    for (const v of w) if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`multinomial: probabilities must be finite and non-negative, got ${v} in row ${r}`);
    for (let k = 0; k < numSamples; k++) {
      const total = w.reduce((a, b) => a + b, 0);
      if (!(total > 0)) throw new Error(`multinomial: row ${r} has no positive probability left to sample from`);
      let u = g.random() * total;
      let pick = C - 1;
      for (let c = 0; c < C; c++) {
        if (w[c]! > 0 && u < w[c]!) {
          pick = c;
          break;
        }
        u -= w[c]!;
      }
      while (w[pick] === 0 && pick > 0) pick--; // rounding at the end must not land on a zero-weight class
      out[r * numSamples + k] = pick;
      if (!replacement) w[pick] = 0;
    }
  }
  return wrap(getBackend(probs.device).upload('int32', out), probs.ndim === 2 ? [N, numSamples] : [numSamples]);
}

/** Zeroes each element with probability p and scales the rest by 1/(1-p) in training mode, as torch.nn.functional.dropout. */
export function dropout(x: Tensor, p = 0.5, training = true, opts: { generator?: Generator } = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: probability has to be between 0 and 1, got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return mul(x, 0);
  const keep = lt(rand(x.shape, { generator: opts.generator, device: x.device }), 1 - p);
  return div(mul(x, keep), 1 - p);
}
