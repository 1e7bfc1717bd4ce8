// The key/value cache of autoregressive decoding (transformers' cache_utils.DynamicCache): per layer, keys and
// values of every position seen so far, grown by each attention call through update().
import { cat, isGradEnabled, type Tensor } from '@tensorzoo/tensor';

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
