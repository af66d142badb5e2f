// The serving engine on a real tp=2 cluster: a caller whose token listener throws gets that error
// back from its generation (the coordinator process does not crash), its sequence slot is freed,
// and the engine goes on serving exact greedy output; a listener that throws on the first token
// and one that throws later mid-stream both end their own generation only.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, ServingEngine } from '@octoserve/coordinator';
import { openModel } from '@octoserve/model';
import { findTestModel, loadGoldenCases, type GoldenCase } from '@octoserve/testkit';
import { WORKER_COMMAND } from './helpers.js';

const model = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
let cluster: Cluster;
let engine: ServingEngine;

before(async () => {
  const { tokenizer, checkpoint } = await openModel({ model: model.modelPath });
  checkpoint.close();
  cluster = await Cluster.start({ modelPath: model.modelPath, tp: 2, workerCommand: WORKER_COMMAND, maxSequences: 2 });
  engine = new ServingEngine(cluster, tokenizer, { maxWaiting: 4, address: 'in-process' });
});
after(async () => { await cluster?.close(); });

const gen = (c: GoldenCase, maxTokens: number): ReturnType<ServingEngine['check']> =>
  engine.check({ prompt: c.prompt, promptTokenIds: [], maxTokens, temperature: 0, topK: 0, topP: 1, seed: 1 } as Parameters<ServingEngine['check']>[0], 1);

test('a token listener that throws ends its own generation with that error; the engine serves on', async () => {
  const c = cases[0] as GoldenCase;
  const boom = new Error('the listener broke');
  await assert.rejects(engine.run(gen(c, 40), { onTokens: () => { throw boom; } }), (err) => err === boom);
  let seen = 0;
  await assert.rejects(engine.run(gen(c, 40), { onTokens: (ids) => { seen += ids.length; if (seen >= 10) throw boom; } }), (err) => err === boom);
  assert.ok(seen >= 10 && seen < 40, `the second listener saw ${seen} tokens before it threw`);
  assert.equal(engine.inFlight, 0, 'both generations are over');
  assert.equal(engine.slots.active, 0, 'both sequence slots are free again');
  // both slots are usable: two generations at once, each exact
  const [a, b] = await Promise.all([engine.run(gen(cases[1] as GoldenCase, 30)), engine.run(gen(cases[2] as GoldenCase, 30))]);
  assert.deepEqual(a.tokenIds, (cases[1] as GoldenCase).generated_token_ids.slice(0, 30));
  assert.deepEqual(b.tokenIds, (cases[2] as GoldenCase).generated_token_ids.slice(0, 30));
});
