// The residual stream after every block of the sharded forward against the reference forward
// (model/transformer.ts) on stories260K: a prompt as one prefill step, then greedy decode steps.
// x is recorded after each residual add on both sides, so a divergence names its layer, block,
// token position and column. tp=1 runs one shard with no peers; tp=2 runs two shards in this
// process whose all-reduces go through real Communicators over loopback gRPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Communicator, Endpoint } from '@octoserve/collectives';
import { argmax, loadWeights, openCheckpoint, ropeFrequencies, Transformer } from '@octoserve/model';
import { readShardSlices, type Range, type ShardAssignment } from '@octoserve/wire';
import type { Checkpoint, LayerObserver, ModelConfig } from '@octoserve/model';
import { findTestModel, loadGoldenCases } from '@octoserve/testkit';
import { KvCache } from './kv-cache.js';
import { assembleShard, segmentShape } from './shard-loader.js';
import { ShardRuntime } from './shard-runtime.js';
import type { AllReducer } from './timed-all-reducer.js';

/** |worker - reference| <= TOLERANCE * (1 + |reference|) at every element. */
const TOLERANCE = 1e-4;
const DECODE_STEPS = 6;
const BLOCKS = ['attention', 'feedForward'] as const;

/** x after each (layer, block) for every token of a run: [2 * nLayers][tokens, dim]. */
class Trace {
  readonly x: Float32Array[];
  /** Token row of the first row the engine is running now. */
  row = 0;

  constructor(readonly config: ModelConfig, readonly tokens: number) {
    this.x = Array.from({ length: 2 * config.nLayers }, () => new Float32Array(tokens * config.dim));
  }

  readonly observer: LayerObserver = (layer, block, x) => {
    this.x[2 * layer + BLOCKS.indexOf(block)]!.set(x, this.row * this.config.dim);
  };

  /** The first (layer, block, position, column) where `other` leaves the tolerance of this trace, or null. */
  firstDivergence(other: Trace): string | null {
    const { dim, nLayers } = this.config;
    for (let l = 0; l < nLayers; l++) {
      for (const [b, block] of BLOCKS.entries()) {
        const want = this.x[2 * l + b]!;
        const got = other.x[2 * l + b]!;
        for (let i = 0; i < want.length; i++) {
          if (Math.abs(got[i]! - want[i]!) <= TOLERANCE * (1 + Math.abs(want[i]!))) continue;
          return `layer ${l} ${block} block, position ${Math.floor(i / dim)}, column ${i % dim}: ${got[i]} vs ${want[i]}`;
        }
      }
    }
    return null;
  }
}

/** The reference forward over the prompt, then greedy decoding: the trace and every token run. */
function referenceTrace(ckpt: Checkpoint, prompt: readonly number[]): { trace: Trace; tokens: number[] } {
  const transformer = new Transformer(loadWeights(ckpt));
  const tokens = [...prompt];
  const trace = new Trace(ckpt.config, prompt.length + DECODE_STEPS);
  transformer.observer = trace.observer;
  for (let pos = 0; pos < trace.tokens; pos++) {
    trace.row = pos;
    const logits = transformer.forward(tokens[pos]!, pos);
    if (pos + 1 >= tokens.length && tokens.length < trace.tokens) tokens.push(argmax(logits));
  }
  return { trace, tokens };
}

/** Range `part` of `n` items split `parts` ways, the first n % parts ranges one longer. */
function split(n: number, parts: number, part: number): Range {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const start = part * base + Math.min(part, extra);
  return { start, end: start + base + (part < extra ? 1 : 0) };
}

async function shardRuntime(ckpt: Checkpoint, tp: number, rank: number): Promise<ShardRuntime> {
  const c = ckpt.config;
  const shard: ShardAssignment = {
    rank, tp, heads: split(c.nHeads, tp, rank), kvHeads: split(c.nKvHeads, tp, rank),
    hidden: split(c.hiddenDim, tp, rank), vocab: split(c.vocabSize, tp, rank),
  };
  const weights = assembleShard(c, shard, readShardSlices(ckpt, shard));
  return ShardRuntime.create(segmentShape(c, shard, c.maxSeqLen), weights, {
    maxTokens: 64, topK: 1, maxPicked: 1, ropeFreqs: ropeFrequencies(c.headDim, c.ropeTheta, c.ropeScaling),
  });
}

