// The presets hold what their comments cite.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DGX_A100, HGX_H100, HGX_H200, resolveHardware } from './hardware.js';
import { MODEL_PRESETS, geometricAcceptance, resolveModel } from './models.js';

test('H200 SXM: 141 GB, 4.8 TB/s, FP8 3,958 / BF16 1,979 / TF32 989 TFLOPS sparse, NVLink 900 GB/s', () => {
  assert.equal(HGX_H200.memoryBytes, 141e9);
  assert.equal(HGX_H200.hbmBytesPerS, 4.8e12);
  assert.equal(HGX_H200.denseFlops.fp8, 3958e12 / 2);
  assert.equal(HGX_H200.denseFlops.bf16, 1979e12 / 2);
  assert.equal(HGX_H200.denseFlops.tf32, 989e12 / 2);
  assert.equal(HGX_H200.linkBytesPerS, 900e9 / 2);
  assert.equal(HGX_H200.gpus, 8);
});

test('H100 SXM: 80 GB, 3.35 TB/s, the same tensor cores and NVLink as H200', () => {
  assert.equal(HGX_H100.memoryBytes, 80e9);
  assert.equal(HGX_H100.hbmBytesPerS, 3.35e12);
  assert.deepEqual(HGX_H100.denseFlops, HGX_H200.denseFlops);
  assert.equal(HGX_H100.linkBytesPerS, 900e9 / 2);
});

test('A100 SXM4 80GB: 2,039 GB/s, BF16 312 / TF32 156 TFLOPS dense, no FP8, NVLink 600 GB/s', () => {
  assert.equal(DGX_A100.memoryBytes, 80e9);
  assert.equal(DGX_A100.hbmBytesPerS, 2039e9);
  assert.equal(DGX_A100.denseFlops.bf16, 624e12 / 2);
  assert.equal(DGX_A100.denseFlops.tf32, 312e12 / 2);
  assert.equal(DGX_A100.denseFlops.fp8, undefined);
  assert.equal(DGX_A100.linkBytesPerS, 600e9 / 2);
});

test('Llama 3.1 shapes as their config.json files give them', () => {
  const shape = (n: string): number[] => {
    const m = MODEL_PRESETS[n]!;
    return [m.hiddenSize, m.intermediateSize, m.numLayers, m.numHeads, m.numKvHeads, m.vocabSize];
  };
  assert.deepEqual(shape('llama-3.1-8b'), [4096, 14336, 32, 32, 8, 128256]);
  assert.deepEqual(shape('llama-3.1-70b'), [8192, 28672, 80, 64, 8, 128256]);
  assert.deepEqual(shape('llama-3.1-405b'), [16384, 53248, 126, 128, 8, 128256]);
  assert.deepEqual(shape('stories260K'), [64, 172, 5, 8, 4, 512]);
  assert.deepEqual(shape('stories15M'), [288, 768, 6, 6, 6, 32000]);
  assert.deepEqual(shape('stories110M'), [768, 2048, 12, 12, 12, 32000]);
});

test('default acceptance: the cited tokens per step, split geometrically', () => {
  const perStep = (n: string): number => 1 + MODEL_PRESETS[n]!.acceptance.reduce((s, p) => s + p, 0);
  const near = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 0.005, `${a} is not ${b}`);
  near(perStep('llama-3.1-8b'), 2.32); // Spec-Bench A100 leaderboard, Medusa, Vicuna-7B
  near(perStep('llama-3.1-70b'), 2.33); // Vicuna-33B
  near(perStep('llama-3.1-405b'), 2.33);
  near(perStep('stories260K'), 3.33); // packages/medusa/src/presets.ts
  const a = geometricAcceptance(2.33, 4);
  assert.deepEqual(a, [0.606, 0.367, 0.222, 0.135]);
  assert.ok(Math.abs(a[1]! - a[0]! ** 2) < 1e-3 && Math.abs(a[3]! - a[0]! ** 4) < 1e-3);
  assert.throws(() => geometricAcceptance(5.5, 4), /tokens per step/);
});

test('--hardware: presets, a FILE.json, and this-machine sent to the host model', () => {
  assert.equal(resolveHardware('hgx-h200'), HGX_H200);
  assert.throws(() => resolveHardware('this-machine'), /readHostCalibration/);
  assert.throws(() => resolveHardware('tpu'), /unknown hardware 'tpu'/);
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-simulate-'));
  const file = join(dir, 'box.json');
  writeFileSync(file, JSON.stringify({ name: 'box', gpus: 4, memoryBytes: 48e9, hbmBytesPerS: 1e12, denseFlops: { bf16: 300e12 }, linkBytesPerS: 50e9 }));
  const hw = resolveHardware(file);
  assert.deepEqual([hw.name, hw.gpus, hw.hbmBytesPerS, hw.denseFlops.bf16, hw.denseFlops.fp8], ['box', 4, 1e12, 300e12, undefined]);
  writeFileSync(file, JSON.stringify({ gpus: 4, memoryBytes: 48e9, hbmBytesPerS: 1e12, denseFlops: { fp8: 1e15 }, linkBytesPerS: 50e9 }));
  assert.throws(() => resolveHardware(file), /denseFlops.bf16 is required/);
});

test('--model: an HF config.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-simulate-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256 }));
  const m = resolveModel(file);
  assert.deepEqual([m.hiddenSize, m.intermediateSize, m.numLayers, m.numHeads, m.numKvHeads, m.vocabSize], [2048, 8192, 16, 32, 8, 128256]);
  writeFileSync(file, JSON.stringify({ hidden_size: 2048 }));
  assert.throws(() => resolveModel(file), /must be a positive integer, got undefined/);
  assert.throws(() => resolveModel('llama-9'), /unknown model 'llama-9'/);
});
