import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planShards, splitEvenly, ShardingError } from './sharding.js';

const stories260K = { dim: 64, hiddenDim: 172, nHeads: 8, nKvHeads: 4, vocabSize: 512 };

test('splitEvenly covers every item once, sizes differ by at most one', () => {
  assert.deepEqual(splitEvenly(172, 8).map((r) => r.end - r.start), [22, 22, 22, 22, 21, 21, 21, 21]);
  assert.deepEqual(splitEvenly(5, 3), [{ start: 0, end: 2 }, { start: 2, end: 4 }, { start: 4, end: 5 }]);
});

test('stories260K at tp=8: one head each, KV heads replicated in pairs, uneven FFN', () => {
  const plan = planShards(stories260K, 8);
  assert.deepEqual(plan.ranks.map((r) => r.heads.start), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(plan.ranks.map((r) => r.kvHeads.start), [0, 0, 1, 1, 2, 2, 3, 3]);
  assert.ok(plan.ranks.every((r) => r.kvHeads.end - r.kvHeads.start === 1));
  // every rank's query heads use only the KV heads it holds (group = 2)
  for (const r of plan.ranks) {
    for (let h = r.heads.start; h < r.heads.end; h++) {
      const kv = Math.floor(h / 2);
      assert.ok(kv >= r.kvHeads.start && kv < r.kvHeads.end, `rank ${r.rank} head ${h}`);
    }
  }
  assert.equal(plan.ranks.at(-1)?.hidden.end, 172);
  assert.equal(plan.ranks.at(-1)?.vocab.end, 512);
});

test('KV heads split when there are enough, e.g. 8 KV heads at tp=4', () => {
  const plan = planShards({ ...stories260K, nKvHeads: 8 }, 4);
  assert.deepEqual(plan.ranks.map((r) => [r.kvHeads.start, r.kvHeads.end]), [[0, 2], [2, 4], [4, 6], [6, 8]]);
});

test('impossible splits name the numbers', () => {
  assert.throws(() => planShards({ ...stories260K, nHeads: 6, nKvHeads: 6 }, 4), (e: unknown) => e instanceof ShardingError && /6 attention heads over tp=4/.test(e.message));
  assert.throws(() => planShards({ ...stories260K, nHeads: 12, nKvHeads: 3 }, 2), /3 KV heads on tp=2/);
  assert.throws(() => planShards(stories260K, 0), /positive integer, got 0/);
});
