// Medusa on a tensor-parallel cluster: the workers hold the heads vocabulary-parallel, the
// coordinator verifies the tree. Greedy acceptance is lossless: every golden case comes out
// token for token at tp=8 and tp=1, with mc_sim_7b_63 and with a chain.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, ClusterMedusaBackend } from '@octoserve/coordinator';
import { MC_SIM_7B_63, buildTree, chainChoices, medusaGenerate } from '@octoserve/medusa';
import type { MedusaChoices } from '@octoserve/medusa';
import { LONG, WORKER_COMMAND, trainTestHeads } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

describe('Medusa on a cluster', () => {
  let model: TestModel;
  let cases: GoldenCase[];
  let headsDir: string;
  before(async () => {
    model = await findTestModel();
    cases = loadGoldenCases(model);
    // a small deterministic self-distillation run: enough heads for the tree to accept often
    headsDir = trainTestHeads(model.modelPath, 12_000);
  });

  const runs: [number, string, MedusaChoices][] = [[8, 'mc_sim_7b_63', MC_SIM_7B_63], [8, 'chain-4', chainChoices(4)], [1, 'mc_sim_7b_63', MC_SIM_7B_63]];
  for (const [tp, name, choices] of runs) {
    test(`tp=${tp}, ${name}: greedy Medusa gives the golden tokens of every case in fewer steps`, async () => {
      const tree = buildTree(choices, { numHeads: 4 });
      const cluster = await Cluster.start({ modelPath: model.modelPath, tp, workerCommand: WORKER_COMMAND, medusa: { path: headsDir, topK: Math.max(...tree.topK) } });
      try {
        let steps = 0;
        let tokens = 0;
        for (const [i, c] of cases.slice(0, LONG || tp === 8 ? cases.length : 3).entries()) {
          const backend = new ClusterMedusaBackend(cluster, 10 + i);
          const r = await medusaGenerate(backend, c.prompt_token_ids, { tree, acceptance: 'greedy', maxTokens: 257 - c.prompt_token_ids.length, stopIds: [1, 2] });
          await cluster.release([10 + i]);
          assert.deepEqual(r.tokenIds, c.generated_token_ids, `"${c.prompt}" at tp=${tp} with ${name}`);
          // a tree step costs what a plain step does: two all-reduces per layer, none on one rank (one graph)
          assert.equal(backend.timings.allReducesPerStep, tp === 1 ? 0 : 2 * 5, 'a tree step costs more all-reduces than a plain step');
          steps += r.stats.steps;
          tokens += r.tokenIds.length;
        }
        assert.ok(tokens / steps > 1.3, `${(tokens / steps).toFixed(2)} tokens per step`);
      } finally {
        await cluster.close();
      }
    });
  }

  test('tp=4, typical acceptance at T=0.7: the same seed gives the same story, another seed another', async () => {
    const tree = buildTree(MC_SIM_7B_63, { numHeads: 4 });
    const cluster = await Cluster.start({ modelPath: model.modelPath, tp: 4, workerCommand: WORKER_COMMAND, medusa: { path: headsDir, topK: Math.max(...tree.topK) }, maxPicked: 10 });
    try {
      const prompt = (cases[6] as GoldenCase).prompt_token_ids;
      const story = async (seed: number, seq: number): Promise<{ ids: number[]; perStep: number }> => {
        const backend = new ClusterMedusaBackend(cluster, seq, seed);
        const r = await medusaGenerate(backend, prompt, { tree, acceptance: 'typical', temperature: 0.7, seed, maxTokens: 80, stopIds: [1, 2] });
        await cluster.release([seq]);
        return { ids: r.tokenIds, perStep: r.stats.tokensPerStep };
      };
      const a = await story(5, 31);
      assert.deepEqual((await story(5, 32)).ids, a.ids);
      assert.notDeepEqual((await story(6, 33)).ids, a.ids);
      assert.ok(a.perStep > 1, `${a.perStep} tokens per step`);
    } finally {
      await cluster.close();
    }
  });
});
