// Runs one rank's shard of the model for a step: the segments between all-reduces.
//
// Per layer: attention segment (once per sequence: attention reads that
// sequence's KV cache) → all-reduce → feed-forward segment (all rows at once) →
// all-reduce. Then the head segment. Exactly two all-reduces per layer.
import ort from 'onnxruntime-node';
import { buildAttentionSegment, buildFeedForwardSegment, buildHeadSegment } from './onnx/segments.js';
import type { HeadShardWeights, LayerShardWeights, SegmentShape } from './onnx/segments.js';
import type { KvCache } from './kv-cache.js';

/** What the runtime needs of a communicator: an in-place sum across ranks. */
export interface AllReducer {
  /** Sums `data` across ranks in place; every rank ends with the same bits. */
  allReduce(data: Float32Array): Promise<unknown>;
}

export interface ShardWeights {
  embedding: Float32Array;        // [vocab, dim], replicated on every rank
  layers: LayerShardWeights[];
  head: HeadShardWeights;
  vocabRows: number;              // this rank's rows of the LM head
}

export interface RuntimeOptions {
  maxTokens: number;              // most new tokens in one step (all sequences together)
  topK: number;                   // local top-k returned per position
  maxPicked: number;              // most named token ids per position
  ropeFreqs: Float32Array;        // [headDim / 2] rotation frequency of each pair
  threads?: number;
  /** 'cpu' (default) or 'cuda' / 'cuda:I' (onnxruntime's CUDA provider, when installed). */
  device?: string;
}

/** onnxruntime execution providers for a device name. */
export function executionProviders(device = 'cpu'): ort.InferenceSession.ExecutionProviderConfig[] {
  const cuda = /^cuda(?::(\d+))?$/.exec(device);
  if (cuda !== null) return [{ name: 'cuda', deviceId: Number(cuda[1] ?? 0) }];
  if (device !== 'cpu') throw new Error(`unknown device '${device}': use cpu, cuda or cuda:I`);
  return ['cpu'];
}

/** One sequence's part of a step. */
export interface SequenceStep {
  cache: KvCache;
  tokens: ArrayLike<number>;      // [T] new token ids
  positions: ArrayLike<number>;   // [T] absolute positions (past + depth for tree nodes)
  /** [T, T] row-major, 1 where new token i may attend new token j; omitted = causal. */
  treeMask?: ArrayLike<number>;
  /** Softmax temperature of the returned sumexp pieces and draws (0 or omitted: 1). */
  temperature?: number;
  /** [T] uniforms in [0, 1) of each token's local draw (omitted: 0). */
  uniforms?: ArrayLike<number>;
}

/** Head outputs for every row of the step, in sequence order: views into runtime buffers. */
export interface StepOutputs {
  rows: number;
  max: Float32Array;              // [rows]
  argmax: BigInt64Array;          // [rows] local row index
  topkValues: Float32Array;       // [rows, topK]
  topkIndices: BigInt64Array;     // [rows, topK] local row indices
  sumexp: Float32Array;           // [rows]
  sumexpLogit: Float32Array;      // [rows]
  picked: Float32Array;           // [rows, maxPicked]
  hidden: Float32Array;           // [rows, dim] final-norm hidden states
  sample: BigInt64Array;          // [rows] local row drawn from softmax(logits / temperature) over this rank's rows
  /** With Medusa heads: [rows, heads * medusaTopK] local values and row indices, head-major. */
  medusaValues?: Float32Array;
  medusaIndices?: BigInt64Array;
}

/** A preallocated [maxRows, width] buffer with cached ort.Tensor views of row ranges: no allocation per step. */
class RowBuffer<A extends Float32Array | BigInt64Array> {
  private readonly views = new Map<number, ort.Tensor>();
  constructor(readonly data: A, readonly width: number) {}
  rows(n: number, offset = 0): ort.Tensor {
    const key = offset * 65536 + n;
    let t = this.views.get(key);
    if (t === undefined) {
      const view = this.data.subarray(offset * this.width, (offset + n) * this.width);
      t = new ort.Tensor(view instanceof BigInt64Array ? 'int64' : 'float32', view as Float32Array, [n, this.width]);
      this.views.set(key, t);
    }
    return t;
  }
  array(n: number, offset = 0): A {
    return this.data.subarray(offset * this.width, (offset + n) * this.width) as A;
  }
}

