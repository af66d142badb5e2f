// The attention segments' mask and RoPE tables against hand-written ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ropeFrequencies } from '@octoserve/model';
import { AttentionInputs } from './attention-inputs.js';

const maxSeq = 4;
const headDim = 4;

test('a tree step after 2 cached tokens: each row sees the cache, its ancestors and itself; RoPE by position', () => {
  const inputs = new AttentionInputs(maxSeq, 8, headDim, ropeFrequencies(headDim, 10000, null));
  // rows 0..1: a causal sequence with no past; rows 2..4: a tree (root, two children of it) after 2 cached slots
  inputs.fill({ positions: [0, 1], cache: { length: 0 } }, 0);
  inputs.fill({ positions: [2, 3, 3], treeMask: [1, 0, 0, 1, 1, 0, 1, 0, 1], cache: { length: 2 } }, 2);
  const o = -Infinity;
  //                                     cache slots    new tokens
  assert.deepEqual([...inputs.mask(2, 0).data as Float32Array], [
    o, o, o, o, /*                    */ 0, o,
    o, o, o, o, /*                    */ 0, 0,
  ]);
  assert.deepEqual([...inputs.mask(3, 2).data as Float32Array], [
    0, 0, o, o, /*                    */ 0, o, o,
    0, 0, o, o, /*                    */ 0, 0, o,
    0, 0, o, o, /*                    */ 0, o, 0,
  ]);
  const cos = inputs.cos.array(5);
  const sin = inputs.sin.array(5);
  for (const [row, pos] of [0, 1, 2, 3, 3].entries()) {
    // one angle per pair, whatever the layout pairs (the graph's rotary node does)
    for (const [i, freq] of [1, 0.01].entries()) {
      assert.ok(Math.abs(cos[row * headDim / 2 + i]! - Math.cos(pos * freq)) < 1e-6, `cos row ${row} pair ${i}`);
      assert.ok(Math.abs(sin[row * headDim / 2 + i]! - Math.sin(pos * freq)) < 1e-6, `sin row ${row} pair ${i}`);
    }
  }
  assert.deepEqual(inputs.cos.rows(3, 2).dims, [1, 3, headDim / 2], 'cos/sin go to the graphs as [1, T, headDim / 2]');
});
