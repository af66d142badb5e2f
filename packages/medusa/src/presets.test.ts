import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MC_SIM_7B_63, PRESET_NAMES, chainChoices, resolveChoices, truncateChoices } from './presets.js';
import { buildTree } from './tree.js';

test('mc_sim_7b_63: 63 distinct choices, prefix-closed, 4 deep', () => {
  assert.equal(MC_SIM_7B_63.length, 63);
  const keys = new Set(MC_SIM_7B_63.map((c) => c.join(',')));
  assert.equal(keys.size, 63);
  for (const c of MC_SIM_7B_63) if (c.length > 1) assert.ok(keys.has(c.slice(0, -1).join(',')), `prefix of ${c}`);
  // per depth: 10 at depth 1, 28 at depth 2, 23 at depth 3, 2 at depth 4
  const perDepth = [0, 0, 0, 0, 0];
  for (const c of MC_SIM_7B_63) perDepth[c.length - 1]!++;
  assert.deepEqual(perDepth, [10, 28, 23, 2, 0]);
  // spot checks against the published order
  assert.deepEqual(MC_SIM_7B_63[0], [0]);
  assert.deepEqual(MC_SIM_7B_63[1], [0, 0]);
  assert.deepEqual(MC_SIM_7B_63[36], [0, 0, 0, 0]);
  assert.deepEqual(MC_SIM_7B_63[60], [0, 0, 0, 1]);
  assert.deepEqual(MC_SIM_7B_63[62], [0, 7, 0]);
});

test('mc_sim_7b_63 compiles to 64 nodes, top-k 10/10/10/2, 42 leaves', () => {
  const tree = buildTree(MC_SIM_7B_63, { numHeads: 5 });
  assert.equal(tree.nodeCount, 64);
  assert.equal(tree.maxDepth, 4);
  assert.deepEqual([...tree.topK], [10, 10, 10, 2, 0]);
  assert.equal(tree.pathCount, 42);
  assert.equal(tree.ancestorMask.length, 64 * 64);
  // each mask row holds the node and its ancestors: depth + 1 ones
  for (let i = 0; i < 64; i++) {
    const row = tree.ancestorMask.subarray(i * 64, i * 64 + 64);
    assert.equal(row.reduce((a, b) => a + b, 0), tree.depth[i]! + 1);
  }
  // the first path is the all-top-1 chain, the longest
  assert.deepEqual([...tree.paths.subarray(0, 5)], [0, 1, 11, 39, 62]);
  assert.equal(tree.pathLengths[0], 5);
  // parents are non-decreasing (siblings contiguous)
  for (let i = 2; i < 64; i++) assert.ok(tree.parent[i]! >= tree.parent[i - 1]!);
});

test('chain-K', () => {
  assert.deepEqual(chainChoices(3), [[0], [0, 0], [0, 0, 0]]);
  const tree = buildTree(chainChoices(4));
  assert.equal(tree.nodeCount, 5);
  assert.deepEqual([...tree.topK], [1, 1, 1, 1]);
  assert.deepEqual([...tree.paths], [0, 1, 2, 3, 4]);
  assert.throws(() => chainChoices(0), /positive integer/);
});

test('resolveChoices: presets, JSON, and errors that list the presets', () => {
  assert.deepEqual(PRESET_NAMES, ['mc_sim_7b_63', 'stories260k', 'stories260k-small', 'chain-K']);
  assert.equal(resolveChoices('mc_sim_7b_63').length, 63);
  const stories = buildTree(resolveChoices('stories260k'), { numHeads: 4 });
  assert.equal(stories.nodeCount, 64);
  assert.equal(stories.maxDepth, 4);
  assert.deepEqual([...stories.topK], [10, 10, 6, 5]);
  assert.deepEqual(resolveChoices(' chain-2 '), [[0], [0, 0]]);
  assert.deepEqual(resolveChoices('[[0],[1],[0,0]]'), [[0], [1], [0, 0]]);
  assert.throws(() => resolveChoices('mc_sim_13b'), {
    message:
      'unknown medusa_choices "mc_sim_13b": expected a preset (mc_sim_7b_63, stories260k, stories260k-small, or chain-K for K >= 1, e.g. chain-4) ' +
      'or a JSON list of paths such as [[0],[1],[0,0]]',
  });
  assert.throws(() => resolveChoices('chain-0'), /positive integer/);
  assert.throws(() => resolveChoices('[[0],'), /not valid JSON .*mc_sim_7b_63/);
  assert.throws(() => resolveChoices('[0, 1]'), /JSON list of lists of ranks/);
});

test('the preset cannot be mutated through resolveChoices', () => {
  const copy = resolveChoices('mc_sim_7b_63');
  copy[0]!.push(9);
  assert.deepEqual(MC_SIM_7B_63[0], [0]);
});

test('truncateChoices cuts a tree to the heads a model has', () => {
  const cut = truncateChoices(MC_SIM_7B_63, 2);
  assert.ok(cut.every((p) => p.length <= 2));
  assert.equal(cut.length, MC_SIM_7B_63.filter((p) => p.length <= 2).length);
  assert.equal(buildTree(cut, { numHeads: 2 }).maxDepth, 2);
  assert.deepEqual(truncateChoices([[0], [0, 0], [0, 0, 0]], 1), [[0]]);
});

test('stories260k-small is a valid 11-node tree four deep', () => {
  const tree = buildTree(resolveChoices('stories260k-small'), { numHeads: 4 });
  assert.equal(tree.nodeCount, 11);
  assert.equal(tree.maxDepth, 4);
  assert.deepEqual(Array.from(tree.topK.slice(0, 4)), [4, 2, 2, 2]);
});
