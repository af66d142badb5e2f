// --weights q8|q4: a rank's float slices block-quantized at load (@octoserve/model's quantize.ts).
//
// Rows are independent, so the N-split weights (wqkv, w13, the LM head and Medusa projections:
// every row holds the whole K = dim) quantize the same on every rank. The K-split ones (wo, w2)
// are quantized in blocks anchored at multiples of 32 of the global K: the rank widens its slice
// with the halo columns (quantizationHaloSlices) to whole blocks, and the segment pads its input
// with zeros to match, so every tp multiplies by exactly the reference's dequantized weights.
// Weights the checkpoint stores block-quantized (GGUF Q8_0 / Q4_0) arrive so and stay as they are,
// whatever the format; q8a8 / q4a8 only turn on their int8 activations. On the CPU, 8-bit blocks
// without int8 activations are then widened to floats (weightsForDevice).
import { blockAlignedRange, dequantizeColumns, int8Activations, kSplitWeights, quantizeMatrix, weightBits, type ModelConfig, type WeightFormat } from '@octoserve/model';
import type { ShardAssignment } from '@octoserve/wire';
import type { MatrixWeight, QuantizedWeight } from './onnx/linear.js';
import { matrixBytes } from './onnx/linear.js';
import type { HeadShardWeights, LayerShardWeights } from './onnx/segments.js';
import type { ShardWeights } from './shard-weights.js';

export class HaloError extends Error {
  override name = 'HaloError';
}

/** Columns [left | slice | right] of `dim` rows, from the slice and its halo [dim, left + right]. */
function widen(slice: Float32Array, halo: Float32Array | undefined, dim: number, left: number, right: number): Float32Array {
  if (left + right === 0) return slice;
  const cols = slice.length / dim;
  const wide = new Float32Array(dim * (left + cols + right));
  const h = halo as Float32Array;
  for (let r = 0; r < dim; r++) {
    const at = r * (left + cols + right);
    wide.set(h.subarray(r * (left + right), r * (left + right) + left), at);
    wide.set(slice.subarray(r * cols, (r + 1) * cols), at + left);
    wide.set(h.subarray(r * (left + right) + left, (r + 1) * (left + right)), at + left + cols);
  }
  return wide;
}

/** Quantizes one rank's float shard; `halos` holds the {name}.halo slices its K-split weights need. */
export function quantizeShard(config: ModelConfig, shard: ShardAssignment, w: ShardWeights, halos: ReadonlyMap<string, Float32Array>, format: WeightFormat): ShardWeights {
  if (format === 'f32') return w;
  const bits = weightBits(format);
  const int8 = int8Activations(format);
  const { dim } = config;
  const rows = (m: MatrixWeight, k: number): QuantizedWeight => {
    if (!(m instanceof Float32Array)) return { ...m, int8Activations: int8 };
    return { q: quantizeMatrix(m, m.length / k, k, bits), padLeft: 0, padRight: 0, int8Activations: int8 };
  };
  const kSplit = (m: MatrixWeight, name: string, k: number, slice: { start: number; end: number }): QuantizedWeight => {
    if (!(m instanceof Float32Array)) return { ...m, int8Activations: int8 };
    const wide = blockAlignedRange(slice, k);
    const left = slice.start - wide.start;
    const right = wide.end - slice.end;
    const halo = halos.get(`${name}.halo`);
    if (left + right > 0 && halo?.length !== dim * (left + right)) {
      throw new HaloError(`${name}: rank ${shard.rank} of ${shard.tp} needs ${left + right} halo columns to quantize its slice in whole blocks; got ${halo === undefined ? 'none' : `${halo.length / dim}`}`);
    }
    const data = widen(m as Float32Array, halo, dim, left, right);
    return { q: quantizeMatrix(data, dim, data.length / dim, bits), padLeft: left, padRight: right, int8Activations: int8 };
  };
  return mapMatrices(w, (m, layer, split) => {
    if (split === undefined) return rows(m, dim);
    const s = kSplitWeights(config, shard, layer)[split === 'wo' ? 0 : 1]!;
    return kSplit(m, s.name, s.k, s.slice);
  });
}

