// A worker dies mid-generation: the coordinator notices at once, restarts the cluster (new
// worker processes, shards reloaded, a new communicator), and the running generation and
// job go on from their committed tokens. The output equals an undisturbed run's (the goldens).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OctoserveClient } from '@octoserve/client';
import { dropQueue, startCoordinator, uniqueQueue } from './coordinator-process.js';
import { alive } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const goldenBudget = (c: GoldenCase): number => 257 - c.prompt_token_ids.length;

test('a worker SIGKILLed mid-generation: detected at once, cluster restarted, Generate and a job finish with the golden tokens', { timeout: 180_000 }, async () => {
  const queue = uniqueQueue('recovery');
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--max-sequences', '4']);
  const client = new OctoserveClient({ address: coord.address, deadlineMs: 20_000 });
  try {
    const [a, b] = [cases[0], cases[3]] as [GoldenCase, GoldenCase];
    const before = await client.clusterStatus();
    const jobId = await client.submitJob({ prompt: b.prompt, maxTokens: goldenBudget(b) });
    const streamed: number[] = [];
    let killedAt = 0;
    const victim = before.ranks[1]?.pid as number;
    const done = await client.complete({ prompt: a.prompt, maxTokens: goldenBudget(a) }, {
      onTokens: (chunk) => {
        streamed.push(...chunk.tokenIds);
        if (killedAt === 0 && streamed.length >= 40) {
          process.kill(victim, 'SIGKILL');
          killedAt = performance.now();
        }
      },
    });
    assert.ok(killedAt > 0, 'the worker was killed mid-generation');
    assert.deepEqual(done.tokenIds, a.generated_token_ids, 'the interrupted generation equals the undisturbed run');
    assert.deepEqual(streamed, done.tokenIds, 'no token streamed twice or lost');
    assert.equal(done.text, a.text);
    const log = coord.stderr();
    assert.match(log, /cluster failed \(worker rank 1 \(pid \d+\) was killed by SIGKILL/);
    assert.match(log, /cluster back after \d+ ms \(restart 1\)/);
    let job;
    for await (const j of client.watchJob(jobId)) job = j;
    assert.equal(job?.state, 'JOB_STATE_COMPLETED', job?.error);
    assert.deepEqual(job?.tokenIds, b.generated_token_ids, 'the job running beside it also equals its undisturbed run');
    assert.equal(job?.attempts, 1, 'the job rode through the restart in the same run');
    const after = await client.clusterStatus();
    assert.equal(after.state, 'serving');
    assert.ok(after.ranks.every((r) => r.state === 'ready' && !before.ranks.some((o) => o.pid === r.pid)), 'both ranks are new processes');
    assert.ok(!alive(victim));
    assert.ok(!alive(before.ranks[0]?.pid as number), 'the surviving worker of the old cluster was stopped');
  } finally {
    client.close();
    await coord.stop();
    dropQueue(queue);
  }
});

test('detection: the coordinator logs the failure within 2 s of the kill', { timeout: 120_000 }, async () => {
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', uniqueQueue('detect')]);
  const client = new OctoserveClient({ address: coord.address, deadlineMs: 20_000 });
  try {
    const pid = (await client.clusterStatus()).ranks[0]?.pid as number;
    const t0 = performance.now();
    process.kill(pid, 'SIGKILL');
    await coord.waitFor(/cluster failed \(worker rank 0/, 2_000);
    const detectMs = performance.now() - t0;
    await coord.waitFor(/cluster back after/, 60_000);
    const c = cases[1] as GoldenCase;
    assert.deepEqual((await client.complete({ prompt: c.prompt, maxTokens: 30 })).tokenIds, c.generated_token_ids.slice(0, 30));
    assert.ok(detectMs < 2_000, `${detectMs} ms`);
  } finally {
    client.close();
    await coord.stop();
  }
});

test('a worker that hangs (SIGSTOP) mid-generation: the step deadline fires, the cluster restarts, the output is unchanged', { timeout: 180_000 }, async () => {
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', uniqueQueue('hang'), '--step-timeout-ms', '2000']);
  const client = new OctoserveClient({ address: coord.address, deadlineMs: 20_000 });
  const c = cases[2] as GoldenCase;
  let victim = 0;
  try {
    victim = (await client.clusterStatus()).ranks[0]?.pid as number;
    let tokens = 0;
    const done = await client.complete({ prompt: c.prompt, maxTokens: goldenBudget(c) }, {
      onTokens: (chunk) => {
        tokens += chunk.tokenIds.length;
        if (tokens >= 30 && tokens - chunk.tokenIds.length < 30) process.kill(victim, 'SIGSTOP');
      },
    });
    assert.deepEqual(done.tokenIds, c.generated_token_ids);
    assert.match(coord.stderr(), /cluster failed \(step \d+ got no answer from every rank within 2000 ms\); restarting it/);
    assert.match(coord.stderr(), /cluster back after/);
    assert.ok(!alive(victim), 'the hung worker was killed, not left stopped');
  } finally {
    if (victim > 0 && alive(victim)) process.kill(victim, 'SIGKILL');
    client.close();
    await coord.stop();
  }
});