const floats = (rows: number, width: number): RowBuffer<Float32Array> => new RowBuffer(new Float32Array(rows * width), width);
const longs = (rows: number, width: number): RowBuffer<BigInt64Array> => new RowBuffer(new BigInt64Array(rows * width), width);

export class ShardRuntime {
  private readonly hA: RowBuffer<Float32Array>;         // [maxTokens, dim] residual stream, ping
  private readonly hB: RowBuffer<Float32Array>;         // pong
  private readonly partialAttn: RowBuffer<Float32Array>; // [maxTokens, dim] all-reduced in place
  private readonly partialFfn: RowBuffer<Float32Array>;
  private readonly kNew: RowBuffer<Float32Array>;       // [maxTokens, nKv * headDim]
  private readonly vNew: RowBuffer<Float32Array>;
  private readonly cos: RowBuffer<Float32Array>;        // [maxTokens, headDim / 2]
  private readonly sin: RowBuffer<Float32Array>;
  private readonly masks = new Map<number, ort.Tensor>(); // T -> [T, maxSeq + T] view of maskData
  private readonly maskData: Float32Array;
  private readonly ids: RowBuffer<BigInt64Array>;       // [maxTokens, maxPicked]
  private readonly invTemp: RowBuffer<Float32Array>;    // [maxTokens, 1]
  private readonly uniforms: RowBuffer<Float32Array>;   // [maxTokens, 1]
  private readonly out: {
    max: RowBuffer<Float32Array>; argmax: RowBuffer<BigInt64Array>;
    topkValues: RowBuffer<Float32Array>; topkIndices: RowBuffer<BigInt64Array>;
    sumexp: RowBuffer<Float32Array>; sumexpLogit: RowBuffer<Float32Array>;
    picked: RowBuffer<Float32Array>; hidden: RowBuffer<Float32Array>; sample: RowBuffer<BigInt64Array>;
  };
  private readonly medusaOut: { values: RowBuffer<Float32Array>; indices: RowBuffer<BigInt64Array> } | undefined;
  private readonly cacheTensors = new Map<KvCache, { k: ort.Tensor[]; v: ort.Tensor[] }>();
  /** Time spent in onnxruntime and in all-reduce during the last step. */
  readonly timings = { computeMs: 0, allReduceMs: 0, allReduces: 0 };

  private constructor(
    readonly shape: SegmentShape,
    private readonly weights: ShardWeights,
    private readonly opts: RuntimeOptions,
    private readonly attention: ort.InferenceSession[],
    private readonly feedForward: ort.InferenceSession[],
    private readonly headSession: ort.InferenceSession,
  ) {
    const { dim, headDim, maxSeq, nKvHeads } = shape;
    const n = opts.maxTokens;
    this.hA = floats(n, dim); this.hB = floats(n, dim);
    this.partialAttn = floats(n, dim); this.partialFfn = floats(n, dim);
    this.kNew = floats(n, nKvHeads * headDim); this.vNew = floats(n, nKvHeads * headDim);
    this.cos = floats(n, headDim / 2); this.sin = floats(n, headDim / 2);
    this.maskData = new Float32Array(n * (maxSeq + n));
    this.ids = longs(n, opts.maxPicked);
    this.invTemp = floats(n, 1);
    this.uniforms = floats(n, 1);
    this.out = {
      max: floats(n, 1), argmax: longs(n, 1), topkValues: floats(n, opts.topK), topkIndices: longs(n, opts.topK),
      sumexp: floats(n, 1), sumexpLogit: floats(n, 1), picked: floats(n, opts.maxPicked), hidden: floats(n, dim), sample: longs(n, 1),
    };
    const medusa = weights.head.medusa;
    if (medusa !== undefined) {
      const width = medusa.heads.length * medusa.topK;
      this.medusaOut = { values: floats(n, width), indices: longs(n, width) };
    }
  }

