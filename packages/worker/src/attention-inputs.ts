// What the attention segments read besides x and the KV cache, filled once per step (every
// layer reads the same): the RoPE cos/sin of each token and the additive mask of each
// sequence. Both come from the functions the reference forward uses (ropeAngles,
// attendedSlots), so the worker and the reference rotate and mask alike.
import ort from 'onnxruntime-node';
import { attendedSlots, ropeAngles } from '@octoserve/model';
import { floats, type RowBuffer } from './row-buffer.js';

/** One sequence's part of a step, as far as its attention inputs go. */
export interface AttentionRows {
  positions: ArrayLike<number>;   // [T] absolute positions
  treeMask?: ArrayLike<number>;   // [T, T] 1 where token i attends token j (j <= i); omitted = causal
  cache: { length: number };      // committed KV slots before this step
}

export class AttentionInputs {
  /** [maxTokens, headDim]: cos(pos * invFreq) of each element's pair (the graphs' rope, blocks.ts). */
  readonly cos: RowBuffer<Float32Array>;
  readonly sin: RowBuffer<Float32Array>;   // [maxTokens, headDim]
  private readonly pairCos: Float32Array;  // [headDim / 2] one token's angles, per pair
  private readonly pairSin: Float32Array;
  /**
   * [maxTokens, maxSeq + maxTokens]: the sequence whose rows start at r keeps its mask
   * [T, maxSeq + T] (0 attended, -inf not: cache slots, then the new tokens) from r * stride.
   */
  private readonly maskData: Float32Array;
  private readonly stride: number;
  private readonly masks = new Map<number, ort.Tensor>();
  private readonly slots: Int32Array;      // [maxSeq + maxTokens] attended slots of one token

  constructor(
    private readonly maxSeq: number, maxTokens: number, private readonly headDim: number, private readonly invFreq: Float32Array,
    private readonly layout: 'interleaved' | 'half',
  ) {
    this.cos = floats(maxTokens, headDim);
    this.sin = floats(maxTokens, headDim);
    this.pairCos = new Float32Array(headDim / 2);
    this.pairSin = new Float32Array(headDim / 2);
    this.stride = maxSeq + maxTokens;
    this.maskData = new Float32Array(maxTokens * this.stride);
    this.slots = new Int32Array(maxSeq + maxTokens);
  }

  /** Fills the cos/sin rows [offset, offset + T) and the mask of the sequence whose rows start at offset. */
  fill(seq: AttentionRows, offset: number): void {
    const { maxSeq, slots } = this;
    const hd = this.headDim;
    const T = seq.positions.length;
    const past = seq.cache.length;
    const cols = maxSeq + T;
    const mask = this.maskData;
    for (let t = 0; t < T; t++) {
      // RoPE angles of this token's position, each pair's on both of its elements
      ropeAngles(this.pairCos, this.pairSin, this.invFreq, seq.positions[t]!);
      this.spread(this.pairCos, this.cos.data, (offset + t) * hd);
      this.spread(this.pairSin, this.sin.data, (offset + t) * hd);
      // mask row: 0 at the slots it attends (cache slot s: column s; new token j: column maxSeq + j)
      const row = offset * this.stride + t * cols;
      mask.fill(-Infinity, row, row + cols);
      const n = attendedSlots(slots, past, seq.treeMask, t, T);
      for (let k = 0; k < n; k++) {
        const s = slots[k]!;
        mask[row + (s < past ? s : maxSeq + s - past)] = 0;
      }
    }
  }

  /** out[at ...] ← each pair's value on its two elements: (2i, 2i + 1) interleaved, (i, i + headDim/2) half. */
  private spread(pairs: Float32Array, out: Float32Array, at: number): void {
    const half = pairs.length;
    for (let i = 0; i < half; i++) {
      const v = pairs[i]!;
      if (this.layout === 'interleaved') { out[at + 2 * i] = v; out[at + 2 * i + 1] = v; }
      else { out[at + i] = v; out[at + i + half] = v; }
    }
  }

  /** The mask [T, maxSeq + T] of the sequence whose rows start at offset. */
  mask(T: number, offset: number): ort.Tensor {
    const key = offset * 65536 + T;
    let m = this.masks.get(key);
    if (m === undefined) {
      const start = offset * this.stride;
      const cols = this.maxSeq + T;
      m = new ort.Tensor('float32', this.maskData.subarray(start, start + T * cols), [T, cols]);
      this.masks.set(key, m);
    }
    return m;
  }
}
