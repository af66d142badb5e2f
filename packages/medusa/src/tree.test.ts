import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildTree } from './tree.js';

// Six choices, given out of order on purpose; node order is (length, lex):
//   0 root  1 [0]  2 [1]  3 [0,0]  4 [0,1]  5 [1,0]  6 [0,0,0]
//
//            0
//          /   \
//         1     2
//        / \     \
//       3   4     5
//       |
//       6
const SMALL = [[0, 0, 0], [1, 0], [0], [0, 1], [1], [0, 0]];

test('small tree: node order, depths, parents, heads, ranks', () => {
  const tree = buildTree(SMALL);
  assert.equal(tree.nodeCount, 7);
  assert.equal(tree.maxDepth, 3);
  assert.equal(tree.numHeads, 3);
  assert.deepEqual(tree.choices, [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]]);
  assert.deepEqual([...tree.depth], [0, 1, 1, 2, 2, 2, 3]);
  assert.deepEqual([...tree.positionOffsets], [0, 1, 1, 2, 2, 2, 3]);
  assert.deepEqual([...tree.parent], [-1, 0, 0, 1, 1, 2, 3]);
  assert.deepEqual([...tree.head], [-1, 0, 0, 1, 1, 1, 2]);
  assert.deepEqual([...tree.rank], [-1, 0, 1, 0, 1, 0, 0]);
});

test('small tree: ancestor mask, row-major, each node sees itself and its ancestors', () => {
  const tree = buildTree(SMALL);
  // prettier-ignore
  const expected = [
    1, 0, 0, 0, 0, 0, 0, // 0
    1, 1, 0, 0, 0, 0, 0, // 1 [0]
    1, 0, 1, 0, 0, 0, 0, // 2 [1]
    1, 1, 0, 1, 0, 0, 0, // 3 [0,0]
    1, 1, 0, 0, 1, 0, 0, // 4 [0,1]
    1, 0, 1, 0, 0, 1, 0, // 5 [1,0]
    1, 1, 0, 1, 0, 0, 1, // 6 [0,0,0]
  ];
  assert.deepEqual([...tree.ancestorMask], expected);
});

test('small tree: root-to-leaf paths in lexicographic leaf order, -1 beyond each length', () => {
  const tree = buildTree(SMALL);
  assert.equal(tree.pathCount, 3);
  assert.equal(tree.pathStride, 4);
  assert.deepEqual([...tree.paths], [0, 1, 3, 6, 0, 1, 4, -1, 0, 2, 5, -1]);
  assert.deepEqual([...tree.pathLengths], [4, 3, 3]);
});

test('small tree: per-head top-k and flat-pool tree indices', () => {
  const tree = buildTree(SMALL);
  assert.deepEqual([...tree.topK], [2, 2, 1]);
  assert.deepEqual([...tree.topKOffsets], [0, 2, 4, 5]);
  // pool: [root | h0 r0, h0 r1 | h1 r0, h1 r1 | h2 r0]
  assert.deepEqual([...tree.treeIndices], [0, 1, 2, 3, 4, 3, 5]);
});

test('numHeads beyond the tree depth gives unused heads top-k 0', () => {
  const tree = buildTree(SMALL, { numHeads: 5 });
  assert.equal(tree.numHeads, 5);
  assert.deepEqual([...tree.topK], [2, 2, 1, 0, 0]);
  assert.deepEqual([...tree.topKOffsets], [0, 2, 4, 5, 5, 5]);
});

test('a single choice is a one-node chain', () => {
  const tree = buildTree([[3]]);
  assert.equal(tree.nodeCount, 2);
  assert.deepEqual([...tree.topK], [4]);
  assert.deepEqual([...tree.paths], [0, 1]);
  assert.deepEqual([...tree.ancestorMask], [1, 0, 1, 1]);
});

test('validation: empty list', () => {
  assert.throws(() => buildTree([]), /medusa_choices is empty/);
});

test('validation: missing prefix names the prefix', () => {
  assert.throws(() => buildTree([[0], [0, 1, 2], [0, 0]]), { message: 'choice [0,1,2] needs its prefix [0,1]' });
  assert.throws(() => buildTree([[1, 0]]), { message: 'choice [1,0] needs its prefix [1]' });
});

test('validation: depth beyond the heads', () => {
  assert.throws(() => buildTree(SMALL, { numHeads: 2 }), {
    message: 'choice [0,0,0] has depth 3, but the model has 2 Medusa heads',
  });
  assert.throws(() => buildTree([[0]], { numHeads: 0 }), /numHeads must be a positive integer/);
});

test('validation: duplicates, negative and non-integer ranks, empty paths', () => {
  assert.throws(() => buildTree([[0], [1], [0]]), { message: 'choice [0] appears twice (entries 0 and 2)' });
  assert.throws(() => buildTree([[0], [0, -1]]), { message: 'choice [0,-1] has a negative rank -1 at depth 2' });
  assert.throws(() => buildTree([[0.5]]), /has rank 0.5 at depth 1; ranks are non-negative integers/);
  assert.throws(() => buildTree([[0], []]), /entry 1 is \[\], but the root is implicit/);
});

test('the input is not mutated and its order does not matter', () => {
  const input = SMALL.map((c) => [...c]);
  const a = buildTree(input);
  assert.deepEqual(input, SMALL);
  const b = buildTree([...SMALL].reverse());
  assert.deepEqual([...a.ancestorMask], [...b.ancestorMask]);
  assert.deepEqual([...a.paths], [...b.paths]);
});
