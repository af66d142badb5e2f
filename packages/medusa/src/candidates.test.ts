import assert from 'node:assert/strict';
import { test } from 'node:test';

import { childLogitQueries, fillCandidates } from './candidates.js';
import { buildTree } from './tree.js';

// nodes: 0 root, 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [1,0], 6 [0,0,0]
const tree = buildTree([[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]]);

test('fillCandidates: root token, then head (depth - 1) at rank', () => {
  const out = new Int32Array(7).fill(-7);
  const result = fillCandidates(tree, 100, [[10, 11, 12], [20, 21], [30]], out);
  assert.equal(result, out);
  assert.deepEqual([...out], [100, 10, 11, 20, 21, 20, 30]);
});

test('fillCandidates agrees with the flat-pool tree indices', () => {
  const pool = [100, 10, 11, 20, 21, 30]; // [root | head 0 top-2 | head 1 top-2 | head 2 top-1]
  const out = fillCandidates(tree, 100, [[10, 11], [20, 21], [30]], new Int32Array(7));
  assert.deepEqual([...out], [...tree.treeIndices].map((k) => pool[k]));
});

test('fillCandidates: token 0 is an ordinary token', () => {
  const out = fillCandidates(tree, 0, [[0, 1], [0, 0], [0]], new Int32Array(7).fill(9));
  assert.deepEqual([...out], [0, 0, 1, 0, 0, 0, 0]);
});

test('fillCandidates: buffer and top-k sizes are checked', () => {
  assert.throws(() => fillCandidates(tree, 1, [[1, 2], [1, 2], [1]], new Int32Array(6)), {
    message: 'candidate buffer holds 6 tokens; the tree has 7 nodes',
  });
  assert.throws(() => fillCandidates(tree, 1, [[1, 2], [1, 2]], new Int32Array(7)), {
    message: 'got top-k from 2 heads; the tree is 3 deep',
  });
  assert.throws(() => fillCandidates(tree, 1, [[1, 2], [1], [1]], new Int32Array(7)), {
    message: 'head 1 gave 1 guesses; the tree uses its top 2',
  });
});

test('childLogitQueries: each child token at its parent, as views', () => {
  const candidates = fillCandidates(tree, 100, [[10, 11], [20, 21], [30]], new Int32Array(7));
  const q = childLogitQueries(tree, candidates);
  assert.deepEqual([...q.nodes], [0, 0, 1, 1, 2, 3]);
  assert.deepEqual([...q.tokens], [10, 11, 20, 21, 20, 30]);
  candidates[6] = 31;
  assert.equal(q.tokens[5], 31); // a view, not a copy
});
