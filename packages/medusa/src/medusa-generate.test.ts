// Medusa decoding on stories260K with heads trained here (a small deterministic self-distillation
// run): greedy gives exactly the tokens of plain greedy decoding on every golden case, whatever
// the tree; typical acceptance is reproducible from a seed; stops and limits land inside a step.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ReferenceEngine, Sampler, Transformer, generate, loadWeights, openLlama2c, type TransformerWeights } from '@octoserve/model';
import type { MedusaHeads } from './heads.js';
import { medusaGenerate } from './medusa-decode.js';
import { chainChoices, MC_SIM_7B_63, STORIES260K_TREE } from './presets.js';
import { ReferenceMedusaBackend } from './reference-backend.js';
import { trainMedusaHeads } from './train.js';
import { buildTree, type MedusaChoices } from './tree.js';
import { findTestModel, loadGoldenCases, type GoldenCase } from '@octoserve/testkit';

const STOP = [1, 2]; // llama2.c: BOS and EOS end a story

describe('Medusa on stories260K', () => {
  let weights: TransformerWeights;
  let cases: GoldenCase[];
  let heads: MedusaHeads;
  before(async () => {
    const model = await findTestModel();
    cases = loadGoldenCases(model);
    const ckpt = openLlama2c(model.modelPath);
    weights = loadWeights(ckpt);
    ckpt.close();
    heads = trainMedusaHeads(new Transformer(weights), { tokens: 12_000, seed: 1, stopIds: STOP }).heads;
  });

  const backend = (maxSeqLen?: number): ReferenceMedusaBackend => new ReferenceMedusaBackend(new Transformer(weights, maxSeqLen), heads);

  // [name, choices, least tokens per step these heads must reach over the golden cases]
  const trees: [string, MedusaChoices, number][] = [
    ['mc_sim_7b_63', MC_SIM_7B_63, 2.2],
    ['chain-4', chainChoices(4), 1.5],
  ];
  for (const [name, choices, least] of trees) {
    test(`greedy with ${name} gives the golden tokens of every case, in fewer steps`, async () => {
      const tree = buildTree(choices, { numHeads: heads.numHeads });
      const b = backend();
      let steps = 0;
      let emitted = 0;
      for (const c of cases) {
        const r = await medusaGenerate(b, c.prompt_token_ids, { tree, acceptance: 'greedy', maxTokens: 257 - c.prompt_token_ids.length, stopIds: STOP });
        assert.deepEqual(r.tokenIds, c.generated_token_ids, `"${c.prompt}"`);
        assert.equal(r.finishReason, c.stop_reason === 'bos' ? 'stop' : 'length', `"${c.prompt}" finish`);
        assert.equal(r.stats.acceptedPerDepth.length, tree.maxDepth);
        assert.equal(r.stats.drafts, r.stats.steps * (tree.nodeCount - 1));
        steps += r.stats.steps;
        emitted += r.stats.tokensPerStep * r.stats.steps;
      }
      assert.ok(emitted / steps >= least, `${name}: ${(emitted / steps).toFixed(2)} tokens per step, expected >= ${least}`);
    });
  }

  test('greedy stops at the token limit inside a step and at a stop id met inside a step', async () => {
    const tree = buildTree(STORIES260K_TREE, { numHeads: heads.numHeads });
    const c = cases.find((g) => g.stop_reason === 'bos')!;
    const b = backend();
    for (const maxTokens of [1, 2, 7, 30]) {
      const r = await medusaGenerate(b, c.prompt_token_ids, { tree, acceptance: 'greedy', maxTokens, stopIds: STOP });
      assert.deepEqual(r.tokenIds, c.generated_token_ids.slice(0, maxTokens), `maxTokens ${maxTokens}`);
      assert.equal(r.finishReason, 'length');
    }
    // a stop id that greedy decoding meets mid-story: the story ends just before it, as plain decoding ends
    const stopAt = 40;
    const stop = c.generated_token_ids[stopAt]!;
    const first = c.generated_token_ids.indexOf(stop);
    const r = await medusaGenerate(b, c.prompt_token_ids, { tree, acceptance: 'greedy', maxTokens: 200, stopIds: [...STOP, stop] });
    assert.deepEqual(r.tokenIds, c.generated_token_ids.slice(0, first));
    assert.equal(r.finishReason, 'stop');
  });

  test('near the end of a short context the loop falls back to single steps and still equals plain greedy', async () => {
    const context = 48;
    const tree = buildTree(MC_SIM_7B_63, { numHeads: heads.numHeads });
    const c = cases[0]!;
    const plain = await generate(new ReferenceEngine(new Transformer(weights, context)), c.prompt_token_ids, {
      maxTokens: 500, sampler: new Sampler(512, { temperature: 0 }), stopIds: STOP,
    });
    const r = await medusaGenerate(backend(context), c.prompt_token_ids, { tree, acceptance: 'greedy', maxTokens: 500, stopIds: STOP });
    assert.equal(plain.tokenIds.length, context - c.prompt_token_ids.length + 1);
    assert.deepEqual(r.tokenIds, plain.tokenIds);
    assert.equal(r.finishReason, 'length');
  });

  test('typical acceptance at temperature 0.7: the same seed gives the same story, other seeds other stories', async () => {
    const tree = buildTree(MC_SIM_7B_63, { numHeads: heads.numHeads });
    const b = backend();
    const prompt = cases[1]!.prompt_token_ids;
    const run = (seed: number) => medusaGenerate(b, prompt, { tree, acceptance: 'typical', temperature: 0.7, seed, maxTokens: 80, stopIds: STOP });
    const a = await run(11);
    const again = await run(11);
    assert.deepEqual(again.tokenIds, a.tokenIds);
    assert.ok(a.tokenIds.length > 20, 'a story, not an immediate stop');
    const others = [await run(12), await run(13)];
    for (const o of others) assert.notDeepEqual(o.tokenIds, a.tokenIds);
    assert.ok(a.stats.tokensPerStep > 1.5, `typical acceptance accepts guesses: ${a.stats.tokensPerStep} tokens per step`);
    // sampling, not greedy: some seed leaves the greedy story within 80 tokens
    const greedy = cases[1]!.generated_token_ids.slice(0, 80);
    assert.ok([a, ...others].some((r) => r.tokenIds.join() !== greedy.slice(0, r.tokenIds.length).join()));
  });

  test('misuse: a tree deeper than the heads, typical without a temperature', async () => {
    const b = backend();
    const deep = buildTree(chainChoices(heads.numHeads + 1));
    await assert.rejects(medusaGenerate(b, [1], { tree: deep, acceptance: 'greedy', maxTokens: 5, stopIds: STOP }), /5 deep; the model has 4 Medusa heads/);
    const tree = buildTree(chainChoices(2));
    await assert.rejects(medusaGenerate(b, [1], { tree, acceptance: 'typical', maxTokens: 5, stopIds: STOP }), /typical acceptance needs a temperature > 0/);
  });
});
