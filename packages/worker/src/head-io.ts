// The head segment's inputs and outputs, made once: the picked ids, temperatures and uniforms of
// a step's rows, the buffers its per-row results land in (and the Medusa heads' top-k), the fed
// classifier when there is one, and the feeds/fetches of each row range, reused every step.
import ort from 'onnxruntime-node';
import type { LocalStepRows } from '@octoserve/wire';
import { WCLS_FEED } from './onnx/segments.js';
import { floats, longs, rangeKey, type RowBuffer } from './row-buffer.js';

/** Feeds and fetches of one segment run over one row range: made once, reused every step. */
export interface SegmentIo {
  feeds: Record<string, ort.Tensor>;
  fetches: Record<string, ort.Tensor>;
}

/** A step's outputs: the rows the reply carries (@octoserve/wire's row layout), and the hidden states. */
export interface StepOutputs extends LocalStepRows {
  hidden: Float32Array;           // [rows, dim] final-norm hidden states
}

export interface HeadIoShape {
  maxTokens: number;
  dim: number;
  topK: number;
  maxPicked: number;
  /** The Medusa heads' top-k width (heads x k), when the shard has heads. */
  medusaWidth?: number;
  /** The float32 classifier [vocabRows, dim] the head graph takes as WCLS_FEED, when it is fed. */
  fedClassifier?: { rows: Float32Array; vocabRows: number };
}

export class HeadIo {
  readonly ids: RowBuffer<BigInt64Array>;      // [maxTokens, maxPicked]
  readonly invTemp: RowBuffer<Float32Array>;   // [maxTokens, 1]
  readonly uniforms: RowBuffer<Float32Array>;  // [maxTokens, 1]
  private readonly out: {
    max: RowBuffer<Float32Array>; argmax: RowBuffer<BigInt64Array>;
    topkValues: RowBuffer<Float32Array>; topkIndices: RowBuffer<BigInt64Array>;
    sumexp: RowBuffer<Float32Array>; sumexpLogit: RowBuffer<Float32Array>;
    picked: RowBuffer<Float32Array>; hidden: RowBuffer<Float32Array>; sample: RowBuffer<BigInt64Array>;
  };
  private readonly medusaOut: { values: RowBuffer<Float32Array>; indices: RowBuffer<BigInt64Array> } | undefined;
  /** Feeds every head run takes besides its rows: the fed classifier, when there is one. */
  private readonly constant: Record<string, ort.Tensor> = {};
  private readonly byRange = new Map<number, SegmentIo & { outputs: StepOutputs }>();

  constructor(private readonly s: HeadIoShape) {
    const n = s.maxTokens;
    this.ids = longs(n, s.maxPicked);
    this.invTemp = floats(n, 1);
    this.uniforms = floats(n, 1);
    this.out = {
      max: floats(n, 1), argmax: longs(n, 1), topkValues: floats(n, s.topK), topkIndices: longs(n, s.topK),
      sumexp: floats(n, 1), sumexpLogit: floats(n, 1), picked: floats(n, s.maxPicked), hidden: floats(n, s.dim), sample: longs(n, 1),
    };
    if (s.medusaWidth !== undefined) this.medusaOut = { values: floats(n, s.medusaWidth), indices: longs(n, s.medusaWidth) };
    const fed = s.fedClassifier;
    if (fed !== undefined) this.constant[WCLS_FEED] = new ort.Tensor('float32', fed.rows, [fed.vocabRows, s.dim]);
  }

  /** The ids: the local vocabulary rows whose logits each row returns (0 where none). */
  setPicked(rows: number, picked: BigInt64Array | undefined): void {
    const n = rows * this.s.maxPicked;
    const ids = this.ids.data;
    if (picked === undefined) ids.fill(0n, 0, n);
    else for (let i = 0; i < n; i++) ids[i] = picked[i]!;
  }

  /** The feeds and fetches over rows [offset, offset + rows) of the residual stream x: final norm and this rank's vocabulary rows. */
  over(x: RowBuffer<Float32Array>, rows: number, offset = 0): SegmentIo & { outputs: StepOutputs } {
    const key = rangeKey(rows, offset);
    let io = this.byRange.get(key);
    if (io === undefined) {
      const o = this.out;
      const m = this.medusaOut;
      const t = <A extends Float32Array | BigInt64Array>(b: RowBuffer<A>): ort.Tensor => b.rows(rows, offset);
      const a = <A extends Float32Array | BigInt64Array>(b: RowBuffer<A>): A => b.array(rows, offset);
      io = {
        feeds: { x: t(x), ids: t(this.ids), inv_temp: t(this.invTemp), u: t(this.uniforms), ...this.constant },
        fetches: {
          max: t(o.max), argmax: t(o.argmax), topk_values: t(o.topkValues), topk_indices: t(o.topkIndices),
          sumexp: t(o.sumexp), sumexp_logit: t(o.sumexpLogit), picked: t(o.picked), hidden: t(o.hidden), sample: t(o.sample),
          ...(m === undefined ? {} : { medusa_topk_values: t(m.values), medusa_topk_indices: t(m.indices) }),
        },
        outputs: {
          rows, max: a(o.max), argmax: a(o.argmax), topkValues: a(o.topkValues), topkIndices: a(o.topkIndices),
          sumexp: a(o.sumexp), sumexpLogit: a(o.sumexpLogit), picked: a(o.picked), hidden: a(o.hidden), sample: a(o.sample),
          ...(m === undefined ? {} : { medusaValues: a(m.values), medusaIndices: a(m.indices) }),
        },
      };
      this.byRange.set(key, io);
    }
    return io;
  }
}
