// The reference backend against direct computation: per row base argmax, head top-k, softmax
// statistics, child logits and the inverse-CDF draw, for a prefill and a tree step.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Transformer, argmax, loadWeights, openLlama2c, type TransformerWeights } from '@octoserve/model';
import { fillCandidates } from './candidates.js';
import { applyHead, createHeadScratch, createMedusaHeads, type MedusaHeads } from './heads.js';
import { createStepOutputs } from './medusa-backend.js';
import { ReferenceMedusaBackend } from './reference-backend.js';
import { sampleFromLogits, writeSoftmaxStats } from './sample.js';
import { argmaxAt, topKInto } from './top-k.js';
import { buildTree } from './tree.js';
import { findTestModel } from '@octoserve/testkit';

test('topKInto: best first, lower ids first among equals; argmaxAt likewise', () => {
  const x = Float32Array.from([9, 1, 5, 7, 5, 9, -2, 7]);
  const ids = new Int32Array(6).fill(-1);
  topKInto(x, 0, 8, 5, ids, 1, new Float32Array(5));
  assert.deepEqual([...ids], [-1, 0, 5, 3, 7, 2]);
  topKInto(x, 2, 4, 2, ids, 0, new Float32Array(2)); // x[2..6) = [5, 7, 5, 9]
  assert.deepEqual([...ids.subarray(0, 2)], [3, 1]);
  assert.equal(argmaxAt(x, 0, 8), 0);
  assert.equal(argmaxAt(x, 1, 4), 2); // [1, 5, 7, 5]
  assert.throws(() => topKInto(x, 0, 3, 4, ids, 0, new Float32Array(4)), /top-4 of 3/);
});

describe('ReferenceMedusaBackend on stories260K', () => {
  let weights: TransformerWeights;
  let heads: MedusaHeads;
  before(async () => {
    const ckpt = openLlama2c((await findTestModel()).modelPath);
    weights = loadWeights(ckpt);
    ckpt.close();
    // untrained but not trivial: a small residual layer on top of the base LM head
    heads = createMedusaHeads(3, 1, weights.output, 64, 512);
    heads.layers.forEach((row, h) => row.forEach((l) => l.w.forEach((_, i) => { l.w[i] = Math.sin(i * 0.37 + h) * 0.05; })));
  });

  const prompt = [1, 403, 407, 261, 378];
  const temperature = 0.7;

  /** Logits and hidden state after `seq`, run token by token. */
  function sequential(seq: number[]): { logits: Float32Array; hidden: Float32Array } {
    const t = new Transformer(weights);
    let out = t.forwardFull(seq[0]!, 0);
    for (let p = 1; p < seq.length; p++) out = t.forwardFull(seq[p]!, p);
    return { logits: out.logits.slice(), hidden: out.hidden.slice() };
  }

  test('a prefill and a tree step return, per row, what the rows compute one by one', () => {
    const tree = buildTree([[0], [1], [0, 0], [1, 0], [0, 0, 0]], { numHeads: 3 });
    const K = 2;
    const out = createStepOutputs(tree.nodeCount, 3, K, { temperature, parents: tree.parent });
    const backend = new ReferenceMedusaBackend(new Transformer(weights), heads);
    backend.step(Int32Array.from(prompt), Int32Array.from(prompt, (_, i) => i), undefined, 'reset', out);
    const first = sequential(prompt);
    assert.equal(out.baseArgmax[0], argmax(first.logits));
    const root = out.baseArgmax[0]!;
    const guesses = [0, 1, 2].map((h) => Array.from(out.headTopK.subarray(h * K, h * K + K)));

    const candidates = new Int32Array(tree.nodeCount);
    fillCandidates(tree, root, guesses, candidates);
    const positions = Int32Array.from(tree.positionOffsets, (d) => prompt.length + d);
    backend.step(candidates, positions, tree.ancestorMask, 'all', out);

    const scratch = createHeadScratch(64);
    const headLogits = new Float32Array(512);
    const ids = new Int32Array(K);
    const lse = new Float64Array(1);
    const ent = new Float64Array(1);
    for (let i = 0; i < tree.nodeCount; i++) {
      const path: number[] = [];
      for (let n = i; n >= 0; n = tree.parent[n]!) path.unshift(candidates[n]!);
      const want = sequential([...prompt, ...path]);
      assert.equal(out.baseArgmax[i], argmax(want.logits), `node ${i} argmax`);
      for (let h = 0; h < 3; h++) {
        applyHead(heads, h, want.hidden, 0, null, scratch, headLogits);
        topKInto(headLogits, 0, 512, K, ids, 0, new Float32Array(K));
        assert.deepEqual([...out.headTopK.subarray((i * 3 + h) * K, (i * 3 + h + 1) * K)], [...ids], `node ${i} head ${h}`);
      }
      writeSoftmaxStats(want.logits, temperature, 0, lse, ent);
      const typical = out.typical!;
      assert.ok(Math.abs(typical.logSumExp[i]! - lse[0]!) < 1e-4, `node ${i} log-sum-exp`);
      assert.ok(Math.abs(typical.entropy[i]! - ent[0]!) < 1e-4, `node ${i} entropy`);
      if (i > 0) {
        const parentPath = path.slice(0, -1);
        const atParent = sequential([...prompt, ...parentPath]).logits;
        assert.ok(Math.abs(typical.childLogits[i]! - atParent[candidates[i]!]!) < 1e-4, `node ${i} child logit`);
      }
      for (const u of [0.05, 0.5, 0.97]) assert.equal(backend.sample(i, u), sampleFromLogits(want.logits, temperature, u), `node ${i} sample at ${u}`);
    }

    // keeping the path root -> 2 -> 4 and running its child continues exactly that path
    const keep = Int32Array.from([0, 2, 4]);
    const next = Int32Array.from([300]);
    backend.step(next, Int32Array.from([prompt.length + 3]), new Uint8Array([1]), keep, out);
    const kept = [...prompt, candidates[0]!, candidates[2]!, candidates[4]!, 300];
    assert.equal(out.baseArgmax[0], argmax(sequential(kept).logits));
  });

  test("'reset' starts a new sequence; misuse fails with the numbers", () => {
    const out = createStepOutputs(4, 3, 1, null);
    const backend = new ReferenceMedusaBackend(new Transformer(weights), heads);
    backend.step(Int32Array.from(prompt), Int32Array.from(prompt, (_, i) => i), undefined, 'reset', out);
    const a = out.baseArgmax[0];
    backend.step(Int32Array.from(prompt), Int32Array.from(prompt, (_, i) => i), undefined, 'reset', out);
    assert.equal(out.baseArgmax[0], a);
    assert.throws(() => backend.sample(0, 0.5), /needs a step run with typical outputs first/);
    const mask = new Uint8Array(25);
    for (let i = 0; i < 5; i++) for (let j = 0; j <= i; j++) mask[i * 5 + j] = 1;
    assert.throws(() => backend.step(Int32Array.from([5, 6, 7, 8, 9]), Int32Array.from([5, 6, 7, 8, 9]), mask, 'all', out), /a step of 5 rows; the outputs hold 4/);
    assert.throws(() => new ReferenceMedusaBackend(new Transformer(weights), { ...heads, dim: 32 }), /dim 32 .* the model has dim 64/);
  });
});
