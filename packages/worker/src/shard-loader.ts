// Turns one rank's named slices (from its own checkpoint read, or streamed by the
// coordinator) into the weights its segments are built from.
import type { ModelConfig, WeightFormat } from '@octoserve/model';
import { rangeSize as size, shardLayout, type ShardAssignment, type ShardSlice } from '@octoserve/wire';
import type { LayerShardWeights, MedusaShardWeights, SegmentShape } from './onnx/segments.js';
import type { ShardWeights } from './shard-runtime.js';
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

/** The float count each slice must have, by name (@octoserve/wire's shard layout). */
function expectedSizes(config: ModelConfig, shard: ShardAssignment): Map<string, number> {
  return new Map(shardLayout(config, shard).map((s) => [s.name, s.shape[0] * s.shape[1]]));
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
export function assembleShard(config: ModelConfig, shard: ShardAssignment, slices: Iterable<ShardSlice>, medusa?: MedusaAssignment, weights: WeightFormat = 'f32'): ShardWeights {
  const sizes = expectedSizes(config, shard);
  const medusaSlices = new Map<string, Float32Array>();
  const halos = new Map<string, Float32Array>();
  const got = new Map<string, Float32Array>();
  for (const s of slices) {
    if (s.name.startsWith('medusa.')) { medusaSlices.set(s.name, s.data); continue; }
    if (s.name.endsWith('.halo')) { halos.set(s.name, s.data); continue; }
    const want = sizes.get(s.name);
    if (want === undefined) throw new ShardLoadError(`unexpected shard slice '${s.name}'`);
    if (s.data.length !== want) throw new ShardLoadError(`shard slice ${s.name} has ${s.data.length} floats; rank ${shard.rank} of ${shard.tp} needs ${want}`);
    got.set(s.name, s.data);
  }
  const take = (name: string): Float32Array => {
    const data = got.get(name);
    if (data === undefined) throw new ShardLoadError(`shard slice ${name} is missing (rank ${shard.rank} of ${shard.tp})`);
    return data;
  };
  const layers: LayerShardWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `layers.${l}.`;
    layers.push({
      attnNorm: take(`${p}attention_norm`), wqkv: take(`${p}wqkv`), wo: take(`${p}wo`),
      ffnNorm: take(`${p}ffn_norm`), w13: take(`${p}w13`), w2: take(`${p}w2`),
    });
  }
  const head = { finalNorm: take('norm'), wcls: take('output'), ...(medusa === undefined || medusa.heads === 0 ? {} : { medusa: medusaWeights(config, shard, medusa, medusaSlices) }) };
  const floats = { layers, head, vocabRows: size(shard.vocab) };
  try {
    return quantizeShard(config, shard, floats, halos, weights);
  } catch (err) {
    throw err instanceof HaloError ? new ShardLoadError(err.message, { cause: err }) : err;
  }
}
