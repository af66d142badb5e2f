// The training pieces: Adam, the head's gradients against finite differences, tree design on
// hand-counted ranks, and a tiny training run that is deterministic and beats the untrained heads.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadWeights, openLlama2c, Transformer, type TransformerWeights } from '@octoserve/model';
import { Adam } from './adam.js';
import { createHeadGrads, createHeadWork, headBackward, headForward } from './head-mlp.js';
import { createMedusaHeads, type MedusaHeads } from './heads.js';
import { designTree, expectedTokensPerStep } from './tree-design.js';
import { generateDistillData } from './train-data.js';
import { evaluateHeads, trainMedusaHeads } from './train.js';
import { findTestModel } from '@octoserve/testkit';

test('Adam minimises a quadratic, with the bias-corrected first step of size lr', () => {
  const x = new Float32Array([3, -2]);
  const g = new Float32Array(2);
  const adam = new Adam([x]);
  g[0] = 2 * x[0]!;
  g[1] = 2 * x[1]!;
  adam.step([g], 0.1);
  // first step: m̂ = g, v̂ = g², so each coordinate moves by lr against its gradient's sign
  assert.ok(Math.abs(x[0]! - 2.9) < 1e-6 && Math.abs(x[1]! + 1.9) < 1e-6, `${x[0]}, ${x[1]}`);
  for (let i = 0; i < 500; i++) {
    g[0] = 2 * x[0]!;
    g[1] = 2 * x[1]!;
    adam.step([g], 0.05);
  }
  assert.ok(Math.abs(x[0]!) < 0.05 && Math.abs(x[1]!) < 0.05, `${x[0]}, ${x[1]}`);
  assert.throws(() => adam.step([], 0.1), /1 parameters/);
});

test("a head's gradients match finite differences of its loss", () => {
  const D = 5;
  const V = 7;
  const heads: MedusaHeads = createMedusaHeads(1, 2, Float32Array.from({ length: V * D }, (_, i) => Math.sin(i * 1.3) * 0.7), D, V);
  heads.layers[0]!.forEach((layer, l) => {
    layer.w.forEach((_, i) => { layer.w[i] = Math.cos(i * 0.7 + l) * 0.4; });
    layer.b.forEach((_, i) => { layer.b[i] = Math.sin(i + l) * 0.3; });
  });
  const hidden = Float32Array.from({ length: D }, (_, i) => Math.cos(i * 2.1));
  const target = 3;
  const weight = 0.8;
  const work = createHeadWork(heads);
  const grads = createHeadGrads(heads);
  const loss = (): number => {
    headForward(heads, 0, hidden, 0, work);
    return weight * headBackward(heads, 0, target, weight, work, null);
  };
  headForward(heads, 0, hidden, 0, work);
  headBackward(heads, 0, target, weight, work, grads);
  const check = (param: Float32Array, grad: Float32Array, name: string): void => {
    for (let i = 0; i < param.length; i += 3) {
      const keep = param[i]!;
      const eps = 1e-2;
      param[i] = keep + eps;
      const up = loss();
      param[i] = keep - eps;
      const down = loss();
      param[i] = keep;
      const numeric = (up - down) / (2 * eps);
      assert.ok(Math.abs(numeric - grad[i]!) < 2e-3 + 2e-2 * Math.abs(numeric), `${name}[${i}]: backward ${grad[i]} vs numeric ${numeric}`);
    }
  };
  check(heads.output[0]!, grads.dU, 'U');
  heads.layers[0]!.forEach((layer, l) => {
    check(layer.w, grads.dW[l]!, `W${l}`);
    check(layer.b, grads.db[l]!, `b${l}`);
  });
});

test('designTree adds the most frequent rank prefixes first, counting heads jointly', () => {
  // examples' (head 0, head 1) ranks; -1 = not in the measured ranks
  const ranks = Int32Array.from([0, 0, 0, 0, 0, 1, 0, -1, 1, 0, 1, 0, 2, -1, -1, -1]);
  // prefix counts: [0] 4, [1] 2, [2] 1, [0,0] 2, [0,1] 1, [1,0] 2
  assert.deepEqual(designTree(ranks, 2, 1), [[0]]);
  assert.deepEqual(designTree(ranks, 2, 3), [[0], [1], [0, 0]]); // [1] and [0,0] tie at 2: shorter first
  assert.deepEqual(designTree(ranks, 2, 4), [[0], [1], [0, 0], [1, 0]]);
  assert.deepEqual(designTree(ranks, 2, 10), [[0], [1], [2], [0, 0], [0, 1], [1, 0]]);
  assert.deepEqual(designTree(ranks, 2, 10, 1), [[0], [1], [2]]);
  // E = 1 + (4 + 2 + 2 + 2) / 8 for the 4-node tree
  assert.equal(expectedTokensPerStep(ranks, 2, [[0], [1], [0, 0], [1, 0]]), 1 + 10 / 8);
  assert.throws(() => designTree(ranks, 2, 0), /at least 1 choice/);
});

describe('training on stories260K', () => {
  let weights: TransformerWeights;
  before(async () => {
    const ckpt = openLlama2c((await findTestModel()).modelPath);
    weights = loadWeights(ckpt);
    ckpt.close();
  });

  test('the self-written text starts at BOS, ends at a stop id or the cap, and holds the hidden states', () => {
    const t = new Transformer(weights);
    const data = generateDistillData(t, { tokens: 600, seed: 5, maxLength: 100, stopIds: [1, 2] });
    assert.equal(data.tokens.length, 600);
    const starts = Array.from(data.seqStart);
    assert.equal(starts[0], 0);
    assert.equal(starts[starts.length - 1], 600);
    for (let i = 0; i + 1 < starts.length; i++) {
      assert.equal(data.tokens[starts[i]!], 1, 'BOS first');
      assert.ok(starts[i + 1]! - starts[i]! <= 100);
    }
    // the hidden state after token 0 of the first sequence is the model's at BOS, position 0
    const want = new Transformer(weights).forwardFull(1, 0).hidden;
    assert.deepEqual(data.hidden.subarray(0, 64), want);
  });

  test('a tiny run is deterministic for a seed and beats the untrained heads', () => {
    const options = { tokens: 2500, seed: 3, stopIds: [1, 2], numHeads: 2 };
    const a = trainMedusaHeads(new Transformer(weights), options);
    const b = trainMedusaHeads(new Transformer(weights), options);
    assert.deepEqual(a.heads.layers[1]![0]!.w, b.heads.layers[1]![0]!.w);
    assert.deepEqual(a.heads.output[0], b.heads.output[0]);
    assert.deepEqual(a.accuracy, b.accuracy);
    assert.equal(a.accuracy.length, 2);

    const untrained = createMedusaHeads(2, 1, weights.output, 64, 512);
    const heldOut = generateDistillData(new Transformer(weights), { tokens: 1000, seed: 3 + 0x5bd1e995, stopIds: [1, 2] });
    const before = evaluateHeads(untrained, heldOut);
    for (let k = 0; k < 2; k++) {
      assert.ok(a.accuracy[k]!.top1 > before[k]!.top1 + 0.1, `head ${k}: top-1 ${a.accuracy[k]!.top1} after, ${before[k]!.top1} before`);
      assert.ok(a.accuracy[k]!.top5 >= a.accuracy[k]!.top1);
    }
  });
});
