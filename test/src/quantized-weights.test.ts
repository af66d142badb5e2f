// --weights q8|q4 end to end: real worker processes quantize their own slices at load and run
// MatMulNBits; greedy tokens at tp 1, 2 and 8 equal the single-process reference engine run on the
// same dequantized weights (loadWeights({ weights })), token for token, on stories260K and on a
// synthetic model whose K- and N-slices are not multiples of the block size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, ClusterMedusaBackend, ClusterTokenSource } from '@octoserve/coordinator';
import { MC_SIM_7B_63, buildTree, medusaGenerate } from '@octoserve/medusa';
import { ReferenceEngine, Sampler, generate, generateFrom, openCheckpoint, type WeightFormat } from '@octoserve/model';
import type { ModelParams } from '@octoserve/model';
import { WORKER_COMMAND, runCli, trainTestHeads, writeSynthModel } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const STOP = [1, 2];

async function referenceGreedy(modelPath: string, weights: WeightFormat, prompts: readonly number[][], maxTokens: number): Promise<number[][]> {
  const out: number[][] = [];
  for (const ids of prompts) {
    const ckpt = openCheckpoint(modelPath);
    const engine = ReferenceEngine.fromCheckpoint(ckpt, undefined, { weights });
    ckpt.close();
    const r = await generate(engine, ids, { maxTokens, sampler: new Sampler(engine.config.vocabSize, { temperature: 0 }), stopIds: STOP });
    out.push(r.tokenIds);
  }
  return out;
}

async function clusterGreedy(modelPath: string, tp: number, weights: WeightFormat, prompts: readonly number[][], maxTokens: number, loadMode: 'read' | 'upload' = 'read'): Promise<number[][]> {
  const cluster = await Cluster.start({ modelPath, tp, workerCommand: WORKER_COMMAND, weights, loadMode });
  try {
    const out: number[][] = [];
    for (const [i, ids] of prompts.entries()) {
      const source = new ClusterTokenSource(cluster, i + 1, { temperature: 0 });
      out.push((await generateFrom(source, ids, { maxTokens, stopIds: STOP })).tokenIds);
      await cluster.release([i + 1]);
    }
    return out;
  } finally {
    await cluster.close();
  }
}

const goldenPrompts = cases.slice(0, 2).map((c) => c.prompt_token_ids);

for (const weights of ['q8', 'q4'] as const) {
  test(`stories260K --weights ${weights}: greedy tokens at tp 1, 2 and 8 equal the reference on the same dequantized weights`, async () => {
    const want = await referenceGreedy(model.modelPath, weights, goldenPrompts, 120);
    for (const tp of [1, 2, 8]) {
      assert.deepEqual(await clusterGreedy(model.modelPath, tp, weights, goldenPrompts, 120), want, `${weights} at tp=${tp}`);
    }
  });
}

test('stories260K: q4 changes the greedy tokens (the quantized weights are the ones running)', async () => {
  const [f32] = await referenceGreedy(model.modelPath, 'f32', goldenPrompts.slice(0, 1), 120);
  const [q4] = await referenceGreedy(model.modelPath, 'q4', goldenPrompts.slice(0, 1), 120);
  assert.deepEqual(f32, cases[0]?.generated_token_ids.slice(0, 120), 'f32 is the golden run');
  assert.notDeepEqual(q4, f32);
});

// dim 80 (rows of 2.5 blocks), headDim 10 (wo's K-slice at tp 8: 10 columns), FFN 150 (w2's K-slices
// of 19 and 18 columns at tp 8, 75 at tp 2), vocabulary 517 (uneven LM head rows)
const uneven: ModelParams = { dim: 80, hiddenDim: 150, nLayers: 2, nHeads: 8, nKvHeads: 2, vocabSize: 517, maxSeqLen: 96 };

for (const weights of ['q8', 'q4'] as const) {
  test(`synthetic model with uneven slices --weights ${weights}: tp 1, 2 and 8 (and tp 8 with uploaded slices) equal the reference`, async () => {
    const path = writeSynthModel(uneven, 7);
    const prompts = [[1, 17, 250, 33, 99], [1, 400, 5]];
    const want = await referenceGreedy(path, weights, prompts, 48);
    assert.notDeepEqual(want, await referenceGreedy(path, 'f32', prompts, 48), `${weights} changes this model's tokens`);
    for (const tp of [1, 2, 8]) assert.deepEqual(await clusterGreedy(path, tp, weights, prompts, 48), want, `${weights} at tp=${tp}`);
    assert.deepEqual(await clusterGreedy(path, 8, weights, prompts, 48, 'upload'), want, `${weights} at tp=8, uploaded`);
  });
}

