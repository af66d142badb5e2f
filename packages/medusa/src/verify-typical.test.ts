import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Acceptance } from './acceptance.js';
import { fillCandidates } from './candidates.js';
import { createRng } from './rng.js';
import { sampleFromLogits } from './sample.js';
import { buildTree } from './tree.js';
import { verifyTypical } from './verify-typical.js';
import type { TypicalInputs } from './verify-typical.js';

// nodes: 0 root, 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [1,0], 6 [0,0,0]
// paths: 0 = (0,1,3,6), 1 = (0,1,4), 2 = (0,2,5)
const tree = buildTree([[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]]);
// tokens: 0:100 1:10 2:11 3:20 4:21 5:20 6:30
const candidates = fillCandidates(tree, 100, [[10, 11], [20, 21], [30]], new Int32Array(7));

/**
 * Inputs with log-sum-exp 0 at every node, so at T = 1 a child's logit is
 * log p. `probs[c]` is p(tok[c]) at parent[c] (children not listed: 0.001);
 * `entropy[n]` defaults to 0, making the threshold min(0.09, 0.3) = 0.09.
 * The bonus "sampler" returns 500 + node, recording what it was given.
 */
function inputs(probs: Record<number, number>, entropy: Record<number, number> = {}, scale = 1) {
  const childLogits = new Float64Array(7);
  for (let c = 1; c < 7; c++) childLogits[c] = scale * Math.log(probs[c] ?? 0.001);
  const h = new Float64Array(7);
  for (const [node, value] of Object.entries(entropy)) h[Number(node)] = value;
  const calls: [number, number][] = [];
  const value: TypicalInputs = {
    childLogits,
    logSumExp: new Float64Array(7),
    entropy: h,
    sampleAt: (node, u) => {
      calls.push([node, u]);
      return 500 + node;
    },
  };
  return { value, calls };
}

const fixed = (u: number) => () => u;
const view = (r: Acceptance) => ({
  path: r.pathIndex,
  nodes: [...r.nodes.subarray(0, r.acceptedLength)],
  tokens: [...r.tokens.subarray(0, r.tokenCount)],
});

test('epsilon bounds the threshold when entropy is low: 0.1 accepted, 0.08 rejected', () => {
  const { value, calls } = inputs({ 1: 0.1, 2: 0.08 });
  const r = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0.25) });
  assert.deepEqual(view(r), { path: 0, nodes: [0, 1], tokens: [10, 501] });
  assert.deepEqual(calls, [[1, 0.25]]);
  assert.equal(r.bonusToken, 501);
  assert.ok(Math.abs(r.logProbSum - Math.log(0.1)) < 1e-12);
});

test('delta * exp(-H) bounds the threshold when entropy is high', () => {
  // H = ln 4: threshold = min(0.09, 0.3 / 4) = 0.075
  const { value } = inputs({ 1: 0.074, 2: 0.076 }, { 0: Math.log(4) });
  const r = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0) });
  assert.deepEqual(view(r), { path: 2, nodes: [0, 2], tokens: [11, 502] });
  // H = ln 2: threshold = min(0.09, 0.15) = 0.09, so 0.076 is now rejected
  const low = inputs({ 1: 0.074, 2: 0.076 }, { 0: Math.log(2) });
  const none = verifyTypical(tree, candidates, low.value, { temperature: 1, rng: fixed(0) });
  assert.deepEqual(view(none), { path: 0, nodes: [0], tokens: [500] });
  assert.equal(none.logProbSum, 0);
});

test('custom epsilon and delta', () => {
  const { value } = inputs({ 1: 0.2 }, { 0: 0 });
  const rejected = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0), epsilon: 0.25 });
  assert.equal(rejected.acceptedLength, 1);
  const accepted = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0), epsilon: 0.25, delta: 0.1 });
  assert.equal(accepted.acceptedLength, 2);
});

test('full acceptance along the deepest path', () => {
  const { value, calls } = inputs({ 1: 0.6, 3: 0.5, 6: 0.9 });
  const r = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0.5) });
  assert.deepEqual(view(r), { path: 0, nodes: [0, 1, 3, 6], tokens: [10, 20, 30, 506] });
  assert.deepEqual(calls, [[6, 0.5]]);
});

