// The graphs one rank runs per step: the segments between all-reduces.
//
// Each layer is two segments, each reading the residual stream x and ending in a
// partial sum that the rank all-reduces with its peers and adds back into x
// (ShardRuntime.runLayer, in TypeScript, where a reader sees it):
//   attention: RMSNorm; its q/k/v heads; RoPE; attention over its KV cache and
//              the new tokens (masked); its columns of wo → partial
//   ffn:       RMSNorm; its rows of w1/w3; SiLU(w1)·w3; its columns of w2 → partial
// The head segment applies the final norm and the rank's vocabulary rows to x,
// and reduces the logits to what the coordinator merges.
import { GraphBuilder } from './graph-builder.js';
import { rmsNorm, rope, swiGlu } from './blocks.js';
import { DataType } from './onnx-schema.js';
import { fedProjection, linear, projection, type MatrixWeight } from './linear.js';

/** Sizes of one rank's slice of a layer. */
export interface SegmentShape {
  dim: number;          // model width
  headDim: number;
  nHeads: number;       // this rank's query heads
  nKvHeads: number;     // this rank's KV heads (replicated when tp > model kv heads)
  hidden: number;       // this rank's FFN width
  maxSeq: number;       // KV cache slots per sequence
  normEps: number;
  ropeLayout: 'interleaved' | 'half';
}

/** One rank's weights of one layer; matrices are (out, in) row-major as in the checkpoint, or quantized (linear.ts). */
export interface LayerShardWeights {
  attnNorm: Float32Array;  // [dim]
  wqkv: MatrixWeight;      // [(nHeads + 2 nKvHeads) * headDim, dim]: its q rows, then k, then v
  wo: MatrixWeight;        // [dim, nHeads * headDim]: its columns of wo
  ffnNorm: Float32Array;   // [dim]
  w13: MatrixWeight;       // [2 hidden, dim]: its rows of w1, then of w3
  w2: MatrixWeight;        // [dim, hidden]: its columns of w2
}

/** The residual stream x [T, dim] every segment reads (all-reduced and added in TypeScript). */
function residualStream(g: GraphBuilder, s: SegmentShape): string {
  return g.input('x', ['tokens', s.dim]);
}

/** What every attention block of a step reads besides x and its cache, prepared once per graph (attentionInputs). */
interface AttentionInputNames {
  cos: string; sin: string;   // [1, T, headDim / 2]: each pair's angle
  mask: string;               // [T, past + T]: the committed slots' columns, then the new tokens'
  past: string;               // [1] int32
}

/** The names, in one graph, of what an attention block reads and writes. */
interface AttentionNames extends AttentionInputNames {
  x: string; kCache: string; vCache: string;
  partial: string; kNew: string; vNew: string;
}

/**
 * Reads x [T, dim], the prepared inputs, and k_cache, v_cache [1, nKv, maxSeq, headDim] of
 * which only the first `past` slots are read (a step's attention costs the context it has, not
 * maxSeq). Writes partial [T, dim] and k_new, v_new [T, nKv * headDim] (k after RoPE).
 */
function attentionBlock(g: GraphBuilder, s: SegmentShape, w: LayerShardWeights, io: AttentionNames): void {
  const { headDim: hd, nHeads, nKvHeads } = s;

  // RMSNorm, then q/k/v in one matmul: [T, (nHeads + 2 nKv) * hd]; RoPE on q and k together
  const xn = rmsNorm(g, io.x, g.weight('attn_norm', w.attnNorm, [s.dim]), s.normEps);
  const qkv = linear(g, xn, 'wqkv', w.wqkv, [(nHeads + 2 * nKvHeads) * hd, s.dim]);
  const [qk] = g.opN('Split', [qkv, g.ints('qk_v_split', [(nHeads + nKvHeads) * hd, nKvHeads * hd])], { axis: 1 }, [g.fresh('qk'), io.vNew]) as [string];
  const qkSeq = g.op('Reshape', [qk, g.ints('qk_seq_shape', [1, -1, (nHeads + nKvHeads) * hd])]);    // [1, T, (nHeads + nKv) * hd]
  const qkr = rope(g, qkSeq, nHeads + nKvHeads, s.ropeLayout, io.cos, io.sin);
  const [q, k] = g.opN('Split', [qkr, g.ints('q_k_split', [nHeads * hd, nKvHeads * hd])], { axis: 2 }, 2) as [string, string];
  g.op('Reshape', [k, g.ints('k_new_shape', [-1, nKvHeads * hd])], {}, io.kNew);
  const v = g.op('Reshape', [io.vNew, g.ints('v_seq_shape', [1, -1, nKvHeads * hd])]);                // [1, T, nKv * hd]

  // the committed slots of the cache, L = past: [1, nKv, L, hd]
  const zero = g.ints32('s_zero', [0]);
  const axis2 = g.ints32('s_axis_2', [2]);
  const kPast = g.op('Slice', [io.kCache, zero, io.past, axis2]);
  const vPast = g.op('Slice', [io.vCache, zero, io.past, axis2]);

  // one Attention node (ONNX opset 23): the query heads grouped by KV head, scaled by 1/sqrt(hd),
  // scores over the cache slots then the new tokens, the mask added, softmax, the values' sum.
  // Its other two outputs (past + new keys and values) go unused, but onnxruntime's CPU kernel
  // refuses a past without them; the new keys and values leave through k_new and v_new.
  const [out] = g.opN('Attention', [q, k, v, io.mask, kPast, vPast],
    { q_num_heads: nHeads, kv_num_heads: nKvHeads, scale: { float: 1 / Math.sqrt(hd) } }, 3) as [string];   // [1, T, nHeads * hd]

  // this rank's columns of wo: a partial sum
  const flat = g.op('Reshape', [out, g.ints('out_flat_shape', [-1, nHeads * hd])]);
  linear(g, flat, 'wo', w.wo, [s.dim, nHeads * hd], io.partial);
}

