// What the attention segments read besides x and the KV cache, filled once per step (every
// layer reads the same): the RoPE cos/sin of each token, one per pair (the graphs' rotary node
// pairs the elements by the model's layout), and the additive mask of each sequence. Both come
// from the functions the reference forward uses (ropeAngles, attendedSlots), so the worker and
// the reference rotate and mask alike.
import ort from 'onnxruntime-node';
import { attendedSlots, ropeAngles } from '@octoserve/model';
import { batchedFloats, type RowBuffer } from './row-buffer.js';

/** One sequence's part of a step, as far as its attention inputs go. */
export interface AttentionRows {
  positions: ArrayLike<number>;   // [T] absolute positions
  treeMask?: ArrayLike<number>;   // [T, T] 1 where token i attends token j (j <= i); omitted = causal
  cache: { length: number };      // committed KV slots before this step
}

export class AttentionInputs {
  /** [maxTokens, headDim / 2]: cos(pos * invFreq) of each pair, as [1, T, headDim / 2] tensors (the graphs' rope, blocks.ts). */
  readonly cos: RowBuffer<Float32Array>;
  readonly sin: RowBuffer<Float32Array>;   // [maxTokens, headDim / 2]
  /**
   * [maxTokens, maxSeq + maxTokens]: the sequence whose rows start at r keeps its mask
   * [T, maxSeq + T] (0 attended, -inf not: cache slots, then the new tokens) from r * stride.
   */
  private readonly maskData: Float32Array;
  private readonly stride: number;
  private readonly masks = new Map<number, ort.Tensor>();
  private readonly slots: Int32Array;      // [maxSeq + maxTokens] attended slots of one token

  constructor(private readonly maxSeq: number, maxTokens: number, headDim: number, private readonly invFreq: Float32Array) {
    this.cos = batchedFloats(maxTokens, headDim / 2);
    this.sin = batchedFloats(maxTokens, headDim / 2);
    this.stride = maxSeq + maxTokens;
    this.maskData = new Float32Array(maxTokens * this.stride);
    this.slots = new Int32Array(maxSeq + maxTokens);
  }

  /** Fills the cos/sin rows [offset, offset + T) and the mask of the sequence whose rows start at offset. */
  fill(seq: AttentionRows, offset: number): void {
    const { maxSeq, slots } = this;
    const T = seq.positions.length;
    const past = seq.cache.length;
    const cols = maxSeq + T;
    const mask = this.maskData;
    for (let t = 0; t < T; t++) {
      // RoPE angles of this token's position, one per pair
      ropeAngles(this.cos.data, this.sin.data, this.invFreq, seq.positions[t]!, (offset + t) * this.invFreq.length);
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
