import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createAcceptance } from './acceptance.js';
import type { Acceptance } from './acceptance.js';
import { fillCandidates } from './candidates.js';
import { buildTree } from './tree.js';
import { verifyGreedy } from './verify-greedy.js';

// nodes: 0 root, 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [1,0], 6 [0,0,0]
// paths: 0 = (0,1,3,6), 1 = (0,1,4), 2 = (0,2,5)
const tree = buildTree([[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]]);
// tokens: 0:100 1:10 2:11 3:20 4:21 5:20 6:30
const candidates = fillCandidates(tree, 100, [[10, 11], [20, 21], [30]], new Int32Array(7));

/** argmax per node; nodes not listed get 999, a token no candidate holds. */
function argmax(entries: Record<number, number>): Int32Array {
  const a = new Int32Array(7).fill(999);
  for (const [node, token] of Object.entries(entries)) a[Number(node)] = token;
  return a;
}

const view = (r: Acceptance) => ({
  path: r.pathIndex,
  nodes: [...r.nodes.subarray(0, r.acceptedLength)],
  tokens: [...r.tokens.subarray(0, r.tokenCount)],
  bonus: r.bonusToken,
  finish: r.finish,
});

test('full acceptance along the deepest path', () => {
  const r = verifyGreedy(tree, candidates, argmax({ 0: 10, 1: 20, 3: 30, 6: 40 }));
  assert.deepEqual(view(r), { path: 0, nodes: [0, 1, 3, 6], tokens: [10, 20, 30, 40], bonus: 40, finish: 'none' });
});

test('partial acceptance on another branch', () => {
  const r = verifyGreedy(tree, candidates, argmax({ 0: 10, 1: 21, 4: 7 }));
  assert.deepEqual(view(r), { path: 1, nodes: [0, 1, 4], tokens: [10, 21, 7], bonus: 7, finish: 'none' });
});

test('nothing accepted: emit the base model token alone', () => {
  const r = verifyGreedy(tree, candidates, argmax({ 0: 55 }));
  assert.deepEqual(view(r), { path: 0, nodes: [0], tokens: [55], bonus: 55, finish: 'none' });
});

test('the longest accepted path wins even at a higher index', () => {
  // node 1 accepted but none of its children; node 2 and its child 5 accepted
  const dup = fillCandidates(tree, 100, [[10, 10], [20, 21], [30]], new Int32Array(7));
  const r = verifyGreedy(tree, dup, argmax({ 0: 10, 1: 77, 2: 20, 5: 8 }));
  assert.deepEqual(view(r), { path: 2, nodes: [0, 2, 5], tokens: [10, 20, 8], bonus: 8, finish: 'none' });
});

test('equal accepted lengths: the lowest path index wins', () => {
  // head 0 guessed token 10 at ranks 0 and 1, so both depth-1 nodes match;
  // paths 0 (0,1,3) and 2 (0,2,5) both accept 3 nodes
  const dup = fillCandidates(tree, 100, [[10, 10], [20, 21], [30]], new Int32Array(7));
  const r = verifyGreedy(tree, dup, argmax({ 0: 10, 1: 20, 2: 20, 3: 5, 5: 6 }));
  assert.deepEqual(view(r), { path: 0, nodes: [0, 1, 3], tokens: [10, 20, 5], bonus: 5, finish: 'none' });
});

test('argmax 0 at a short leaf does not accept into a nonexistent slot', () => {
  // path 1 = (0,1,4) is one shorter than the stride; a padded slot must never match token 0
  const r = verifyGreedy(tree, candidates, argmax({ 0: 10, 1: 21, 4: 0 }));
  assert.deepEqual(view(r), { path: 1, nodes: [0, 1, 4], tokens: [10, 21, 0], bonus: 0, finish: 'none' });
  assert.equal(r.acceptedLength, 3);
});

test('argmax 0 everywhere with token-0 candidates accepts only real nodes', () => {
  const zeros = fillCandidates(tree, 0, [[0, 1], [0, 0], [0]], new Int32Array(7));
  const r = verifyGreedy(tree, zeros, new Int32Array(7));
  assert.deepEqual(view(r), { path: 0, nodes: [0, 1, 3, 6], tokens: [0, 0, 0, 0], bonus: 0, finish: 'none' });
  // a chain-1 tree with everything 0: exactly two tokens, never more
  const chain = buildTree([[0]]);
  const c = verifyGreedy(chain, new Int32Array(2), new Int32Array(2));
  assert.deepEqual(view(c), { path: 0, nodes: [0, 1], tokens: [0, 0], bonus: 0, finish: 'none' });
});

test('a stop token inside the path ends emission there', () => {
  const a = argmax({ 0: 10, 1: 20, 3: 30, 6: 40 });
  const r = verifyGreedy(tree, candidates, a, { eosIds: [2, 20] });
  assert.deepEqual(view(r), { path: 0, nodes: [0, 1, 3, 6], tokens: [10, 20], bonus: 40, finish: 'stop' });
  const bonusStop = verifyGreedy(tree, candidates, a, { eosIds: [40] });
  assert.deepEqual(view(bonusStop).tokens, [10, 20, 30, 40]);
  assert.equal(bonusStop.finish, 'stop');
});

test('the token budget truncates emission', () => {
  const a = argmax({ 0: 10, 1: 20, 3: 30, 6: 40 });
  const cases: [number, number[], string][] = [
    [0, [], 'length'],
    [2, [10, 20], 'length'],
    [4, [10, 20, 30, 40], 'length'],
    [5, [10, 20, 30, 40], 'none'],
  ];
  for (const [maxNewTokens, tokens, finish] of cases) {
    const r = verifyGreedy(tree, candidates, a, { maxNewTokens });
    assert.deepEqual([view(r).tokens, r.finish], [tokens, finish], `maxNewTokens ${maxNewTokens}`);
  }
  // a stop token that is also the last allowed token reports 'stop'
  const both = verifyGreedy(tree, candidates, a, { maxNewTokens: 2, eosIds: [20] });
  assert.equal(both.finish, 'stop');
  assert.throws(() => verifyGreedy(tree, candidates, a, { maxNewTokens: -1 }), /maxNewTokens must be >= 0/);
});

test('a reused acceptance buffer is fully overwritten', () => {
  const out = createAcceptance(tree);
  verifyGreedy(tree, candidates, argmax({ 0: 10, 1: 20, 3: 30, 6: 40 }), {}, out);
  const r = verifyGreedy(tree, candidates, argmax({ 0: 3 }), {}, out);
  assert.equal(r, out);
  assert.deepEqual(view(r), { path: 0, nodes: [0], tokens: [3], bonus: 3, finish: 'none' });
});

test('input sizes are checked', () => {
  assert.throws(() => verifyGreedy(tree, candidates, new Int32Array(6)), /needs 7 candidates and argmaxes, got 7 and 6/);
  const small = createAcceptance(buildTree([[0]]));
  assert.throws(() => verifyGreedy(tree, candidates, new Int32Array(7), {}, small), /acceptance buffers hold 2 nodes; the tree needs 4/);
});