/**
 * Runs `tokens` on every rank: tokens[0, promptLength) as one prefill step, then one decode step
 * per token; returns each rank's trace.
 */
async function shardedTraces(ckpt: Checkpoint, tokens: readonly number[], promptLength: number, comms: readonly AllReducer[]): Promise<Trace[]> {
  const c = ckpt.config;
  const tp = comms.length;
  const runtimes = await Promise.all(comms.map((_, rank) => shardRuntime(ckpt, tp, rank)));
  const traces = runtimes.map((rt) => {
    const trace = new Trace(c, tokens.length);
    rt.observer = trace.observer;
    return trace;
  });
  // the rows the coordinator would send: each token's embedding, looked up once for every rank
  const table = ckpt.read('tok_embeddings');
  const embed = (ids: readonly number[]): Float32Array => {
    const x = new Float32Array(ids.length * c.dim);
    ids.forEach((t, r) => x.set(table.subarray(t * c.dim, (t + 1) * c.dim), r * c.dim));
    return x;
  };
  const caches = runtimes.map((rt) => new KvCache({ nLayers: c.nLayers, nKvHeads: rt.shape.nKvHeads, headDim: c.headDim, maxSeq: c.maxSeqLen }));
  for (let start = 0; start < tokens.length; start = start === 0 ? promptLength : start + 1) {
    const end = start === 0 ? promptLength : start + 1;
    const positions = Array.from({ length: end - start }, (_, i) => start + i);
    for (const trace of traces) trace.row = start;
    const x = embed(tokens.slice(start, end));
    await Promise.all(runtimes.map((rt, rank) => rt.step([{ cache: caches[rank]!, tokens: tokens.slice(start, end), x, positions }], comms[rank]!)));
    for (const cache of caches) cache.commit();
  }
  return traces;
}

async function withModel<T>(fn: (ckpt: Checkpoint, prompt: number[]) => Promise<T>): Promise<T> {
  const model = await findTestModel();
  const ckpt = openCheckpoint(model.modelPath);
  try {
    const golden = loadGoldenCases(model).find((g) => g.prompt_token_ids.length > 1);
    assert.ok(golden !== undefined, 'golden.json has no case with a prompt of two or more tokens');
    return await fn(ckpt, golden.prompt_token_ids);
  } finally {
    ckpt.close();
  }
}

test('tp=1: x after every block matches the reference forward, layer by layer, prefill and decode', async () => {
  await withModel(async (ckpt, prompt) => {
    const { trace: reference, tokens } = referenceTrace(ckpt, prompt);
    const noPeers: AllReducer = { allReduce: async () => undefined };
    const [worker] = await shardedTraces(ckpt, tokens, prompt.length, [noPeers]);
    const divergence = reference.firstDivergence(worker!);
    assert.equal(divergence, null, `the tp=1 shard leaves the reference at ${divergence}`);
  });
});

test('tp=2 over real communicators: x after every block matches the reference on both ranks, bit-equal across ranks', async () => {
  await withModel(async (ckpt, prompt) => {
    const { trace: reference, tokens } = referenceTrace(ckpt, prompt);
    const endpoints = [await Endpoint.bind('127.0.0.1:0'), await Endpoint.bind('127.0.0.1:0')];
    const peers = endpoints.map((e) => e.address);
    const comms = await Promise.all(endpoints.map((endpoint, rank) => Communicator.create({
      rank, worldSize: 2, peers, communicatorId: 'layer-parity', endpoint,
    })));
    try {
      const [rank0, rank1] = await shardedTraces(ckpt, tokens, prompt.length, comms);
      const divergence = reference.firstDivergence(rank0!);
      assert.equal(divergence, null, `tp=2 rank 0 leaves the reference at ${divergence}`);
      for (const [i, x] of rank0!.x.entries()) {
        assert.ok(Buffer.from(x.buffer).equals(Buffer.from(rank1!.x[i]!.buffer)),
          `ranks 0 and 1 hold different x after layer ${Math.floor(i / 2)} ${BLOCKS[i % 2]} block (an all-reduce left them apart)`);
      }
    } finally {
      await Promise.all(comms.map((comm) => comm.close()));
    }
  });
});
