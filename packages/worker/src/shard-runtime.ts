// Runs one rank's shard of the model for a step: the reference forward (model/transformer.ts)
// applied to this rank's slices, with the two all-reduces of each layer in plain sight.
//
// Per layer (runLayer): attention segment (an ONNX run per sequence: attention reads that
// sequence's KV cache) → all-reduce → residual add → feed-forward segment (all rows at once)
// → all-reduce → residual add. Then the head segment.
// A single rank (tp = 1) has no all-reduce between the segments: with `stack` it runs the
// whole step as one graph per sequence (buildStackGraph), one onnxruntime call instead of
// 2 per layer + 1.
import { setImmediate as nextTurn } from 'node:timers/promises';
import ort from 'onnxruntime-node';
import type { LayerObserver } from '@octoserve/model';
import { AttentionInputs } from './attention-inputs.js';
import { buildAttentionSegment, buildFeedForwardSegment, buildHeadSegment, buildStackGraph, kvCacheShape, stackCacheNames } from './onnx/segments.js';
import { HeadIo, type SegmentIo, type StepOutputs } from './head-io.js';
import type { SegmentShape } from './onnx/segments.js';
import type { KvCache } from './kv-cache.js';
import { floats, rangeKey, type RowBuffer } from './row-buffer.js';
import { SegmentSession } from './onnx/segment-session.js';
import { describeShardWeights, shardWeightBytes, weightsForDevice } from './shard-quantize.js';
import type { ShardWeights } from './shard-weights.js';
import { StepSpans } from './step-spans.js';
import { TimedAllReducer, type AllReducer, type StepTimings } from './timed-all-reducer.js';
import type { SpanKind } from '@octoserve/wire';

export type { StepOutputs } from './head-io.js';

export interface RuntimeOptions {
  maxTokens: number;              // most new tokens in one step (all sequences together)
  topK: number;                   // local top-k returned per position
  maxPicked: number;              // most named token ids per position
  ropeFreqs: Float32Array;        // [headDim / 2] rotation frequency of each pair
  threads?: number;
  /** 'cpu' (default) or 'cuda' / 'cuda:I' (onnxruntime's CUDA provider, when installed). */
  device?: string;
  /**
   * Run each sequence's whole step as one graph (only for a single rank: its all-reduces are
   * no-ops). Sequences of one step then run one after another rather than batched through each
   * matmul, and the layer observer is not called.
   */
  stack?: boolean;
}

/** How a runtime runs a step: a graph per segment, or (a single rank) one graph for the whole step. */
type Sessions =
  | { kind: 'segments'; attention: SegmentSession[]; feedForward: SegmentSession[]; head: SegmentSession }
  | { kind: 'stack'; stack: SegmentSession };

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
  /** [T, dim] the new tokens' embedding rows (the coordinator's lookup), in token order. */
  x: Float32Array;
  positions: ArrayLike<number>;   // [T] absolute positions (past + depth for tree nodes)
  /** [T, T] row-major, 1 where new token i may attend new token j; omitted = causal. */
  treeMask?: ArrayLike<number>;
  /** Softmax temperature of the returned sumexp pieces and draws (0 or omitted: 1). */
  temperature?: number;
  /** [T] uniforms in [0, 1) of each token's local draw (omitted: 0). */
  uniforms?: ArrayLike<number>;
}

/** x[i] += partial[i]: the residual connection of a block whose output arrived by all-reduce. */
function addResidual(x: Float32Array, partial: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] = x[i]! + partial[i]!;
}