test('Medusa heads on q4 workers (quantized too): greedy acceptance gives the reference q4 tokens, in fewer steps', async () => {
  const headsDir = trainTestHeads(model.modelPath, 6_000);
  const tree = buildTree(MC_SIM_7B_63, { numHeads: 4 });
  const want = await referenceGreedy(model.modelPath, 'q4', goldenPrompts, 120);
  const cluster = await Cluster.start({ modelPath: model.modelPath, tp: 2, workerCommand: WORKER_COMMAND, weights: 'q4', medusa: { path: headsDir, topK: Math.max(...tree.topK) } });
  try {
    let steps = 0;
    let tokens = 0;
    for (const [i, ids] of goldenPrompts.entries()) {
      const backend = new ClusterMedusaBackend(cluster, 10 + i);
      const r = await medusaGenerate(backend, ids, { tree, acceptance: 'greedy', maxTokens: 120, stopIds: STOP });
      await cluster.release([10 + i]);
      assert.deepEqual(r.tokenIds, want[i]);
      steps += r.stats.steps;
      tokens += r.tokenIds.length;
    }
    assert.ok(steps < tokens, `${tokens} tokens in ${steps} steps`);
  } finally {
    await cluster.close();
  }
});

test('octoserve generate --weights q4: the same JSON tokens on the reference engine and with --tp 2', async () => {
  const c = cases[1] as GoldenCase;
  const run = async (extra: string[]): Promise<number[]> => {
    const r = await runCli(['generate', '--model', model.modelPath, '--prompt', c.prompt, '--max-tokens', '80', '--weights', 'q4', '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { token_ids: number[] }).token_ids;
  };
  const reference = await run([]);
  assert.deepEqual(reference, (await referenceGreedy(model.modelPath, 'q4', [c.prompt_token_ids], 80))[0]);
  assert.deepEqual(await run(['--tp', '2']), reference);
  const bad = await runCli(['generate', '--model', model.modelPath, '--weights', 'q3']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--weights must be one of f32, q8, q4, q8a8, q4a8, got 'q3'/);
});

test('octoserve bench decode --weights f32,q8,q4,q8a8,q4a8 runs the formats side by side, with each worker\'s RSS and weights and the tokens\' agreement with f32', async () => {
  const json = join(mkdtempSync(join(tmpdir(), 'octoserve-bench-')), 'decode.json');
  const r = await runCli(['bench', 'decode', '--model', model.modelPath, '--tp', '2', '--max-tokens', '16', '--prompts', '1', '--weights', 'f32,q8,q4,q8a8,q4a8', '--json', json], undefined, 180_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /side by side:/);
  const out = JSON.parse(readFileSync(json, 'utf8')) as { weights: string[]; runs: { label: string; tokens: number; tokPerS: number; rssBytes: number[]; weightBytes: number[]; agreementWithF32?: number }[] };
  assert.deepEqual(out.weights, ['f32', 'q8', 'q4', 'q8a8', 'q4a8']);
  assert.deepEqual(out.runs.map((run) => run.label), ['baseline tp=2 f32', 'baseline tp=2 q8', 'baseline tp=2 q4', 'baseline tp=2 q8a8', 'baseline tp=2 q4a8']);
  assert.equal(out.runs[0]!.agreementWithF32, undefined);
  for (const run of out.runs.slice(1)) assert.ok(run.agreementWithF32! >= 0 && run.agreementWithF32! <= 1, `${run.label}: agreement ${run.agreementWithF32}`);
  assert.match(r.stdout, /same_as_f32/);
  // int8 activations change the arithmetic, not the weights
  assert.deepEqual(out.runs[4]!.weightBytes, out.runs[2]!.weightBytes);
  for (const run of out.runs) {
    assert.equal(run.tokens, 16);
    assert.ok(run.tokPerS > 0);
    assert.equal(run.rssBytes.length, 2);
    assert.ok(run.rssBytes.every((b) => b > 1e6), 'each rank reports its resident memory');
    assert.equal(run.weightBytes.length, 2);
  }
  // beside it, the bytes of its weights: 4-bit codes and their scales are fewer than 8-bit, and those fewer than floats;
  // q8 without int8 activations runs on the CPU as the floats it stands for (no fast CPU kernel takes 8-bit blocks with
  // float activations), so it holds at least f32's bytes
  for (let rank = 0; rank < 2; rank++) {
    const [f32, q8, q4, q8a8] = out.runs.map((run) => run.weightBytes[rank] as number);
    assert.ok(q4! < q8a8! && q8a8! < f32!, `rank ${rank}: weight bytes f32 ${f32}, q8a8 ${q8a8}, q4 ${q4}`);
    assert.ok(q8! >= f32!, `rank ${rank}: q8 on the CPU holds ${q8} bytes, f32 ${f32}`);
  }
  const bad = await runCli(['bench', 'decode', '--weights', 'f32,q5']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--weights takes f32, q8, q4, q8a8, q4a8/);
});