/**
 * The graph inputs every attention block of a step reads, prepared once: cos, sin [1, T, headDim / 2]
 * (each pair's angle, AttentionInputs); mask [T, maxSeq + T] (0 or -inf: cache slots first,
 * then the new tokens, so a tree mask is just the last T columns), of which the committed slots'
 * columns and the new tokens' are kept; past [1] int32, the committed slots.
 */
function attentionInputs(g: GraphBuilder, s: SegmentShape): AttentionInputNames {
  const half = s.headDim / 2;
  const cos = g.input('cos', [1, 'tokens', half]);
  const sin = g.input('sin', [1, 'tokens', half]);
  const mask = g.input('mask', ['tokens', 'slots']);
  const past = g.input('past', [1], DataType.INT32);
  const [zero, end, axis1] = ([['m_zero', 0], ['m_end', 2 ** 31 - 1], ['m_axis_1', 1]] as const).map(([name, v]) => g.ints32(name, [v])) as [string, string, string];
  const maskNew = g.op('Slice', [mask, g.ints32('m_max_seq', [s.maxSeq]), end, axis1]);
  const maskUsed = g.op('Concat', [g.op('Slice', [mask, zero, past, axis1]), maskNew], { axis: 1 });  // [T, L + T]
  return { cos, sin, mask: maskUsed, past };
}

/** A layer's K or V cache as the graphs read it: [1, nKv, maxSeq, headDim] (batch, heads, slots, head), KvCache's layout. */
export function kvCacheShape(s: SegmentShape): number[] {
  return [1, s.nKvHeads, s.maxSeq, s.headDim];
}

/** The graph outputs of a layer's new keys and values, [T, nKv * headDim]. */
function newKeyValueOutputs(g: GraphBuilder, s: SegmentShape, kNew: string, vNew: string): void {
  g.output(kNew, ['tokens', s.nKvHeads * s.headDim]);
  g.output(vNew, ['tokens', s.nKvHeads * s.headDim]);
}

/** The attention segment: x, the attention inputs and one layer's cache in; partial, k_new, v_new out (attentionBlock). */
export function buildAttentionSegment(name: string, s: SegmentShape, w: LayerShardWeights): Uint8Array {
  const g = new GraphBuilder(name);
  const x = residualStream(g, s);
  const inputs = attentionInputs(g, s);
  const cacheShape = kvCacheShape(s);
  const kCache = g.input('k_cache', cacheShape);
  const vCache = g.input('v_cache', cacheShape);
  g.output('partial', ['tokens', s.dim]);
  newKeyValueOutputs(g, s, 'k_new', 'v_new');
  attentionBlock(g, s, w, { x, ...inputs, kCache, vCache, partial: 'partial', kNew: 'k_new', vNew: 'v_new' });
  return g.toBytes();
}

/** partial = w2·(SiLU(w1 xn)·w3 xn), xn = RMSNorm(x), over this rank's rows. */
function feedForwardBlock(g: GraphBuilder, s: SegmentShape, w: LayerShardWeights, x: string, partial: string): void {
  const xn = rmsNorm(g, x, g.weight('ffn_norm', w.ffnNorm, [s.dim]), s.normEps);
  const gateUp = linear(g, xn, 'w13', w.w13, [2 * s.hidden, s.dim]);                    // [T, 2 hidden]
  const [gate, up] = g.opN('Split', [gateUp], { axis: 1, num_outputs: 2 }, 2) as [string, string];
  linear(g, swiGlu(g, gate, up), 'w2', w.w2, [s.dim, s.hidden], partial);
}

