import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergedArgmax, mergedSample, mergedSoftmaxStats, mergedTopK } from './merge.js';
import type { RankRows } from '@octoserve/wire';

/** One rank holding `logits` as its vocabulary rows starting at global id `start` (one row). */
function rank(logits: number[], start: number, invT = 1, localSample = 0): RankRows {
  const m = Math.max(...logits);
  const order = logits.map((l, i) => [l, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const e = logits.map((l) => Math.exp((l - m) * invT));
  return {
    max: Float32Array.of(m), argmax: Uint32Array.of(start + (order[0]?.[1] ?? 0)),
    topkValues: Float32Array.from(order.slice(0, 2).map((o) => o[0])), topkIds: Uint32Array.from(order.slice(0, 2).map((o) => start + o[1])),
    sumexp: Float32Array.of(e.reduce((a, b) => a + b, 0)), sumexpLogit: Float32Array.of(e.reduce((a, v, i) => a + v * logits[i]! * invT, 0)),
    picked: new Float32Array(0), sample: Uint32Array.of(start + localSample), medusaValues: new Float32Array(0), medusaIds: new Uint32Array(0),
  };
}

const a = [1.5, -0.5, 3.0];
const b = [3.0, 2.0];
const ranks = [rank(a, 0), rank(b, 3)];
const all = [...a, ...b];

test('argmax across ranks: the largest logit, the lowest id among equals', () => {
  assert.deepEqual(mergedArgmax(ranks, 0), { id: 2, logit: 3 });
});

test('top-k across ranks merges the sorted local lists', () => {
  const ids = new Uint32Array(3);
  const values = new Float32Array(3);
  mergedTopK(ranks, 0, 3, 2, ids, values);
  assert.deepEqual([...ids], [2, 3, 4]);
  assert.deepEqual([...values], [3, 3, 2]);
});

test('log-sum-exp and entropy from the pieces equal the whole-vocabulary values', () => {
  const lse = Math.log(all.reduce((s, l) => s + Math.exp(l), 0));
  const p = all.map((l) => Math.exp(l - lse));
  const h = -p.reduce((s, q) => s + q * Math.log(q), 0);
  const got = mergedSoftmaxStats(ranks, 0);
  assert.ok(Math.abs(got.logSumExp - lse) < 1e-5);
  assert.ok(Math.abs(got.entropy - h) < 1e-5);
});

test('a draw picks each rank with its share of the mass, then takes that rank\'s own draw', () => {
  const T = 0.7;
  const za = a.reduce((s, l) => s + Math.exp(l / T), 0);
  const zb = b.reduce((s, l) => s + Math.exp(l / T), 0);
  const share = za / (za + zb);
  const tempered = [rank(a, 0, 1 / T, 2), rank(b, 3, 1 / T, 1)];
  assert.equal(mergedSample(tempered, 0, 1 / T, share - 1e-6), 2);
  assert.equal(mergedSample(tempered, 0, 1 / T, share + 1e-6), 4);
  assert.equal(mergedSample(tempered, 0, 1 / T, 0), 2);
  assert.equal(mergedSample(tempered, 0, 1 / T, 0.999999), 4);
});
