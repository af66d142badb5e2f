// The compute probe on stories260K: rank 0's shard at tp 1 and 2, one row and a tree of rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openCheckpoint } from '@octoserve/model';
import { findTestModel } from '@octoserve/testkit';
import { probeShardCompute } from './compute-probe.js';

const split = (n: number, parts: number, part: number): { start: number; end: number } => {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const start = part * base + Math.min(part, extra);
  return { start, end: start + base + (part < extra ? 1 : 0) };
};

test('probeShardCompute: a time per step from every call of the shard, more rows costing more', async () => {
  const model = await findTestModel();
  const ckpt = openCheckpoint(model.modelPath);
  const c = ckpt.config;
  ckpt.close();
  const shard = (tp: number) => ({
    rank: 0, tp, heads: split(c.nHeads, tp, 0), kvHeads: split(c.nKvHeads, tp, 0), hidden: split(c.hiddenDim, tp, 0), vocab: split(c.vocabSize, tp, 0),
  });
  const one = await probeShardCompute({ checkpointPath: model.modelPath, shard: shard(1), rows: 1, context: 8, steps: 10, idleMs: 0 });
  assert.equal(one.calls, 2 * c.nLayers + 1);
  assert.ok(one.stepUs > 0 && Number.isFinite(one.stepUs));
  const tree = await probeShardCompute({ checkpointPath: model.modelPath, shard: shard(2), rows: 32, context: 8, steps: 10, idleMs: 1 });
  assert.ok(tree.stepUs > 0 && Number.isFinite(tree.stepUs));
  await assert.rejects(probeShardCompute({ checkpointPath: model.modelPath, shard: shard(1), rows: 64, context: c.maxSeqLen, steps: 1 }), /passes 512 positions|passes \d+ positions/);
});
