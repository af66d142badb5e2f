// What one rank's compute costs alone on a core: its shard of a model, built as a worker builds
// it, stepped in this process with an all-reduce that returns at once. `octoserve simulate
// calibrate` runs it per tensor-parallel degree; the all-reduce and the cores' sharing come from
// `bench allreduce --compute-us`, which is handed the time measured here.
import { openCheckpoint, ropeFrequencies, type WeightFormat } from '@octoserve/model';
import { readShardSlices } from '@octoserve/wire';
import { KvCache } from './kv-cache.js';
import { assembleShard, segmentShape, type ShardAssignment } from './shard-loader.js';
import { ShardRuntime } from './shard-runtime.js';
import type { AllReducer } from './timed-all-reducer.js';

export interface ComputeProbeOptions {
  checkpointPath: string;
  shard: ShardAssignment;
  /** Tokens per step: 1 for plain decoding, the tree's nodes for a Medusa step. */
  rows: number;
  /** Tokens already in the KV cache when the timed steps run. */
  context: number;
  /** Timed steps (after as many untimed ones). */
  steps: number;
  weights?: WeightFormat;
  /**
   * Idle milliseconds before each step and, above one rank, in each all-reduce (default 1): a
   * worker's onnxruntime calls follow idle time (waiting for the step, for its peers), and on this
   * class of machine a call after idle time costs 2-3x one that follows another at once.
   */
  idleMs?: number;
}

export interface ComputeProbe {
  /** Mean onnxruntime time of one step, microseconds. */
  stepUs: number;
  /** onnxruntime calls per step: attention and feed-forward per layer, then the head. */
  calls: number;
  /** Mean CPU time of one step, all of this process's threads, microseconds. */
  cpuUs: number;
}

const idle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An all-reduce that returns after `ms` with the data as it is (one rank's part stands for the sum). */
const waiting = (ms: number): AllReducer => ({ allReduce: () => (ms > 0 ? idle(ms) : Promise.resolve()) });

export async function probeShardCompute(o: ComputeProbeOptions): Promise<ComputeProbe> {
  const ckpt = openCheckpoint(o.checkpointPath);
  try {
    const c = ckpt.config;
    if (o.context + o.rows > c.maxSeqLen) throw new Error(`a probe at context ${o.context} with ${o.rows} rows passes ${c.maxSeqLen} positions`);
    const weights = assembleShard(c, o.shard, readShardSlices(ckpt, o.shard), undefined, o.weights ?? 'f32');
    const shape = segmentShape(c, o.shard, c.maxSeqLen);
    const rt = await ShardRuntime.create(shape, weights, {
      maxTokens: o.rows, topK: 1, maxPicked: 1, ropeFreqs: ropeFrequencies(c.headDim, c.ropeTheta, c.ropeScaling),
    });
    const cache = new KvCache({ nLayers: c.nLayers, nKvHeads: shape.nKvHeads, headDim: c.headDim, maxSeq: c.maxSeqLen });
    const x = Float32Array.from({ length: o.rows * c.dim }, (_, i) => Math.sin(i) * 0.1);
    const one = { cache, tokens: [1], x: x.subarray(0, c.dim), positions: [0] };
    for (let p = 0; p < o.context; p++) {
      one.positions[0] = p;
      await rt.step([one], waiting(0));
      cache.commit();
    }
    const tokens = Array.from({ length: o.rows }, () => 1);
    const positions = Array.from({ length: o.rows }, (_, i) => o.context + i);
    const idleMs = o.idleMs ?? 1;
    const comm = waiting(o.shard.tp > 1 ? idleMs : 0);
    const treeMask = o.rows === 1 ? undefined : Array.from({ length: o.rows * o.rows }, (_, k) => (k % o.rows <= Math.floor(k / o.rows) ? 1 : 0));
    const step = { cache, tokens, x, positions, ...(treeMask === undefined ? {} : { treeMask }) };
    let total = 0;
    let cpu = 0;
    for (let s = 0; s < 2 * o.steps; s++) {
      if (idleMs > 0) await idle(idleMs);
      const c0 = process.cpuUsage();
      await rt.step([step], comm);
      const d = process.cpuUsage(c0);
      if (s < o.steps) continue;
      total += rt.timings.computeMs;
      cpu += d.user + d.system;
    }
    return { stepUs: (1000 * total) / o.steps, calls: 2 * c.nLayers + 1, cpuUs: cpu / o.steps };
  } finally {
    ckpt.close();
  }
}