/**
 * A shard with every matmul weight passed through `f`: the rows-split ones (wqkv, w13, the LM head,
 * the Medusa projections) with `split` undefined, the K-split wo and w2 of layer `layer` named.
 */
function mapMatrices(w: ShardWeights, f: (m: MatrixWeight, layer: number, split?: 'wo' | 'w2') => MatrixWeight): ShardWeights {
  const layers = w.layers.map((l, i): LayerShardWeights => ({
    attnNorm: l.attnNorm, ffnNorm: l.ffnNorm,
    wqkv: f(l.wqkv, i), w13: f(l.w13, i), wo: f(l.wo, i, 'wo'), w2: f(l.w2, i, 'w2'),
  }));
  const m = w.head.medusa;
  const head: HeadShardWeights = {
    finalNorm: w.head.finalNorm, wcls: f(w.head.wcls, -1),
    ...(m === undefined ? {} : {
      medusa: {
        topK: m.topK,
        heads: m.heads.map((h) => ({ layers: h.layers.map((l) => ({ w: f(l.w, -1), b: l.b })), output: h.output === null ? null : f(h.output, -1) })),
      },
    }),
  };
  return { layers, head, vocabRows: w.vocabRows, embedding: w.embedding };
}

/**
 * The shard as `device` runs it. onnxruntime's CPU build has no packed kernel for 8-bit blocks
 * with float32 activations: MatMulNBits then dequantizes all of B on every call (stories110M
 * shape, tp=1: 3.2 tok/s against 63.9 in f32). On the CPU such weights (q8, a GGUF's Q8_0 tensors)
 * are widened once, here, to the float32 values MatMulNBits would have multiplied by (their pad
 * columns dropped: they only ever met zeros) and run as a float Gemm: the same weights, as fast
 * as f32, at f32's memory. With int8 activations (q8a8) or on CUDA the blocks stay.
 */
export function weightsForDevice(w: ShardWeights, device: string): ShardWeights {
  if (device !== 'cpu') return w;
  const slow = (m: MatrixWeight): m is QuantizedWeight => !(m instanceof Float32Array) && m.q.bits === 8 && m.int8Activations !== true;
  if (![...shardTensors(w)].some(slow)) return w;
  return mapMatrices(w, (m) => (slow(m) ? dequantizeColumns(m.q, m.padLeft, m.q.k - m.padRight) : m));
}

/** Every weight of a shard: the matmul weights and the vectors (norms, Medusa biases). */
function* shardTensors(w: ShardWeights): Generator<MatrixWeight> {
  for (const l of w.layers) yield* [l.attnNorm, l.wqkv, l.wo, l.ffnNorm, l.w13, l.w2];
  yield* [w.head.finalNorm, w.head.wcls];
  if (w.embedding !== w.head.wcls) yield w.embedding;
  for (const h of w.head.medusa?.heads ?? []) {
    for (const l of h.layers) yield* [l.w, l.b];
    if (h.output !== null) yield h.output;
  }
}

/** Bytes of weights a shard holds (quantized weights count their codes and scales). */
export function shardWeightBytes(w: ShardWeights): number {
  let n = 0;
  for (const t of shardTensors(w)) n += matrixBytes(t);
  return n;
}

/** What a shard holds, for its load log line: '1.2 MB: 30 matmul weights in 4-bit blocks, 2 in float32'. */
export function describeShardWeights(w: ShardWeights): string {
  const counts = new Map<string, number>();
  for (const t of [...shardTensors(w)].filter((t) => !(t instanceof Float32Array) || t.length > 0)) {
    const kind = t instanceof Float32Array ? 'float32' : `${t.q.bits}-bit blocks${t.int8Activations === true ? ' (int8 activations)' : ''}`;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const parts = [...counts].map(([kind, n], i) => `${n}${i === 0 ? ' weights' : ''} in ${kind}`);
  return `${(shardWeightBytes(w) / 1e6).toFixed(1)} MB: ${parts.join(', ')}`;
}
