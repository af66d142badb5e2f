// The tree step of the reference forward pass against the plain one: a chain gives the same logits
// as running its tokens one by one, every tree node gives the logits of its own path, and compaction
// keeps exactly the K/V of the kept nodes.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { openLlama2c } from './checkpoint-llama2c.js';
import { ModelError } from './errors.js';
import { createTreeOutput, Transformer } from './transformer.js';
import { loadWeights, type TransformerWeights } from './weights.js';
import { findTestModel } from '@octoserve/testkit';

const PROMPT = [1, 403, 407, 261, 378]; // "Once upon a time"

/** [T, T] ancestor mask of a tree given each node's parent (-1 for the root; parents first). */
function ancestorMask(parent: readonly number[]): Uint8Array {
  const T = parent.length;
  const mask = new Uint8Array(T * T);
  for (let i = 0; i < T; i++) for (let a = i; a >= 0; a = parent[a]!) mask[i * T + a] = 1;
  return mask;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Logits and hidden state after running `seq` one token at a time from position 0. */
function sequential(weights: TransformerWeights, seq: readonly number[]): { logits: Float32Array; hidden: Float32Array } {
  const t = new Transformer(weights);
  let out = t.forwardFull(seq[0]!, 0);
  for (let p = 1; p < seq.length; p++) out = t.forwardFull(seq[p]!, p);
  return { logits: out.logits.slice(), hidden: out.hidden.slice() };
}

/** A transformer holding PROMPT as committed slots, prefilled through forwardTree. */
function prefilled(weights: TransformerWeights): Transformer {
  const t = new Transformer(weights);
  t.forwardTree(PROMPT, PROMPT.map((_, i) => i), undefined, undefined, PROMPT.length - 1);
  t.commit();
  return t;
}

describe('Transformer.forwardTree on stories260K', () => {
  let weights: TransformerWeights;
  before(async () => {
    const ckpt = openLlama2c((await findTestModel()).modelPath);
    weights = loadWeights(ckpt);
    ckpt.close();
  });

  test('a causal prefill returns the last token of the plain prefill', () => {
    const plain = new Transformer(weights).forwardTokens(PROMPT, PROMPT.map((_, i) => i));
    const tree = new Transformer(weights);
    const out = tree.forwardTree(PROMPT, PROMPT.map((_, i) => i), undefined, undefined, PROMPT.length - 1);
    assert.equal(maxAbsDiff(out.logits.subarray(0, 512), plain.logits), 0);
    assert.equal(maxAbsDiff(out.hidden.subarray(0, 64), plain.hidden), 0);
    assert.equal(tree.pendingCount, PROMPT.length);
    tree.commit();
    assert.equal(tree.cacheLength, PROMPT.length);
  });

  test('a chain step equals running its tokens one by one (every row)', () => {
    const chain = [410, 259, 300, 290, 263];
    const t = prefilled(weights);
    const out = createTreeOutput(weights.config, chain.length);
    t.forwardTree(chain, chain.map((_, i) => PROMPT.length + i), ancestorMask([-1, 0, 1, 2, 3]), out);
    for (let i = 0; i < chain.length; i++) {
      const want = sequential(weights, [...PROMPT, ...chain.slice(0, i + 1)]);
      const d = maxAbsDiff(out.logits.subarray(i * 512, (i + 1) * 512), want.logits);
      assert.ok(d < 1e-5, `row ${i}: logits differ by ${d}`);
      assert.ok(maxAbsDiff(out.hidden.subarray(i * 64, (i + 1) * 64), want.hidden) < 1e-5, `row ${i}: hidden`);
    }
  });

  // root 0; children 1, 2 of the root; 3 under 1; 4, 5 under 2; 6 under 5
  const parent = [-1, 0, 0, 1, 2, 2, 5];
  const tokens = [410, 259, 300, 290, 263, 270, 280];
  const depth = (i: number): number => (i === 0 ? 0 : depth(parent[i]!) + 1);
  const path = (i: number): number[] => (i === 0 ? [tokens[0]!] : [...path(parent[i]!), tokens[i]!]);

  test('every node of a branching tree gets the logits of its own path', () => {
    const t = prefilled(weights);
    const out = t.forwardTree(tokens, tokens.map((_, i) => PROMPT.length + depth(i)), ancestorMask(parent));
    for (let i = 0; i < tokens.length; i++) {
      const want = sequential(weights, [...PROMPT, ...path(i)]);
      const d = maxAbsDiff(out.logits.subarray(i * 512, (i + 1) * 512), want.logits);
      assert.ok(d < 1e-5, `node ${i}: logits differ by ${d}`);
    }
  });

  test('compact keeps the K/V of the kept nodes, and the next step continues their path', () => {
    const t = prefilled(weights);
    t.forwardTree(tokens, tokens.map((_, i) => PROMPT.length + depth(i)), ancestorMask(parent));
    t.compact(Int32Array.from([0, 2, 5, 6])); // the path root -> 2 -> 5 -> 6
    assert.equal(t.cacheLength, PROMPT.length + 4);
    assert.equal(t.pendingCount, 0);

    const kept = [...PROMPT, ...path(6)];
    const ref = new Transformer(weights);
    for (let p = 0; p < kept.length; p++) ref.forwardFull(kept[p]!, p, false);
    const kvDim = weights.config.kvDim;
    for (let l = 0; l < weights.config.nLayers; l++) {
      const n = kept.length * kvDim;
      assert.ok(maxAbsDiff(t.state.keyCache[l]!.subarray(0, n), ref.state.keyCache[l]!.subarray(0, n)) < 1e-6, `layer ${l} keys`);
      assert.ok(maxAbsDiff(t.state.valueCache[l]!.subarray(0, n), ref.state.valueCache[l]!.subarray(0, n)) < 1e-6, `layer ${l} values`);
    }

    const next = t.forwardTree([305], [kept.length], new Uint8Array([1]));
    const want = sequential(weights, [...kept, 305]);
    assert.ok(maxAbsDiff(next.logits.subarray(0, 512), want.logits) < 1e-5);
  });

  test('misuse fails with the numbers: unresolved slots, bad masks, bad keep lists, a full context', () => {
    const t = prefilled(weights);
    t.forwardTree([410, 259], [5, 6], ancestorMask([-1, 0]));
    assert.throws(() => t.forwardTree([410], [5], new Uint8Array([1])), /2 pending slots: call commit\(\) or compact\(keep\) first/);
    assert.throws(() => t.compact([1, 0]), /keep list \[1, 0\] must be ascending indices below 2/);
    assert.throws(() => t.compact([2]), /below 2/);
    t.compact([0]);
    assert.throws(() => t.forwardTree([410, 259], [6, 7], new Uint8Array([1, 1, 1, 1])), /attend to the later token 1/);
    assert.throws(() => t.forwardTree([410, 259], [6, 7], new Uint8Array([1, 0, 1, 0])), /row 1 does not attend to itself/);
    assert.throws(() => t.forwardTree([410], [6], new Uint8Array([1]), createTreeOutput(weights.config, 0)), /holds 0 rows; the step returns 1/);
    const small = new Transformer(weights, 8);
    small.resetCache(6);
    assert.throws(() => small.forwardTree([1, 2, 3], [6, 7, 8], undefined), (e: unknown) =>
      e instanceof ModelError && /needs 9 KV slots; the context holds 8/.test(e.message));
  });
});