export class ShardRuntime {
  private readonly x: RowBuffer<Float32Array>;         // [maxTokens, dim] residual stream
  private readonly partial: RowBuffer<Float32Array>;   // [maxTokens, dim] this rank's block output, all-reduced in place
  private readonly kNew: RowBuffer<Float32Array>;      // [maxTokens, nKv * headDim] one sequence's new keys (after RoPE)
  private readonly vNew: RowBuffer<Float32Array>;      // [maxTokens, nKv * headDim]
  private readonly attn: AttentionInputs;              // cos/sin [maxTokens, headDim / 2], masks [T, maxSeq + T]
  private readonly head: HeadIo;
  private readonly cacheTensors = new Map<KvCache, { k: ort.Tensor[]; v: ort.Tensor[] }>();
  private readonly attentionIo = new Map<number, SegmentIo>();                            // by (T, offset)
  /** The committed slots of the sequence an attention run reads (its graph's `past`), set before each run. */
  private readonly past = new Int32Array(1);
  private readonly pastTensor = new ort.Tensor('int32', this.past, [1]);
  private readonly feedForwardIo = new Map<number, SegmentIo>();                          // by rows
  private readonly stackIo = new Map<number, SegmentIo>();                                // by (T, offset)
  /** Per layer, the stack graph's names of its cache and new keys/values, and where those land: [maxTokens, nKv * headDim] each. */
  private readonly stackKv: { names: ReturnType<typeof stackCacheNames>; k: RowBuffer<Float32Array>; v: RowBuffer<Float32Array> }[];
  /** Time spent in onnxruntime and in all-reduce during the last step. */
  readonly timings: StepTimings = { computeMs: 0, allReduceMs: 0, allReduces: 0, allReduceAlgorithm: '', allReduceBytes: 0 };
  /** The spans of the current step, when it is traced (the worker begins and encodes them). */
  readonly spans: StepSpans;
  private readonly reducer: TimedAllReducer;
  /** A debug hook: called with x [rows, dim] after every residual add (see LayerObserver). */
  observer: LayerObserver | undefined = undefined;

  /**
   * What the shard holds as this runtime's device runs it (weightsForDevice): its bytes, a line
   * for the load log, and whether 8-bit blocks were widened. The weights themselves live in
   * onnxruntime only: holding the arrays here too would keep every weight twice.
   */
  readonly held: { bytes: number; description: string; widened: boolean };
  /** [vocabRows, dim] this rank's rows of the token embedding (the greedy pick's). */
  readonly embedding: Float32Array;

  private constructor(
    readonly shape: SegmentShape,
    weights: ShardWeights,
    widened: boolean,
    private readonly opts: RuntimeOptions,
    private readonly sessions: Sessions,
  ) {
    this.held = { bytes: shardWeightBytes(weights), description: describeShardWeights(weights), widened };
    this.embedding = weights.embedding;
    const { dim, headDim, maxSeq, nKvHeads } = shape;
    const n = opts.maxTokens;
    this.spans = new StepSpans(StepSpans.capacityFor(weights.layers.length, n));
    this.reducer = new TimedAllReducer(this.timings, this.spans);
    this.x = floats(n, dim);
    this.partial = floats(n, dim);
    this.kNew = floats(n, nKvHeads * headDim); this.vNew = floats(n, nKvHeads * headDim);
    this.attn = new AttentionInputs(maxSeq, n, headDim, opts.ropeFreqs);
    const medusa = weights.head.medusa;
    this.head = new HeadIo({
      maxTokens: n, dim, topK: opts.topK, maxPicked: opts.maxPicked,
      ...(medusa === undefined ? {} : { medusaWidth: medusa.heads.length * medusa.topK }),
      ...(weights.head.wclsFed === true ? { fedClassifier: { rows: weights.embedding, vocabRows: weights.vocabRows } } : {}),
    });
    const stackLayers = sessions.kind === 'stack' ? weights.layers.length : 0;
    this.stackKv = Array.from({ length: stackLayers }, (_, l) => ({ names: stackCacheNames(l), k: floats(n, nKvHeads * headDim), v: floats(n, nKvHeads * headDim) }));
  }

