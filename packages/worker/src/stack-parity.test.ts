// A single rank's step as one graph (RuntimeOptions.stack) against the same step segment by
// segment, on stories260K in f32 and q4: every output the reply carries and every KV slot
// written, bit for bit, through a prefill, greedy decode steps, a tree step, and a step of two
// sequences (which the stack runs one after the other).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openCheckpoint, ropeFrequencies, type Checkpoint, type WeightFormat } from '@octoserve/model';
import { readShardSlices, type ShardAssignment } from '@octoserve/wire';
import { findTestModel, loadGoldenCases } from '@octoserve/testkit';
import { KvCache } from './kv-cache.js';
import { assembleShard, segmentShape } from './shard-loader.js';
import { ShardRuntime, type SequenceStep, type StepOutputs } from './shard-runtime.js';
import type { AllReducer } from './timed-all-reducer.js';

const DECODE_STEPS = 5;
const noPeers: AllReducer = { allReduce: async () => undefined };

async function singleRank(ckpt: Checkpoint, weights: WeightFormat, stack: boolean): Promise<ShardRuntime> {
  const c = ckpt.config;
  const whole = (n: number) => ({ start: 0, end: n });
  const shard: ShardAssignment = { rank: 0, tp: 1, heads: whole(c.nHeads), kvHeads: whole(c.nKvHeads), hidden: whole(c.hiddenDim), vocab: whole(c.vocabSize) };
  const slices = assembleShard(c, shard, readShardSlices(ckpt, shard), undefined, weights);
  return ShardRuntime.create(segmentShape(c, shard, c.maxSeqLen), slices, {
    maxTokens: 64, topK: 4, maxPicked: 1, ropeFreqs: ropeFrequencies(c.headDim, c.ropeTheta, c.ropeScaling), stack,
  });
}

/** Every output of a step's rows [from, to) as bytes, so two runs compare bit for bit. */
function outputBytes(o: StepOutputs, from = 0, to = o.rows): Buffer {
  return Buffer.concat([o.max, o.argmax, o.topkValues, o.topkIndices, o.sumexp, o.sumexpLogit, o.picked, o.hidden, o.sample].map((a) => {
    const width = a.length / o.rows;
    const rows = a.subarray(from * width, to * width);
    return Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength);
  }));
}

const cacheBytes = (c: KvCache): Buffer => Buffer.concat([...c.k, ...c.v].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));

for (const weights of ['f32', 'q4'] as const) {
  test(`tp=1 ${weights}: the stack graph gives the segments' outputs and KV caches bit for bit (prefill, decode, tree, two sequences)`, async () => {
    const model = await findTestModel();
    const ckpt = openCheckpoint(model.modelPath);
    try {
      const c = ckpt.config;
      const golden = loadGoldenCases(model).find((g) => g.prompt_token_ids.length > 1);
      assert.ok(golden !== undefined, 'golden.json has no case with a prompt of two or more tokens');
      const table = ckpt.read('tok_embeddings');
      const embed = (ids: readonly number[]): Float32Array => {
        const x = new Float32Array(ids.length * c.dim);
        ids.forEach((t, r) => x.set(table.subarray(t * c.dim, (t + 1) * c.dim), r * c.dim));
        return x;
      };
      const runtimes = [await singleRank(ckpt, weights, false), await singleRank(ckpt, weights, true)];
      const newCache = (): KvCache => new KvCache({ nLayers: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim, maxSeq: c.maxSeqLen });
      const caches = runtimes.map(() => [newCache(), newCache()]);
      type Part = { seq: number; tokens: number[]; positions: number[]; treeMask?: number[] };
      const run = async (i: number, parts: readonly Part[]): Promise<StepOutputs> => {
        const seqs: SequenceStep[] = parts.map((p) => ({ cache: caches[i]![p.seq]!, tokens: p.tokens, x: embed(p.tokens), positions: p.positions, treeMask: p.treeMask }));
        const out = await runtimes[i]!.step(seqs, noPeers);
        for (const p of parts) caches[i]![p.seq]!.commit();
        return out;
      };
      // the stack runs a step's sequences one after the other: the segments do the same, one step each
      // (batched rows through a quantized matmul need not give the bits of one sequence alone)
      const step = async (what: string, parts: readonly Part[]): Promise<StepOutputs> => {
        const segments: Buffer[] = [];
        for (const p of parts) segments.push(outputBytes(await run(0, [p])));
        const out = await run(1, parts);
        let row = 0;
        for (const [k, p] of parts.entries()) {
          assert.ok(outputBytes(out, row, row + p.tokens.length).equals(segments[k]!), `${what}: the stack's outputs differ from the segments' (sequence ${p.seq})`);
          row += p.tokens.length;
        }
        for (const s of [0, 1]) assert.ok(cacheBytes(caches[0]![s]!).equals(cacheBytes(caches[1]![s]!)), `${what}: sequence ${s}'s KV cache differs`);
        return out;
      };
      const prompt = golden.prompt_token_ids;
      let out = await step('prefill', [{ seq: 0, tokens: prompt, positions: prompt.map((_, i) => i) }]);
      let next = Number(out.argmax[prompt.length - 1]);
      let pos = prompt.length;
      for (let i = 0; i < DECODE_STEPS; i++, pos++) {
        out = await step(`decode ${i}`, [{ seq: 0, tokens: [next], positions: [pos] }]);
        next = Number(out.argmax[0]);
      }
      // a tree of 3: the root and two children that do not see each other
      await step('tree', [{ seq: 0, tokens: [next, 5, 7], positions: [pos, pos + 1, pos + 1], treeMask: [1, 0, 0, 1, 1, 0, 1, 0, 1] }]);
      await step('two sequences', [{ seq: 0, tokens: [9], positions: [pos + 3] }, { seq: 1, tokens: prompt.slice(0, 3), positions: [0, 1, 2] }]);
    } finally {
      ckpt.close();
    }
  });
}
