// The model's arithmetic on cases worked by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allReduceByteFactor, allReduceTime, oneShotMaxBytes, selectAllReduce } from './allreduce.js';
import { FITTED_OVERHEADS } from './fitted.js';
import { HGX_H200 } from './hardware.js';
import { MODEL_PRESETS, layerParams } from './models.js';
import { checkAcceptance, simulate, tokensPerStep } from './simulate.js';
import { simulateStep, type Overheads, type StepInput } from './step.js';

const close = (actual: number, expected: number, rel = 1e-9): void =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${actual} is not ${expected}`);

const L70 = MODEL_PRESETS['llama-3.1-70b']!;
const costs = { roundLatencyS: 10e-6, ringHopLatencyS: 2e-6 };
const flat: Overheads = { hbmEfficiency: 1, layerOverheadS: 0, stepOverheadS: 0, allReduce: costs };
const step = (over: Partial<StepInput> = {}): ReturnType<typeof simulateStep> => simulateStep({
  model: L70, hardware: HGX_H200, tp: 8, weights: 'fp8', kv: 'fp8', batch: 1, context: 1024, tokensPerRow: 1,
  medusaHeads: 0, medusaHeadLayers: 1, overheads: flat, ...over,
});

test('Llama 3.1 70B layer: q, o 8192x8192; k, v 8192x1024; gate, up, down 8192x28672', () => {
  assert.equal(layerParams(L70), 2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672);
  assert.equal(layerParams(L70), 855_638_016);
});

test('bytes per step per rank: 70B at fp8 over 8 ranks, KV at fp8 and bf16', () => {
  const r = step();
  // 80 layers x 855,638,016 / 8 bytes + the vocab-parallel LM head 8192 x 128256 / 8
  assert.equal(r.weight_bytes, 80 * 855_638_016 / 8 + 8192 * 128256 / 8);
  assert.equal(r.weight_bytes, 8_687_714_304);
  // context x layers x 2 x kv_heads x head_dim x bytes / tp = 1024 x 80 x 2 x 8 x 128 x 1 / 8
  assert.equal(r.kv_bytes, 20_971_520);
  assert.equal(step({ kv: 'bf16' }).kv_bytes, 2 * 20_971_520);
  assert.equal(step({ weights: 'int4' }).weight_bytes, 8_687_714_304 / 2);
  // at full bandwidth the weights take their bytes over 4.8 TB/s
  close(r.terms.weights_ms, (8_687_714_304 / 4.8e12) * 1e3);
  assert.equal(r.bound, 'weights_ms');
});

test('roofline: 1024 rows make the layers compute-bound at fp8 dense FLOPS', () => {
  const r = step({ batch: 1024 });
  assert.equal(r.terms.weights_ms, 0);
  const layers = 80 * 2 * 855_638_016 * 1024 / 8 / 1979e12;
  const lmHead = 2 * 8192 * 128256 * 1024 / 8 / 1979e12;
  close(r.terms.compute_ms, (layers + lmHead) * 1e3);
});

test('all-reduce byte factors: one-shot N-1, two-shot and ring 2(N-1)/N', () => {
  assert.equal(allReduceByteFactor('oneshot', 8), 7);
  assert.equal(allReduceByteFactor('twoshot', 8), 1.75);
  assert.equal(allReduceByteFactor('ring', 8), 1.75);
  assert.equal(allReduceByteFactor('twoshot', 2), 1);
});

test('all-reduce times at 450 GB/s, 10 us a round, 2 us a ring hop', () => {
  close(allReduceTime('oneshot', 16384, 8, HGX_H200, costs), 10e-6 + 7 * 16384 / 450e9);
  close(allReduceTime('twoshot', 1 << 20, 8, HGX_H200, costs), 20e-6 + 1.75 * (1 << 20) / 450e9);
  close(allReduceTime('ring', 16 << 20, 8, HGX_H200, costs), 10e-6 + 14 * 2e-6 + 1.75 * (16 << 20) / 450e9);
  assert.equal(allReduceTime('oneshot', 16384, 1, HGX_H200, costs), 0);
});

test('auto: one-shot up to a B N / ((N-1)(N-2)), two-shot up to the workspace, ring above', () => {
  close(oneShotMaxBytes(8, HGX_H200, costs), 10e-6 * 450e9 * 8 / 42); // 857,142.9 bytes
  assert.equal(oneShotMaxBytes(2, HGX_H200, costs), Infinity);
  assert.equal(selectAllReduce(16384, 8, HGX_H200, costs), 'oneshot');
  assert.equal(selectAllReduce(857_142, 8, HGX_H200, costs), 'oneshot');
  assert.equal(selectAllReduce(857_143, 8, HGX_H200, costs), 'twoshot');
  assert.equal(selectAllReduce(8 << 20, 8, HGX_H200, costs), 'twoshot');
  assert.equal(selectAllReduce((8 << 20) + 1, 8, HGX_H200, costs), 'ring');
  assert.equal(selectAllReduce(4 << 20, 2, HGX_H200, costs), 'oneshot');
  // at the crossover both direct algorithms take the same time
  const s = oneShotMaxBytes(8, HGX_H200, costs);
  close(allReduceTime('oneshot', s, 8, HGX_H200, costs), allReduceTime('twoshot', s, 8, HGX_H200, costs));
});

test('a step has 2 x layers all-reduces of batch x tokens x hidden x 2 bytes', () => {
  const plain = step();
  assert.deepEqual([plain.allreduce.count, plain.allreduce.message_bytes, plain.allreduce.algorithm], [160, 16384, 'oneshot']);
  close(plain.terms.allreduce_ms, 160 * (10e-6 + 7 * 16384 / 450e9) * 1e3);
  const tree = step({ tokensPerRow: 64 });
  assert.deepEqual([tree.allreduce.message_bytes, tree.allreduce.algorithm], [64 * 16384, 'twoshot']);
  assert.equal(step({ tp: 1 }).terms.allreduce_ms, 0);
});

test('overheads: per layer times layers plus per step', () => {
  const r = step({ overheads: { ...flat, layerOverheadS: 50e-6, stepOverheadS: 1e-3 } });
  close(r.terms.overhead_ms, 80 * 0.05 + 1);
});

test('tokens per step: 1 + the acceptance over the tree depths', () => {
  close(tokensPerStep([0.8, 0.6, 0.4, 0.2], 4), 3.0);
  close(tokensPerStep([0.8, 0.6, 0.4, 0.2], 2), 2.4);
  close(tokensPerStep([0.8, 0.6], 4), 2.4);
  assert.throws(() => checkAcceptance([0.5, 0.6]), /exceeds depth 1/);
  assert.throws(() => checkAcceptance([1.2]), /\[0, 1\]/);
  assert.throws(() => checkAcceptance([]), /at least one/);
});

test('Medusa: the tree sets the rows, its depth the heads and the depths counted', () => {
  const r = simulate({ hardware: HGX_H200, model: L70, tp: 8, medusaChoices: 'chain-2', acceptance: [0.8, 0.6, 0.4], overheads: FITTED_OVERHEADS });
  assert.equal(r.medusa.tree_nodes, 3);
  assert.equal(r.medusa.tree_depth, 2);
  close(r.medusa.tokens_per_step, 2.4);
  assert.equal(r.medusa.allreduce.message_bytes, 3 * 16384);
  close(r.medusa.tok_per_s, 2.4 * 1e3 / r.medusa.step_ms);
  close(r.medusa.speedup, r.medusa.tok_per_s / r.baseline.tok_per_s);
  // two heads, each a residual layer and its own LM head, over 8 ranks at fp8
  close(r.medusa.weight_bytes - r.baseline.weight_bytes, 2 * (8192 * 8192 + 8192 * 128256) / 8);
});

test('bad shapes and sizes are refused with the reason', () => {
  assert.throws(() => step({ tp: 16 }), /more than the 8 GPUs/);
  assert.throws(() => step({ tp: 3 }), /does not divide/);
  assert.throws(() => step({ batch: 0 }), /batch must be a positive integer/);
});
