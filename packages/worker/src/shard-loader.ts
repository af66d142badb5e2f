// Turns one rank's named slices (from its own checkpoint read, or streamed by the
// coordinator) into the weights its segments are built from.
import type { ModelConfig, WeightFormat } from '@octoserve/model';
import { isQuantizedSlice, QUANT_BLOCK_COLUMNS, rangeSize as size, shardLayout, type AnyShardSlice, type QuantizedSlice, type ShardAssignment } from '@octoserve/wire';
import type { MatrixWeight } from './onnx/linear.js';
import type { LayerShardWeights, MedusaShardWeights, SegmentShape } from './onnx/segments.js';
import type { ShardWeights } from './shard-weights.js';
import { HaloError, quantizeShard } from './shard-quantize.js';

export type { Range, ShardAssignment } from '@octoserve/wire';

export class ShardLoadError extends Error {
  override name = 'ShardLoadError';
}

/** The segment sizes of this rank's shard. */
export function segmentShape(config: ModelConfig, shard: ShardAssignment, maxSeq: number): SegmentShape {
  return {
    dim: config.dim, headDim: config.headDim, nHeads: size(shard.heads), nKvHeads: size(shard.kvHeads),
    hidden: size(shard.hidden), maxSeq, normEps: config.normEps, ropeLayout: config.ropeLayout,
  };
}

/** The shape each slice must have, by name (@octoserve/wire's shard layout). */
function expectedShapes(config: ModelConfig, shard: ShardAssignment): Map<string, readonly [number, number]> {
  return new Map(shardLayout(config, shard).map((s) => [s.name, s.shape]));
}

const NORMS = /(^|\.)(attention_norm|ffn_norm|norm)$/;

/** A slice the checkpoint stores block-quantized, checked against its shape, as the weight the segments take. */
function storedQuantized(s: QuantizedSlice, [rows, cols]: readonly [number, number], shard: ShardAssignment): MatrixWeight {
  const { q, padLeft, padRight } = s;
  const k = padLeft + cols + padRight;
  const blocks = Math.ceil(k / QUANT_BLOCK_COLUMNS);
  const blob = (QUANT_BLOCK_COLUMNS * q.bits) / 8;
  if (s.shape[0] !== rows || s.shape[1] !== cols || q.n !== rows || q.k !== k || q.blocks !== blocks
    || padLeft >= QUANT_BLOCK_COLUMNS || padRight >= QUANT_BLOCK_COLUMNS || q.packed.length !== rows * blocks * blob || q.scales.length !== rows * blocks) {
    throw new ShardLoadError(`quantized shard slice ${s.name}: ${q.n} x ${q.k} weights in ${q.blocks} blocks a row (${q.packed.length} code bytes, ` +
      `${q.scales.length} scales, padded ${padLeft} + ${padRight}); rank ${shard.rank} of ${shard.tp} needs [${rows}, ${cols}]`);
  }
  return { q, padLeft, padRight };
}

/** Medusa heads on this rank: how many, their residual layers, and the top-k each returns. */
export interface MedusaAssignment {
  heads: number;
  layers: number;
  topK: number;
}

function medusaWeights(config: ModelConfig, shard: ShardAssignment, m: MedusaAssignment, got: Map<string, Float32Array>): MedusaShardWeights {
  const { dim } = config;
  const take = (name: string, n: number): Float32Array => {
    const data = got.get(name);
    if (data === undefined) throw new ShardLoadError(`Medusa slice ${name} is missing (rank ${shard.rank})`);
    if (data.length !== n) throw new ShardLoadError(`Medusa slice ${name} has ${data.length} floats; ${n} expected`);
    return data;
  };
  return {
    topK: m.topK,
    heads: Array.from({ length: m.heads }, (_, h) => ({
      layers: Array.from({ length: m.layers }, (_, l) => ({ w: take(`medusa.${h}.${l}.w`, dim * dim), b: take(`medusa.${h}.${l}.b`, dim) })),
      output: got.has(`medusa.${h}.out`) ? take(`medusa.${h}.out`, size(shard.vocab) * dim) : null,
    })),
  };
}

/**
 * Collects named slices into shard weights, checking that every slice is there with the right size;
 * `weights` q8 / q4 quantizes the matmul weights (shard-quantize.ts; the {name}.halo slices feed it).
 */
export function assembleShard(config: ModelConfig, shard: ShardAssignment, slices: Iterable<AnyShardSlice>, medusa?: MedusaAssignment, weights: WeightFormat = 'f32'): ShardWeights {
  const shapes = expectedShapes(config, shard);
  const medusaSlices = new Map<string, Float32Array>();
  const halos = new Map<string, Float32Array>();
  const got = new Map<string, MatrixWeight>();
  for (const s of slices) {
    const want = shapes.get(s.name);
    if (isQuantizedSlice(s)) {
      if (want === undefined || NORMS.test(s.name)) throw new ShardLoadError(`shard slice '${s.name}' comes block-quantized; it is not a matmul weight of this shard`);
      got.set(s.name, storedQuantized(s, want, shard));
      continue;
    }
    if (s.name.startsWith('medusa.')) { medusaSlices.set(s.name, s.data); continue; }
    if (s.name.endsWith('.halo')) { halos.set(s.name, s.data); continue; }
    if (want === undefined) throw new ShardLoadError(`unexpected shard slice '${s.name}'`);
    if (s.data.length !== want[0] * want[1]) throw new ShardLoadError(`shard slice ${s.name} has ${s.data.length} floats; rank ${shard.rank} of ${shard.tp} needs ${want[0] * want[1]}`);
    got.set(s.name, s.data);
  }
  const take = (name: string): MatrixWeight => {
    const data = got.get(name);
    if (data === undefined) throw new ShardLoadError(`shard slice ${name} is missing (rank ${shard.rank} of ${shard.tp})`);
    return data;
  };
  /** A vector (the norms) or the embedding's rows: never quantized. */
  const vector = (name: string): Float32Array => take(name) as Float32Array;
  const layers: LayerShardWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `layers.${l}.`;
    layers.push({
      attnNorm: vector(`${p}attention_norm`), wqkv: take(`${p}wqkv`), wo: take(`${p}wo`),
      ffnNorm: vector(`${p}ffn_norm`), w13: take(`${p}w13`), w2: take(`${p}w2`),
    });
  }
  const output = take('output');
  // a shared classifier read in float32 holds the embedding's rows already: one copy of them
  const embedding = config.sharedClassifier && output instanceof Float32Array ? output : vector('embedding');
  const head = { finalNorm: vector('norm'), wcls: output, ...(medusa === undefined || medusa.heads === 0 ? {} : { medusa: medusaWeights(config, shard, medusa, medusaSlices) }) };
  const floats = { layers, head, vocabRows: size(shard.vocab), embedding };
  try {
    return quantizeShard(config, shard, floats, halos, weights);
  } catch (err) {
    throw err instanceof HaloError ? new ShardLoadError(err.message, { cause: err }) : err;
  }
}
