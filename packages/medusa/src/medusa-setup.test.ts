// Loading heads and their tree, and the sizes a cluster provisions for a tree, on hand-built trees.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createMedusaHeads } from './heads.js';
import { writeMedusaHeads } from './heads-format.js';
import { loadMedusa, treeLimits, widestNode } from './medusa-setup.js';
import { buildTree } from './tree.js';

const dir = mkdtempSync(join(tmpdir(), 'octoserve-medusa-setup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the widest node and the top-k of a hand-built tree', () => {
  // root -> [0], [1], [2]; [0] -> [0,0], [0,1]
  const tree = buildTree([[0], [1], [2], [0, 0], [0, 1]]);
  assert.equal(widestNode(tree), 3);
  assert.deepEqual(treeLimits(tree), { topK: 3, maxPicked: 3 });
  assert.equal(widestNode(buildTree([[0], [0, 0], [0, 0, 0]])), 1);
});

test('loadMedusa: the default tree is mc_sim_7b_63 cut to the heads; a named tree deeper than the heads fails', () => {
  const heads = createMedusaHeads(2, 0, new Float32Array(16 * 8), 8, 16);
  writeMedusaHeads(join(dir, 'h'), heads);
  const { heads: loaded, tree } = loadMedusa({ vocabSize: 16, dim: 8 }, { dir: join(dir, 'h') });
  assert.equal(loaded.numHeads, 2);
  assert.equal(tree.maxDepth, 2);
  assert.equal(loadMedusa({ vocabSize: 16, dim: 8 }, { dir: join(dir, 'h'), choices: 'chain-2' }).tree.nodeCount, 3);
  assert.throws(() => loadMedusa({ vocabSize: 16, dim: 8 }, { dir: join(dir, 'h'), choices: 'chain-3' }), /depth 3, but the model has 2 Medusa heads/);
});