test('equal lengths: the larger sum of log p wins, whatever the index', () => {
  // paths 1 (0,1,4) and 2 (0,2,5) both accept two children; node 3 is rejected
  // path 1: 0.5 * 0.2 = 0.10, path 2: 0.3 * 0.4 = 0.12 -> path 2
  const a = inputs({ 1: 0.5, 4: 0.2, 2: 0.3, 5: 0.4 });
  const r = verifyTypical(tree, candidates, a.value, { temperature: 1, rng: fixed(0) });
  assert.deepEqual(view(r), { path: 2, nodes: [0, 2, 5], tokens: [11, 20, 505] });
  assert.ok(Math.abs(r.logProbSum - Math.log(0.12)) < 1e-12);
  // path 2: 0.3 * 0.3 = 0.09 < 0.10 -> path 1
  const b = inputs({ 1: 0.5, 4: 0.2, 2: 0.3, 5: 0.3 });
  const s = verifyTypical(tree, candidates, b.value, { temperature: 1, rng: fixed(0) });
  assert.deepEqual(view(s), { path: 1, nodes: [0, 1, 4], tokens: [10, 21, 504] });
});

test('a longer path beats a more likely shorter one', () => {
  // path 0 accepts 3 children at 0.1 each; path 2 accepts 1 child at 0.9
  const { value } = inputs({ 1: 0.1, 3: 0.1, 6: 0.1, 2: 0.9 });
  const r = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0) });
  assert.deepEqual(view(r).nodes, [0, 1, 3, 6]);
});

test('the temperature divides the raw child logit', () => {
  // logit 2 ln 0.1 with lse 0: at T = 2, p = 0.1 (accepted); at T = 1, p = 0.01 (rejected)
  const { value } = inputs({ 1: 0.1 }, {}, 2);
  assert.equal(verifyTypical(tree, candidates, value, { temperature: 2, rng: fixed(0) }).acceptedLength, 2);
  assert.equal(verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0) }).acceptedLength, 1);
  assert.throws(() => verifyTypical(tree, candidates, value, { temperature: 0, rng: fixed(0) }), /temperature > 0/);
});

test('stop ids and the budget apply to typical acceptance too', () => {
  const { value } = inputs({ 1: 0.6, 3: 0.5, 6: 0.9 });
  const stop = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0), eosIds: [20] });
  assert.deepEqual([view(stop).tokens, stop.finish], [[10, 20], 'stop']);
  const cut = verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0), maxNewTokens: 3 });
  assert.deepEqual([view(cut).tokens, cut.finish], [[10, 20, 30], 'length']);
});

test('the bonus is sampled from p at the last accepted node, reproducibly from a seed', () => {
  // node 1 is accepted; p at node 1 over a 4-token vocabulary is [0.5, 0.25, 0.125, 0.125]
  const logitsAt1 = [0.5, 0.25, 0.125, 0.125].map(Math.log);
  const { value } = inputs({ 1: 0.6 });
  const draws: number[] = [];
  value.sampleAt = (node, u) => {
    assert.equal(node, 1);
    draws.push(u);
    return sampleFromLogits(logitsAt1, 1, u);
  };
  const run = (seed: number) => {
    const rng = createRng(seed);
    const tokens: number[] = [];
    for (let step = 0; step < 32; step++) tokens.push(verifyTypical(tree, candidates, value, { temperature: 1, rng }).bonusToken);
    return tokens;
  };
  const a = run(7);
  assert.equal(draws.length, 32); // exactly one uniform per step
  assert.deepEqual(run(7), a);
  assert.notDeepEqual(run(8), a);
  // with a fixed u the choice is hand-checkable: cumulative 0.5, 0.75, 0.875, 1
  const at = (u: number) => verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(u) }).bonusToken;
  assert.deepEqual([0, 0.49, 0.5, 0.74, 0.8, 0.9].map(at), [0, 0, 1, 1, 2, 3]);
});

test('input sizes are checked', () => {
  const { value } = inputs({});
  value.entropy = new Float64Array(6);
  assert.throws(() => verifyTypical(tree, candidates, value, { temperature: 1, rng: fixed(0) }), /needs 7 entries per node.*entropy 6/);
});