/** Input: x [T, dim]. Output: partial [T, dim] (feedForwardBlock). */
export function buildFeedForwardSegment(name: string, s: SegmentShape, w: LayerShardWeights): Uint8Array {
  const g = new GraphBuilder(name);
  const x = residualStream(g, s);
  g.output('partial', ['tokens', s.dim]);
  feedForwardBlock(g, s, w, x, 'partial');
  return g.toBytes();
}

/** One rank's rows of the vocabulary projection (LM head or a Medusa head's output). */
export interface HeadShardWeights {
  finalNorm: Float32Array;  // [dim]
  wcls: MatrixWeight;       // [vocabRows, dim]
  /**
   * A float32 wcls is fed at run time as the graph input WCLS_FEED (the worker's own array, which
   * it holds anyway as the embedding's rows) instead of an initializer onnxruntime would copy.
   */
  wclsFed?: boolean;
  medusa?: MedusaShardWeights;
}

/** The head graph's input that carries a fed classifier (HeadShardWeights.wclsFed). */
export const WCLS_FEED = 'wcls';

/**
 * Medusa heads on one rank: the residual layers replicated, the projection split by
 * vocabulary rows like the LM head. Head k: x ← x + SiLU(W x + b) per layer, then U x.
 */
export interface MedusaShardWeights {
  topK: number;             // local top-k returned per head and position
  heads: {
    layers: { w: MatrixWeight; b: Float32Array }[];  // w: [dim, dim] (out, in), b: [dim]
    output: MatrixWeight | null;                     // [vocabRows, dim]; null: the LM head's rows
  }[];
}

/** Each Medusa head's local top-k: values/indices [T, heads * topK], head-major within a row. */
function medusaHeads(g: GraphBuilder, xn: string, lmHead: (x: string) => string, s: SegmentShape, m: MedusaShardWeights, vocabRows: number): void {
  g.output('medusa_topk_values', ['tokens', m.heads.length * m.topK]);
  g.output('medusa_topk_indices', ['tokens', m.heads.length * m.topK], DataType.INT64);
  const k = g.ints('medusa_k', [m.topK]);
  const values: string[] = [];
  const indices: string[] = [];
  for (const [h, head] of m.heads.entries()) {
    let x = xn;
    for (const [l, layer] of head.layers.entries()) {
      const z = projection(g, `medusa_${h}_${l}_w`, layer.w, [s.dim, s.dim], g.weight(`medusa_${h}_${l}_b`, layer.b, [s.dim]))(x);
      x = g.op('Add', [x, g.op('Mul', [z, g.op('Sigmoid', [z])])]);
    }
    const out = head.output === null ? lmHead : projection(g, `medusa_${h}_out`, head.output, [vocabRows, s.dim]);
    const [v, i] = g.opN('TopK', [out(x), k], { axis: -1, largest: 1, sorted: 1 }, 2) as [string, string];
    values.push(v);
    indices.push(i);
  }
  g.op('Concat', values, { axis: 1 }, 'medusa_topk_values');
  g.op('Concat', indices, { axis: 1 }, 'medusa_topk_indices');
}

/**
 * Inputs: x [T, dim]; ids [T, N] int64 (local row indices whose logits the
 * coordinator asked for; 0 when unused); inv_temp [T, 1] (1 / temperature, 1 for greedy).
 * u [T, 1] uniform in [0, 1). Outputs per position, over this rank's rows: sample [T, 1] (int64,
 * drawn from softmax(s) restricted to the rank's rows with u), max [T, 1], argmax [T, 1] (int64, lowest
 * index on ties), topk_values/topk_indices [T, k] of the raw logits l; with s = l·inv_temp,
 * sumexp [T, 1] = Σ exp(s - max·inv_temp), sumexp_logit [T, 1] = Σ exp(s - max·inv_temp)·s,
 * picked [T, N] logits of `ids`, and hidden [T, dim] (the final-norm hidden state for Medusa heads).
 */
