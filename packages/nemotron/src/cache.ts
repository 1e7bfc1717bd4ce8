// The key/value cache of autoregressive decoding (transformers' DynamicCache): per layer, keys and values of
// every position seen so far.
import type { LayerCache } from './layers.js';

/** Past keys and values of every layer. */
export class DynamicCache {
  readonly layers: (LayerCache | null)[];
  constructor(numLayers: number) {
    this.layers = new Array<LayerCache | null>(numLayers).fill(null);
  }
  /** Number of cached positions. */
  getSeqLength(): number {
    const l = this.layers[0];
    return l ? l.key.shape[2]! : 0;
  }
}
