// Durable jobs: 20 jobs go into the real Redis, the coordinator running them is killed with
// SIGKILL mid-way and a new one started on the same queue. Every job completes, with the
// greedy tokens of the reference, none is lost, and none runs to completion twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OctoserveClient } from '@octoserve/client';
import { ReferenceEngine, Sampler, generate, openCheckpoint } from '@octoserve/model';
import { until } from './calls.js';
import { dropQueue, startCoordinator, uniqueQueue } from './coordinator-process.js';
import type { Coordinator } from './coordinator-process.js';
import { alive } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const JOBS = 20;
const MAX_TOKENS = 120;

/** The reference engine's greedy tokens for each prompt (BOS-only stops, as the tokenizer says). */
async function referenceTokens(prompts: number[][]): Promise<number[][]> {
  const ckpt = openCheckpoint(model.modelPath);
  const engine = ReferenceEngine.fromCheckpoint(ckpt);
  ckpt.close();
  const out: number[][] = [];
  for (const ids of prompts) {
    const r = await generate(engine, ids, { maxTokens: MAX_TOKENS, sampler: new Sampler(engine.config.vocabSize, { temperature: 0 }), stopIds: [1, 2] });
    out.push(r.tokenIds);
  }
  return out;
}

/** The pids of a coordinator's workers, from its status. */
async function workerPids(address: string): Promise<number[]> {
  const client = new OctoserveClient({ address, deadlineMs: 10_000 });
  try {
    return (await client.clusterStatus()).ranks.map((r) => r.pid);
  } finally {
    client.close();
  }
}

test('20 jobs survive a SIGKILLed coordinator: all complete, correct, none lost, none completed twice', { timeout: 240_000 }, async () => {
  const queue = uniqueQueue('durable');
  // distinct prompts: the golden prompts, then the same with a suffix
  const prompts = Array.from({ length: JOBS }, (_, i) => {
    const c = cases[i % cases.length] as GoldenCase;
    return i < cases.length ? c.prompt : `${c.prompt} and then`;
  });
  const args = ['--model', model.modelPath, '--tp', '2', '--queue', queue, '--max-sequences', '4', '--job-lock-ms', '2000'];
  let first: Coordinator | undefined;
  let second: Coordinator | undefined;
  try {
    first = await startCoordinator(args);
    const client = new OctoserveClient({ address: first.address, deadlineMs: 10_000 });
    const ids: string[] = [];
    for (const prompt of prompts) ids.push(await client.submitJob({ prompt, maxTokens: MAX_TOKENS }));
    client.close();
    // kill it once some jobs have completed and others are running
    await first.waitFor(/completed \(/, 60_000);
    await first.waitFor(/job \S+: started/, 10_000);
    const pids = await workerPids(first.address);
    first.child.kill('SIGKILL');
    await first.exited;
    const killedLog = first.stderr();
    await until('the killed coordinator\'s workers exit (their lifeline is gone)', 10_000, () => Promise.resolve(pids.every((p) => !alive(p))));

    second = await startCoordinator(args);
    const watcher = new OctoserveClient({ address: second.address, deadlineMs: 10_000 });
    await until('every job finishes', 180_000, async () => {
      const jobs = await Promise.all(ids.map((id) => watcher.getJob(id)));
      return jobs.every((j) => j.state === 'JOB_STATE_COMPLETED' || j.state === 'JOB_STATE_FAILED');
    });
    const jobs = await Promise.all(ids.map((id) => watcher.getJob(id)));
    watcher.close();
    const expected = await referenceTokens(jobs.map((j) => j.promptTokenIds));
    const log = killedLog + second.stderr();
    let retried = 0;
    for (const [i, j] of jobs.entries()) {
      assert.equal(j.state, 'JOB_STATE_COMPLETED', `job ${i} (${j.id}): ${j.error}`);
      assert.deepEqual(j.tokenIds, expected[i], `job ${i} ("${prompts[i]}") has the reference tokens`);
      const completions = log.split('\n').filter((line) => line.includes(`job ${j.id}: completed`)).length;
      assert.equal(completions, 1, `job ${j.id} ran to completion ${completions} times`);
      if (j.attempts > 1) retried += 1;
    }
    const cut = killedLog.split('\n').filter((l) => /: started/.test(l)).length - killedLog.split('\n').filter((l) => /: completed/.test(l)).length;
    assert.ok(cut >= 1, 'the kill interrupted at least one running job');
    assert.ok(retried >= 1, 'a job interrupted by the kill ran again (attempts > 1)');
  } finally {
    first?.child.kill('SIGKILL');
    await second?.stop();
    dropQueue(queue);
  }
});

test('two coordinators, each with its own workers, share one queue: both run jobs, each job completes once', { timeout: 180_000 }, async () => {
  const queue = uniqueQueue('shared');
  const args = ['--model', model.modelPath, '--tp', '1', '--queue', queue, '--max-sequences', '2'];
  const [one, two] = await Promise.all([startCoordinator(args), startCoordinator(args)]);
  const client = new OctoserveClient({ address: one.address, deadlineMs: 10_000 });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await client.submitJob({ prompt: (cases[i % cases.length] as GoldenCase).prompt, maxTokens: 60 }));
    await until('every job completes', 150_000, async () => (await Promise.all(ids.map((id) => client.getJob(id)))).every((j) => j.state === 'JOB_STATE_COMPLETED'));
    const ranBy = (c: Coordinator, id: string): number => c.stderr().split('\n').filter((l) => l.includes(`job ${id}: completed`)).length;
    for (const [i, id] of ids.entries()) {
      const job = await client.getJob(id);
      assert.deepEqual(job.tokenIds, (cases[i % cases.length] as GoldenCase).generated_token_ids.slice(0, 60));
      assert.equal(ranBy(one, id) + ranBy(two, id), 1, `job ${id} completed once in all`);
    }
    assert.ok(ids.some((id) => ranBy(one, id) === 1) && ids.some((id) => ranBy(two, id) === 1), 'both coordinators ran jobs');
  } finally {
    client.close();
    await Promise.all([one.stop(), two.stop()]);
    dropQueue(queue);
  }
});
