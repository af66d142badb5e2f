// One sequence's KV cache on one rank, preallocated for the model's whole context.
//
// Keys and values alike, one row per slot: k, v [layer][nKv, maxSeq, headDim]. The attention
// graph reads only the committed slots, so the pages of the slots a sequence has not reached yet
// are never touched (never resident), and a step's reads grow with the context, not maxSeq.
// Slots [0, length) hold committed tokens. A step's new tokens are written at
// [length, length + T); a Medusa step then keeps only the accepted ones, moved
// down in order by `compact`.

export interface KvShape {
  nLayers: number;
  nKvHeads: number;   // on this rank
  headDim: number;
  maxSeq: number;
}

export class KvCacheError extends Error {
  override name = 'KvCacheError';
}

export class KvCache {
  readonly k: Float32Array[];   // per layer: [nKv, maxSeq, headDim]
  readonly v: Float32Array[];   // per layer: [nKv, maxSeq, headDim]
  /** Committed slots. */
  length = 0;
  /** Slots written by the last step beyond `length` (candidates until compacted or committed). */
  pending = 0;

  constructor(readonly shape: KvShape) {
    const size = shape.nKvHeads * shape.headDim * shape.maxSeq;
    this.k = Array.from({ length: shape.nLayers }, () => new Float32Array(size));
    this.v = Array.from({ length: shape.nLayers }, () => new Float32Array(size));
  }

  /** Checks that `count` new tokens fit after the committed slots. */
  reserve(count: number): void {
    if (this.length + count > this.shape.maxSeq) {
      throw new KvCacheError(`sequence needs ${this.length + count} KV slots; the context holds ${this.shape.maxSeq}`);
    }
    this.pending = count;
  }

  /**
   * Writes the step's new keys/values of one layer at slots [length, length + T).
   * kNew, vNew: [T, nKv * headDim] as the attention segment returns them.
   */
  write(layer: number, kNew: Float32Array, vNew: Float32Array, tokens: number): void {
    const { nKvHeads, headDim, maxSeq } = this.shape;
    const k = this.k[layer] as Float32Array;
    const v = this.v[layer] as Float32Array;
    const row = nKvHeads * headDim;
    for (let t = 0; t < tokens; t++) {
      const slot = this.length + t;
      for (let g = 0; g < nKvHeads; g++) {
        // element by element: a subarray per head and token would allocate on every step
        const src = t * row + g * headDim;
        const dst = (g * maxSeq + slot) * headDim;
        for (let i = 0; i < headDim; i++) {
          k[dst + i] = kNew[src + i]!;
          v[dst + i] = vNew[src + i]!;
        }
      }
    }
  }

  /** Commits all pending slots (plain decoding and prefill). */
  commit(): void {
    this.length += this.pending;
    this.pending = 0;
  }

  /**
   * Keeps the pending slots `keep` (indices into the last step's tokens, ascending),
   * moved to [length, length + keep.length), and commits them; the rest are dropped.
   */
  compact(keep: ArrayLike<number>): void {
    const { nKvHeads, headDim, maxSeq, nLayers } = this.shape;
    for (let j = 0; j < keep.length; j++) {
      const i = keep[j] as number;
      if (i < j || i >= this.pending || (j > 0 && i <= (keep[j - 1] as number))) {
        throw new KvCacheError(`keep list [${Array.from(keep).join(', ')}] must be ascending indices below ${this.pending}`);
      }
      if (i === j) continue;
      const from = this.length + i;
      const to = this.length + j;
      for (let l = 0; l < nLayers; l++) {
        const k = this.k[l] as Float32Array;
        const v = this.v[l] as Float32Array;
        for (let g = 0; g < nKvHeads; g++) {
          k.copyWithin((g * maxSeq + to) * headDim, (g * maxSeq + from) * headDim, (g * maxSeq + from + 1) * headDim);
          v.copyWithin((g * maxSeq + to) * headDim, (g * maxSeq + from) * headDim, (g * maxSeq + from + 1) * headDim);
        }
      }
    }
    this.length += keep.length;
    this.pending = 0;
  }

  /** Forgets everything (the sequence ended); the memory is kept for reuse. */
  reset(): void {
    this.length = 0;
    this.pending = 0;
  }
}