  static async create(shape: SegmentShape, weights: ShardWeights, opts: RuntimeOptions): Promise<ShardRuntime> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      executionProviders: executionProviders(opts.device),
    };
    const load = (bytes: Uint8Array): Promise<ort.InferenceSession> => ort.InferenceSession.create(bytes, sessionOptions);
    const attention: ort.InferenceSession[] = [];
    const feedForward: ort.InferenceSession[] = [];
    for (const [l, w] of weights.layers.entries()) {
      attention.push(await load(buildAttentionSegment(`layer${l}_attention`, shape, w)));
      feedForward.push(await load(buildFeedForwardSegment(`layer${l}_ffn`, shape, w)));
    }
    const head = await load(buildHeadSegment('head', shape, weights.head, weights.vocabRows, opts.topK));
    return new ShardRuntime(shape, weights, opts, attention, feedForward, head);
  }

  /** ort.Tensor views of a cache's per-layer buffers, made once per cache. */
  private cacheViews(cache: KvCache): { k: ort.Tensor[]; v: ort.Tensor[] } {
    let views = this.cacheTensors.get(cache);
    if (views === undefined) {
      const { nKvHeads, headDim, maxSeq } = this.shape;
      views = {
        k: cache.k.map((k) => new ort.Tensor('float32', k, [nKvHeads, 1, headDim, maxSeq])),
        v: cache.v.map((v) => new ort.Tensor('float32', v, [nKvHeads, 1, maxSeq, headDim])),
      };
      this.cacheTensors.set(cache, views);
    }
    return views;
  }

  /** Forgets the tensor views of a cache that is being released. */
  forget(cache: KvCache): void {
    this.cacheTensors.delete(cache);
  }

  private maskRows(T: number): ort.Tensor {
    let t = this.masks.get(T);
    if (t === undefined) {
      const cols = this.shape.maxSeq + T;
      t = new ort.Tensor('float32', this.maskData.subarray(0, T * cols), [T, cols]);
      this.masks.set(T, t);
    }
    return t;
  }

  /**
   * Fills cos/sin rows and the additive mask [T, maxSeq + T] of one sequence's new
   * tokens: committed cache slots and visible new tokens 0, everything else -inf.
   */
  private prepareAttention(seq: SequenceStep): void {
    const { maxSeq, headDim } = this.shape;
    const half = headDim / 2;
    const T = seq.tokens.length;
    const cols = maxSeq + T;
    const cos = this.cos.data;
    const sin = this.sin.data;
    const mask = this.maskData;
    const freqs = this.opts.ropeFreqs;
    const past = seq.cache.length;
    for (let t = 0; t < T; t++) {
      const pos = seq.positions[t] as number;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(pos * (freqs[i] as number));
        cos[t * half + i] = Math.cos(angle);
        sin[t * half + i] = Math.sin(angle);
      }
      const row = t * cols;
      mask.fill(0, row, row + past);
      mask.fill(-Infinity, row + past, row + cols);
      for (let j = 0; j < T; j++) {
        const visible = seq.treeMask === undefined ? j <= t : (seq.treeMask[t * T + j] as number) !== 0;
        if (visible) mask[row + maxSeq + j] = 0;
      }
    }
  }

  private async reduce(buf: Float32Array, comm: AllReducer): Promise<void> {
    const t0 = performance.now();
    await comm.allReduce(buf);
    this.timings.allReduceMs += performance.now() - t0;
    this.timings.allReduces++;
  }

  private async run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>): Promise<void> {
    const t0 = performance.now();
    await session.run(feeds, fetches);
    this.timings.computeMs += performance.now() - t0;
  }

  /**
   * Runs one step for `seqs` (their tokens are rows [offset, offset + T) in order),
   * writes the new tokens' K/V into each cache at slots [length, length + T)
   * (the caller commits or compacts them), and returns the head outputs.
   * `picked` [rows, maxPicked]: local vocabulary rows whose logits to return.
   */
  async step(seqs: readonly SequenceStep[], comm: AllReducer, picked?: BigInt64Array): Promise<StepOutputs> {
    const { dim } = this.shape;
    this.timings.computeMs = 0; this.timings.allReduceMs = 0; this.timings.allReduces = 0;
    let rows = 0;
    for (const seq of seqs) rows += seq.tokens.length;
    if (rows > this.opts.maxTokens) throw new Error(`step has ${rows} tokens; this worker takes at most ${this.opts.maxTokens} per step`);

    // token embeddings: h [rows, dim]; the first delta is zero
    let cur = this.hA; let next = this.hB;
    const emb = this.weights.embedding;
    let r = 0;
    for (const seq of seqs) {
      seq.cache.reserve(seq.tokens.length);
      const t = seq.temperature ?? 0;
      this.invTemp.data.fill(t > 0 ? 1 / t : 1, r, r + seq.tokens.length);
      if (seq.uniforms === undefined) this.uniforms.data.fill(0, r, r + seq.tokens.length);
      else this.uniforms.data.set(seq.uniforms, r);
      for (let t = 0; t < seq.tokens.length; t++, r++) {
        const tok = seq.tokens[t] as number;
        cur.data.set(emb.subarray(tok * dim, (tok + 1) * dim), r * dim);
      }
    }
    this.partialFfn.array(rows).fill(0);

    for (let l = 0; l < this.attention.length; l++) {
      // attention: once per sequence, into its rows of the partial sum
      let offset = 0;
      for (const seq of seqs) {
        const T = seq.tokens.length;
        this.prepareAttention(seq);
        const cache = this.cacheViews(seq.cache);
        await this.run(this.attention[l] as ort.InferenceSession, {
          h: cur.rows(T, offset), delta: this.partialFfn.rows(T, offset),
          cos: this.cos.rows(T), sin: this.sin.rows(T), mask: this.maskRows(T),
          k_cache: cache.k[l] as ort.Tensor, v_cache: cache.v[l] as ort.Tensor,
        }, { h_out: next.rows(T, offset), partial: this.partialAttn.rows(T, offset), k_new: this.kNew.rows(T), v_new: this.vNew.rows(T) });
        seq.cache.write(l, this.kNew.data, this.vNew.data, T);
        offset += T;
      }
      await this.reduce(this.partialAttn.array(rows), comm);
      [cur, next] = [next, cur];
      // feed-forward: all rows at once
      await this.run(this.feedForward[l] as ort.InferenceSession,
        { h: cur.rows(rows), delta: this.partialAttn.rows(rows) },
        { h_out: next.rows(rows), partial: this.partialFfn.rows(rows) });
      await this.reduce(this.partialFfn.array(rows), comm);
      [cur, next] = [next, cur];
    }

    const o = this.out;
    if (picked === undefined) this.ids.array(rows).fill(0n);
    else this.ids.array(rows).set(picked.subarray(0, rows * this.opts.maxPicked));
    const m = this.medusaOut;
    await this.run(this.headSession, { h: cur.rows(rows), delta: this.partialFfn.rows(rows), ids: this.ids.rows(rows), inv_temp: this.invTemp.rows(rows), u: this.uniforms.rows(rows) }, {
      max: o.max.rows(rows), argmax: o.argmax.rows(rows), topk_values: o.topkValues.rows(rows), topk_indices: o.topkIndices.rows(rows),
      sumexp: o.sumexp.rows(rows), sumexp_logit: o.sumexpLogit.rows(rows), picked: o.picked.rows(rows), h_out: o.hidden.rows(rows), sample: o.sample.rows(rows),
      ...(m === undefined ? {} : { medusa_topk_values: m.values.rows(rows), medusa_topk_indices: m.indices.rows(rows) }),
    });
    return {
      rows, max: o.max.array(rows), argmax: o.argmax.array(rows), topkValues: o.topkValues.array(rows),
      topkIndices: o.topkIndices.array(rows), sumexp: o.sumexp.array(rows), sumexpLogit: o.sumexpLogit.array(rows),
      picked: o.picked.array(rows), hidden: o.hidden.array(rows), sample: o.sample.array(rows),
      ...(m === undefined ? {} : { medusaValues: m.values.array(rows), medusaIndices: m.indices.array(rows) }),
    };
  }
}