function headBlock(g: GraphBuilder, s: SegmentShape, w: HeadShardWeights, vocabRows: number, topK: number, x: string): void {
  const ids = g.input('ids', ['tokens', 'picked'], DataType.INT64);
  const invTemp = g.input('inv_temp', ['tokens', 1]);
  const u = g.input('u', ['tokens', 1]);
  g.output('sample', ['tokens', 1], DataType.INT64);
  for (const [out, dims] of [['max', 1], ['argmax', 1], ['topk_values', topK], ['topk_indices', topK], ['sumexp', 1], ['sumexp_logit', 1]] as const) {
    g.output(out, ['tokens', dims], out === 'argmax' || out === 'topk_indices' ? DataType.INT64 : DataType.FLOAT);
  }
  g.output('picked', ['tokens', 'picked']);
  g.output('hidden', ['tokens', s.dim]);
  const xn = rmsNorm(g, x, g.weight('final_norm', w.finalNorm, [s.dim]), s.normEps);
  g.op('Identity', [xn], {}, 'hidden');
  const lmHead = w.wclsFed === true && w.wcls instanceof Float32Array
    ? fedProjection(g, WCLS_FEED, [vocabRows, s.dim])
    : projection(g, 'wcls', w.wcls, [vocabRows, s.dim]);
  const logits = lmHead(xn);                                                               // [T, vocabRows]
  if (w.medusa !== undefined) medusaHeads(g, xn, lmHead, s, w.medusa, vocabRows);
  const lastAxis = g.ints('last_axis', [-1]);
  const max = g.op('ReduceMax', [logits, lastAxis], { keepdims: 1 }, 'max');
  g.op('ArgMax', [logits], { axis: -1, keepdims: 1, select_last_index: 0 }, 'argmax');
  g.opN('TopK', [logits, g.ints('k', [topK])], { axis: -1, largest: 1, sorted: 1 }, ['topk_values', 'topk_indices']);
  const scaled = g.op('Mul', [logits, invTemp]);
  const e = g.op('Exp', [g.op('Sub', [scaled, g.op('Mul', [max, invTemp])])]);
  const total = g.op('ReduceSum', [e, lastAxis], { keepdims: 1 }, 'sumexp');
  // a draw from softmax(s) over this rank's rows: the count of cumulative sums at or below u·total
  const below = g.op('LessOrEqual', [g.op('CumSum', [e, g.ints('cumsum_axis', [1])]), g.op('Mul', [u, total])]);
  const count = g.op('ReduceSum', [g.op('Cast', [below], { to: DataType.FLOAT }), lastAxis], { keepdims: 1 });
  g.op('Cast', [g.op('Min', [count, g.scalar('last_row', vocabRows - 1)])], { to: DataType.INT64 }, 'sample');
  g.op('ReduceSum', [g.op('Mul', [e, scaled]), lastAxis], { keepdims: 1 }, 'sumexp_logit');
  g.op('GatherElements', [logits, ids], { axis: 1 }, 'picked');
}

/** The head segment: x in, the per-position pieces the coordinator merges out (headBlock). */
export function buildHeadSegment(name: string, s: SegmentShape, w: HeadShardWeights, vocabRows: number, topK: number): Uint8Array {
  const g = new GraphBuilder(name);
  headBlock(g, s, w, vocabRows, topK, residualStream(g, s));
  return g.toBytes();
}

/** The names of layer l's cache inputs and new key/value outputs in the stack graph. */
export const stackCacheNames = (l: number) => ({ kCache: `k_cache_${l}`, vCache: `v_cache_${l}`, kNew: `k_new_${l}`, vNew: `v_new_${l}` }) as const;

/**
 * A single rank's whole step as one graph (tp = 1, where no all-reduce separates the segments):
 * every layer's attention and feed-forward blocks with their residual adds, then the head.
 * Inputs: those of the attention segment with k_cache_l / v_cache_l per layer, and the head's;
 * outputs: k_new_l / v_new_l per layer and the head's.
 */
export function buildStackGraph(name: string, s: SegmentShape, layers: readonly LayerShardWeights[], head: HeadShardWeights, vocabRows: number, topK: number): Uint8Array {
  const g = new GraphBuilder(name);
  let x = residualStream(g, s);
  const inputs = attentionInputs(g, s);
  const cacheShape = kvCacheShape(s);
  for (const [l, w] of layers.entries()) {
    const names = stackCacheNames(l);
    const kCache = g.input(names.kCache, cacheShape);
    const vCache = g.input(names.vCache, cacheShape);
    newKeyValueOutputs(g, s, names.kNew, names.vNew);
    const attention = g.fresh(`l${l}_attention`);
    g.scoped(`l${l}_attention_`, () => attentionBlock(g, s, w, { x, ...inputs, kCache, vCache, partial: attention, kNew: names.kNew, vNew: names.vNew }));
    x = g.op('Add', [x, attention]);
    const ffn = g.fresh(`l${l}_ffn`);
    g.scoped(`l${l}_ffn_`, () => feedForwardBlock(g, s, w, x, ffn));
    x = g.op('Add', [x, ffn]);
  }
  g.scoped('head_', () => headBlock(g, s, head, vocabRows, topK, x));
  return g.toBytes();
}