  static async create(shape: SegmentShape, shard: ShardWeights, opts: RuntimeOptions): Promise<ShardRuntime> {
    const forDevice = weightsForDevice(shard, opts.device ?? 'cpu');
    // a float32 classifier that is also the embedding's rows is fed from that one array, not copied into onnxruntime
    const weights = forDevice.head.wcls === forDevice.embedding ? { ...forDevice, head: { ...forDevice.head, wclsFed: true } } : forDevice;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      executionProviders: executionProviders(opts.device),
    };
    // each graph loads synchronously; the event loop turns between them (health checks, a cancel)
    const load = async (bytes: Uint8Array): Promise<SegmentSession> => { await nextTurn(); return new SegmentSession(bytes, sessionOptions); };
    if (opts.stack === true) {
      const stack = await load(buildStackGraph('stack', shape, weights.layers, weights.head, weights.vocabRows, opts.topK));
      return new ShardRuntime(shape, weights, forDevice !== shard, opts, { kind: 'stack', stack });
    }
    const attention: SegmentSession[] = [];
    const feedForward: SegmentSession[] = [];
    for (const [l, w] of weights.layers.entries()) {
      attention.push(await load(buildAttentionSegment(`layer${l}_attention`, shape, w)));
      feedForward.push(await load(buildFeedForwardSegment(`layer${l}_ffn`, shape, w)));
    }
    const head = await load(buildHeadSegment('head', shape, weights.head, weights.vocabRows, opts.topK));
    return new ShardRuntime(shape, weights, forDevice !== shard, opts, { kind: 'segments', attention, feedForward, head });
  }

  /** How a step runs, for the load log: 'one graph per step' or 'N graphs per step'. */
  get graphs(): string {
    const s = this.sessions;
    return s.kind === 'stack' ? 'one graph per sequence and step' : `${2 * s.attention.length + 1} graphs per step`;
  }

  /** ort.Tensor views of a cache's per-layer buffers, made once per cache. */
  private cacheViews(cache: KvCache): { k: ort.Tensor[]; v: ort.Tensor[] } {
    let views = this.cacheTensors.get(cache);
    if (views === undefined) {
      const dims = kvCacheShape(this.shape);
      views = {
        k: cache.k.map((k) => new ort.Tensor('float32', k, dims)),
        v: cache.v.map((v) => new ort.Tensor('float32', v, dims)),
      };
      this.cacheTensors.set(cache, views);
    }
    return views;
  }

  /** Forgets the tensor views of a cache that is being released. */
  forget(cache: KvCache): void {
    this.cacheTensors.delete(cache);
  }

  private run(session: SegmentSession, io: SegmentIo, kind: SpanKind, layer: number): void {
    const t0 = performance.now();
    session.run(io.feeds, io.fetches);
    const t1 = performance.now();
    this.timings.computeMs += t1 - t0;
    this.spans.record(kind, layer, t0, t1);
  }

  /**
   * Runs one step for `seqs` (their tokens are rows [offset, offset + T) in order),
   * writes the new tokens' K/V into each cache at slots [length, length + T)
   * (the caller commits or compacts them), and returns the head outputs (views
   * into runtime buffers, overwritten by the next step).
   * `picked` [rows, maxPicked]: local vocabulary rows whose logits to return.
   */
  async step(seqs: readonly SequenceStep[], comm: AllReducer, picked?: BigInt64Array): Promise<StepOutputs> {
    this.timings.computeMs = 0; this.timings.allReduceMs = 0; this.timings.allReduces = 0; this.timings.allReduceBytes = 0;
    let rows = 0;
    for (const seq of seqs) rows += seq.tokens.length;
    if (rows > this.opts.maxTokens) throw new Error(`step has ${rows} tokens; this worker takes at most ${this.opts.maxTokens} per step`);

    this.embed(seqs);
    this.head.setPicked(rows, picked);
    const sessions = this.sessions;
    if (sessions.kind === 'stack') return this.stackStep(sessions.stack, seqs, rows);
    const reducer = this.reducer.over(comm);
    for (let l = 0; l < sessions.attention.length; l++) await this.runLayer(sessions, l, seqs, rows, reducer);
    const head = this.head.over(this.x, rows);
    this.run(sessions.head, head, 'head', -1);
    return head.outputs;
  }

  /** Each sequence's whole step in one run of the stack graph, its new K/V into its cache. */
  private stackStep(stack: SegmentSession, seqs: readonly SequenceStep[], rows: number): StepOutputs {
    let offset = 0;
    for (const seq of seqs) {
      const T = seq.tokens.length;
      const io = this.stackIoFor(T, offset);
      const cache = this.cacheViews(seq.cache);
      for (let l = 0; l < this.stackKv.length; l++) {
        const { names } = this.stackKv[l]!;
        io.feeds[names.kCache] = cache.k[l]!;
        io.feeds[names.vCache] = cache.v[l]!;
      }
      this.past[0] = seq.cache.length;
      this.run(stack, io, 'stack', -1);
      for (let l = 0; l < this.stackKv.length; l++) seq.cache.write(l, this.stackKv[l]!.k.data, this.stackKv[l]!.v.data, T);
      offset += T;
    }
    return this.head.over(this.x, rows).outputs;
  }

  private stackIoFor(T: number, offset: number): SegmentIo {
    const key = rangeKey(T, offset);
    let io = this.stackIo.get(key);
    if (io === undefined) {
      const head = this.head.over(this.x, T, offset);
      io = {
        feeds: { ...head.feeds, cos: this.attn.cos.rows(T, offset), sin: this.attn.sin.rows(T, offset), mask: this.attn.mask(T, offset), past: this.pastTensor },
        fetches: { ...head.fetches },
      };
      for (const { names, k, v } of this.stackKv) {
        io.fetches[names.kNew] = k.rows(T);
        io.fetches[names.vNew] = v.rows(T);
      }
      this.stackIo.set(key, io);
    }
    return io;
  }

  /**
   * One layer on this rank, as Transformer.runLayers does it for one token, over this rank's
   * slices (_r: its q/k/v heads and rows of w1/w3; its columns of wo and w2):
   *   x += allReduce(wo_r · attention(RoPE(wqkv_r · RMSNorm(x))))
   *   x += allReduce(w2_r · (SiLU(w1_r · RMSNorm(x)) ⊙ w3_r · RMSNorm(x)))
   */
  private async runLayer(sessions: Sessions & { kind: 'segments' }, l: number, seqs: readonly SequenceStep[], rows: number, comm: AllReducer): Promise<void> {
    const x = this.x.array(rows);             // [rows, dim]
    const partial = this.partial.array(rows); // [rows, dim]

    // attention rmsnorm, this rank's q/k/v heads, RoPE, attention over each KV cache, its columns of wo
    this.attentionBlock(sessions.attention[l]!, l, seqs);
    await comm.allReduce(partial);
    // residual connection back into x
    addResidual(x, partial);
    this.observer?.(l, 'attention', x);

    // ffn rmsnorm, then its rows of w1/w3, silu(w1 x) * w3 x, its columns of w2
    this.run(sessions.feedForward[l]!, this.feedForwardIoFor(rows), 'ffn', l);
    await comm.allReduce(partial);
    // residual connection back into x
    addResidual(x, partial);
    this.observer?.(l, 'feedForward', x);
  }

  /** x ← each row's embedding as sent; each row's temperature and uniform; each sequence's RoPE angles and mask. */
  private embed(seqs: readonly SequenceStep[]): void {
    const { dim } = this.shape;
    const x = this.x.data;
    let r = 0;
    for (const seq of seqs) {
      const T = seq.tokens.length;
      seq.cache.reserve(T);
      this.attn.fill(seq, r);
      const temperature = seq.temperature ?? 0;
      this.head.invTemp.data.fill(temperature > 0 ? 1 / temperature : 1, r, r + T);
      if (seq.uniforms === undefined) this.head.uniforms.data.fill(0, r, r + T);
      else this.head.uniforms.data.set(seq.uniforms, r);
      if (seq.x.length !== T * dim) throw new Error(`a sequence of ${T} tokens came with ${seq.x.length} embedding floats; ${T * dim} expected`);
      x.set(seq.x, r * dim);
      r += T;
    }
  }

  /** partial ← this rank's attention block of x: one run per sequence (each reads its own KV cache), its new K/V into the cache. */
  private attentionBlock(session: SegmentSession, l: number, seqs: readonly SequenceStep[]): void {
    let offset = 0;
    for (const seq of seqs) {
      const T = seq.tokens.length;
      const io = this.attentionIoFor(T, offset);
      const cache = this.cacheViews(seq.cache);
      io.feeds.k_cache = cache.k[l]!;
      io.feeds.v_cache = cache.v[l]!;
      this.past[0] = seq.cache.length;
      this.run(session, io, 'attention', l);
      seq.cache.write(l, this.kNew.data, this.vNew.data, T);
      offset += T;
    }
  }

  private attentionIoFor(T: number, offset: number): SegmentIo {
    const key = rangeKey(T, offset);
    let io = this.attentionIo.get(key);
    if (io === undefined) {
      io = {
        feeds: { x: this.x.rows(T, offset), cos: this.attn.cos.rows(T, offset), sin: this.attn.sin.rows(T, offset), mask: this.attn.mask(T, offset), past: this.pastTensor },
        fetches: { partial: this.partial.rows(T, offset), k_new: this.kNew.rows(T), v_new: this.vNew.rows(T) },
      };
      this.attentionIo.set(key, io);
    }
    return io;
  }

  private feedForwardIoFor(rows: number): SegmentIo {
    let io = this.feedForwardIo.get(rows);
    if (io === undefined) {
      io = { feeds: { x: this.x.rows(rows) }, fetches: { partial: this.partial.rows(rows) } };
      this.feedForwardIo.set(rows, io);
    }
    return io;
  }
}
