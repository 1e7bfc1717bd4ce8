// The key/value caches of autoregressive decoding (transformers' cache_utils): per layer, keys and values of every
// position seen so far, grown by each attention call through update(). DynamicCache concatenates (a new tensor per
// step); StaticCache writes into buffers of a fixed length allocated once, so a decode step copies only the new row.
import { cat, isGradEnabled, keep, zeros, type DType, type Tensor } from '@tensorzoo/tensor';

/** One layer's cached keys and values, [b, kv_heads, s_past, head_dim] each. */
export interface LayerCache {
  key: Tensor;
  value: Tensor;
}

/** Past keys and values of every layer; the cache owns them (update() frees what it replaces, dispose() the rest). */
export class DynamicCache {
  readonly layers: (LayerCache | null)[];
  constructor(numLayers: number) {
    this.layers = new Array<LayerCache | null>(numLayers).fill(null);
  }

  /** Number of cached positions (of layer `layerIdx`). */
  getSeqLength(layerIdx = 0): number {
    const l = this.layers[layerIdx];
    return l ? l.key.shape[2]! : 0;
  }

  /**
   * Appends this step's keys and values [b, kv_heads, s, head_dim] to layer `layerIdx`; returns all of them. The
   * previous tensors of the layer are freed, unless autograd is recording (a backward pass may still need them).
   */
  update(key: Tensor, value: Tensor, layerIdx: number): LayerCache {
    if (layerIdx < 0 || layerIdx >= this.layers.length) throw new Error(`DynamicCache: layer ${layerIdx} out of range for ${this.layers.length} layers`);
    const past = this.layers[layerIdx];
    const present = past ? { key: cat([past.key, key], 2), value: cat([past.value, value], 2) } : { key, value };
    this.layers[layerIdx] = present;
    if (past && !isGradEnabled()) {
      past.key.dispose();
      past.value.dispose();
    }
    return present;
  }

  /** Frees every cached tensor now (GPU memory is not garbage collected); the cache is empty afterwards. */
  dispose(): void {
    for (let i = 0; i < this.layers.length; i++) {
      this.layers[i]?.key.dispose();
      this.layers[i]?.value.dispose();
      this.layers[i] = null;
    }
  }
}

/** Options of StaticCache. */
export interface StaticCacheOptions {
  /**
   * Storage dtype of the cached keys and values: the first update's dtype by default; 'bfloat16' or 'float16' halve
   * the cache's memory and the bytes each decode step reads (values are rounded to it when written; attention reads
   * them decoded exactly, in float32).
   */
  dtype?: DType;
}

/**
 * A cache of at most `maxCacheLen` positions per layer (transformers' StaticCache), for inference: the first update
 * of a layer allocates its key and value buffers [b, kv_heads, maxCacheLen, head_dim]; each update copies the new
 * positions in place and the layer holds views of the filled prefix, so nothing is reallocated while decoding. The
 * buffers are pinned (Tensor.pin_), where the kernels read them without copying.
 */
export class StaticCache extends DynamicCache {
  private readonly buffers: (LayerCache | null)[];
  private readonly dtype: DType | undefined;
  constructor(numLayers: number, readonly maxCacheLen: number, opts: StaticCacheOptions = {}) {
    super(numLayers);
    if (!Number.isInteger(maxCacheLen) || maxCacheLen < 1) throw new Error(`StaticCache: maxCacheLen must be a positive integer, got ${maxCacheLen}`);
    const dt = opts.dtype;
    if (dt !== undefined && dt !== 'float32' && dt !== 'bfloat16' && dt !== 'float16' && dt !== 'float64') {
      throw new Error(`StaticCache: dtype must be a floating dtype (float32, bfloat16, float16, float64), got ${dt}`);
    }
    this.dtype = dt;
    this.buffers = new Array<LayerCache | null>(numLayers).fill(null);
  }

  /** Writes this step's keys and values [b, kv_heads, s, head_dim] after the cached ones; returns views of all of them. */
  override update(key: Tensor, value: Tensor, layerIdx: number): LayerCache {
    if (layerIdx < 0 || layerIdx >= this.layers.length) throw new Error(`StaticCache: layer ${layerIdx} out of range for ${this.layers.length} layers`);
    const past = this.getSeqLength(layerIdx);
    const s = key.shape[2]!;
    if (past + s > this.maxCacheLen) throw new Error(`StaticCache: ${past} cached + ${s} new positions exceed maxCacheLen ${this.maxCacheLen}`);
    let buf = this.buffers[layerIdx];
    if (!buf) {
      // Pinned (on CPU: the WebAssembly heap), so the fused attention reads the cached span in place instead of
      // copying it in on every call; dispose() returns the blocks.
      const alloc = (t: Tensor) => {
        const z = zeros([t.shape[0]!, t.shape[1]!, this.maxCacheLen, t.shape[3]!], { dtype: this.dtype ?? t.dtype, device: t.device });
        const pinned = z.detach().pin_();
        if (pinned.storage !== z.storage) z.dispose(); // the unpinned zeros, now unreferenced
        return keep(pinned); // outlives the step's tidy() scope: dispose() frees it
      };
      buf = this.buffers[layerIdx] = { key: alloc(key), value: alloc(value) };
    }
    buf.key.narrow(2, past, s).copy_(key);
    buf.value.narrow(2, past, s).copy_(value);
    const present = { key: buf.key.narrow(2, 0, past + s), value: buf.value.narrow(2, 0, past + s) };
    this.layers[layerIdx] = present;
    return present;
  }

  /** Frees the buffers now; the cache is empty afterwards. */
  override dispose(): void {
    this.layers.fill(null);
    for (let i = 0; i < this.buffers.length; i++) {
      this.buffers[i]?.key.dispose();
      this.buffers[i]?.value.dispose();
      this.buffers[i] = null;
    }
  }
}
