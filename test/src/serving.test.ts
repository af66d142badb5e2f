// Serving end to end: `octoserve launch` (a real coordinator and real workers), the typed
// client over real sockets, jobs in the real Redis. Streamed tokens equal the goldens and
// `octoserve generate`; bad requests get a status a person can act on and the cluster keeps
// serving; drain lets in-flight work finish and refuses new work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { OctoserveClient, OctoserveError } from '@octoserve/client';
import type { GenerateRequest } from '@octoserve/client';
import { failure, rawUnary, until } from './calls.js';
import { dropQueue, startCoordinator, uniqueQueue } from './coordinator-process.js';
import type { Coordinator } from './coordinator-process.js';
import { runCli } from './helpers.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const goldenBudget = (c: GoldenCase): number => 257 - c.prompt_token_ids.length;
const golden = (i: number): GoldenCase => cases[i] as GoldenCase;

describe('a launched tp=2 cluster', () => {
  const queue = uniqueQueue('serving');
  let coord: Coordinator;
  let client: OctoserveClient;

  before(async () => {
    coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--max-sequences', '4', '--max-waiting', '4']);
    client = new OctoserveClient({ address: coord.address, deadlineMs: 20_000 });
  });
  after(async () => {
    client?.close();
    await coord?.stop();
    dropQueue(queue);
  });

  test('Generate streams the golden tokens, and the same as `octoserve generate`', async () => {
    for (const c of [golden(0), golden(3)]) {
      const streamed: number[] = [];
      let text = '';
      const done = await client.complete({ prompt: c.prompt, maxTokens: goldenBudget(c) }, { onTokens: (chunk) => { streamed.push(...chunk.tokenIds); text += chunk.text; } });
      assert.deepEqual(done.promptTokenIds, c.prompt_token_ids);
      assert.deepEqual(done.tokenIds, c.generated_token_ids, `"${c.prompt}"`);
      assert.deepEqual(streamed, done.tokenIds, 'the streamed chunks are the final tokens, in order');
      assert.equal(done.text, c.text);
      assert.equal(c.prompt + text, c.text, 'the chunks\' text is the continuation');
      assert.equal(done.finishReason, c.stop_reason === 'bos' ? 'stop' : 'length');
      assert.equal(done.stats?.tokens, c.generated_token_ids.length);
    }
    const c = golden(1);
    const local = await runCli(['generate', '--model', model.modelPath, '--prompt', c.prompt, '--max-tokens', '64', '--json']);
    const remote = await runCli(['generate', '--cluster', coord.address, '--prompt', c.prompt, '--max-tokens', '64', '--json']);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(remote.code, 0, remote.stderr);
    const [l, r] = [JSON.parse(local.stdout), JSON.parse(remote.stdout)] as { token_ids: number[]; text: string; prompt_token_ids: number[] }[];
    assert.deepEqual(r?.token_ids, l?.token_ids);
    assert.equal(r?.text, l?.text);
    assert.deepEqual(r?.prompt_token_ids, l?.prompt_token_ids);
  });

  test('concurrent Generates share steps and each gets exactly its golden tokens', async () => {
    const before = await client.clusterStatus();
    const picked = [0, 1, 2, 3, 4, 5, 6, 7].map(golden);
    const results = await Promise.all(picked.map((c) => client.complete({ prompt: c.prompt, maxTokens: 80 })));
    let tokens = 0;
    for (const [i, c] of picked.entries()) {
      assert.deepEqual(results[i]?.tokenIds, c.generated_token_ids.slice(0, 80), `"${c.prompt}"`);
      tokens += results[i]?.tokenIds.length ?? 0;
    }
    const status = await client.clusterStatus();
    const steps = Number(status.steps) - Number(before.steps);
    assert.ok(steps < tokens, `${steps} steps for ${tokens} tokens: the sequences were not batched`);
  });

  test('bad requests get INVALID_ARGUMENT, NOT_FOUND or RESOURCE_EXHAUSTED with an actionable message', async () => {
    const bad: [GenerateRequest, RegExp][] = [
      [{ prompt: '' }, /prompt is empty/],
      [{ promptTokenIds: Array.from({ length: 600 }, () => 5) }, /prompt is 600 tokens; the model's context is 512/],
      [{ promptTokenIds: [1, 9999] }, /outside the vocabulary/],
      [{ prompt: 'hi', maxTokens: 0 }, /max_tokens must be at least 1, got 0/],
      [{ prompt: 'hi', maxTokens: -5 }, /max_tokens must be at least 1, got -5/],
      [{ prompt: 'hi', maxTokens: 2_000_000_000 }, /max_tokens 2000000000 is more than the model's context of 512/],
      [{ prompt: 'hi', temperature: -1 }, /temperature must be a finite number >= 0/],
      [{ prompt: 'hi', temperature: Number.NaN }, /temperature must be a finite number >= 0 .*NaN/],
      [{ prompt: 'hi', temperature: 1, topP: 1.5 }, /top_p must be in \(0, 1\]/],
    ];
    for (const [req, message] of bad) {
      const err = await failure(client.complete(req));
      assert.equal(err.codeName, 'INVALID_ARGUMENT', `${JSON.stringify(req).slice(0, 80)}: ${err.message}`);
      assert.match(err.details, message);
      const job = await failure(client.submitJob(req));
      assert.equal(job.codeName, 'INVALID_ARGUMENT', 'SubmitJob refuses the same request at once');
    }
    const watch = async (id: string): Promise<void> => { for await (const _ of client.watchJob(id)) { /* none */ } };
    for (const call of [() => client.getJob('no-such-job'), () => client.cancelJob('no-such-job'), () => watch('no-such-job')]) {
      const err = await failure(call());
      assert.equal(err.codeName, 'NOT_FOUND');
      assert.match(err.details, /no job 'no-such-job'/);
    }
    assert.equal((await failure(client.getJob('../../etc/passwd'))).codeName, 'INVALID_ARGUMENT');
    // invalid UTF-8 in a string field, nested (SubmitJob.request.prompt) and not (GetJob.id)
    const submit = await rawUnary(coord.address, '/octoserve.v1.Inference/SubmitJob', Buffer.from([0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]));
    assert.ok(!Buffer.isBuffer(submit));
    assert.equal(submit.code, grpc.status.INVALID_ARGUMENT);
    assert.match(submit.details, /request\.prompt is not valid UTF-8/);
    const get = await rawUnary(coord.address, '/octoserve.v1.Inference/GetJob', Buffer.from([0x0a, 0x02, 0xc3, 0x28]));
    assert.ok(!Buffer.isBuffer(get));
    assert.equal(get.code, grpc.status.INVALID_ARGUMENT);
    assert.match(get.details, /id is not valid UTF-8/);
    // bytes that are not protobuf at all
    const garbage = await rawUnary(coord.address, '/octoserve.v1.Inference/GetJob', Buffer.from([0x0a, 0x40, 0x01]));
    assert.ok(!Buffer.isBuffer(garbage));
    assert.equal(garbage.code, grpc.status.INVALID_ARGUMENT);
    assert.match(garbage.details, /not a valid octoserve\.v1\.GetJobRequest/);
    // a message over the API's 1 MiB limit
    const big = await failure(client.complete({ prompt: 'a'.repeat(2 << 20) }));
    assert.equal(big.codeName, 'RESOURCE_EXHAUSTED');
    assert.match(big.details, /larger than max/i);
    // and the cluster still serves
    const after = await client.complete({ prompt: golden(2).prompt, maxTokens: 20 });
    assert.deepEqual(after.tokenIds, golden(2).generated_token_ids.slice(0, 20));
  });

  test('past the bound on waiting requests, Generate answers RESOURCE_EXHAUSTED', async () => {
    // 4 slots and 4 waiting places: the 9th and later concurrent long requests are refused
    const calls = Array.from({ length: 12 }, () => client.complete({ prompt: golden(4).prompt, maxTokens: 120 }).then(() => 'ok', (e: unknown) => e));
    const outcomes = await Promise.all(calls);
    const refused = outcomes.filter((o) => o instanceof OctoserveError && o.codeName === 'RESOURCE_EXHAUSTED') as OctoserveError[];
    assert.ok(refused.length >= 1, `none refused: ${outcomes.map(String).join(', ')}`);
    assert.match(refused[0]?.details ?? '', /sequence slots are busy/);
    assert.equal(outcomes.filter((o) => o === 'ok').length + refused.length, 12, 'every call either ran or was refused');
  });

  test('jobs: submit, watch, list, get with the result; a client-chosen id is idempotent', async () => {
    const c = golden(5);
    const id = `job-${process.pid}`;
    assert.equal(await client.submitJob({ prompt: c.prompt, maxTokens: 50 }, { jobId: id }), id);
    assert.equal(await client.submitJob({ prompt: c.prompt, maxTokens: 50 }, { jobId: id }), id, 'the same id returns the same job');
    const seen: string[] = [];
    for await (const job of client.watchJob(id)) seen.push(job.state);
    assert.equal(seen.at(-1), 'JOB_STATE_COMPLETED');
    const job = await client.getJob(id);
    assert.deepEqual(job.tokenIds, c.generated_token_ids.slice(0, 50));
    assert.equal(job.text, (await client.complete({ prompt: c.prompt, maxTokens: 50 })).text);
    assert.equal(job.attempts, 1);
    const listed = await client.listJobs({ states: ['completed'], pageSize: 1000 });
    assert.ok(listed.jobs.some((j) => j.id === id));
    const cli = await runCli(['jobs', 'get', id, '--cluster', coord.address, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const printed = JSON.parse(cli.stdout) as { id: string; state: string; token_ids: number[]; text: string };
    assert.equal(printed.state, 'completed');
    assert.deepEqual(printed.token_ids, job.tokenIds);
    assert.equal(printed.text, job.text);
  });

  test('a cancelled job stops with the tokens it had and says cancelled', async () => {
    // Three requests share the job's steps, so it runs a few hundred ms; it is cancelled as soon
    // as its first tokens are stored, and the coordinator running it stops it at its next step
    // (well before its end at the golden's end of sequence). The others end as their goldens.
    const others = [1, 2, 3].map((i) => client.complete({ prompt: golden(i).prompt, maxTokens: goldenBudget(golden(i)) }));
    const id = await client.submitJob({ prompt: golden(6).prompt, maxTokens: 500 });
    await until('the job has stored its first tokens', 20_000, async () => (await client.getJob(id)).tokenIds.length >= 1, 2);
    const cancelled = await client.cancelJob(id);
    assert.ok(['JOB_STATE_ACTIVE', 'JOB_STATE_CANCELLED'].includes(cancelled.state), cancelled.state);
    let last;
    for await (const job of client.watchJob(id)) last = job;
    assert.equal(last?.state, 'JOB_STATE_CANCELLED');
    assert.equal(last?.finishReason, 'cancelled');
    const n = last?.tokenIds.length ?? 0;
    assert.ok(n >= 1 && n < golden(6).generated_token_ids.length, `${n} tokens`);
    assert.deepEqual(last?.tokenIds, golden(6).generated_token_ids.slice(0, n));
    for (const [k, done] of (await Promise.all(others)).entries()) assert.deepEqual(done.tokenIds, golden(k + 1).generated_token_ids);
  });

  test('drain finishes in-flight work, refuses new work with UNAVAILABLE; resume serves again', async () => {
    const c = golden(7);
    let started: () => void = () => {};
    const streaming = new Promise<void>((resolve) => { started = resolve; });
    const inFlight = client.complete({ prompt: c.prompt, maxTokens: goldenBudget(c) }, { onTokens: () => started() });
    await streaming; // its first tokens are out: it is in flight (it may run only a few hundred ms)
    const draining = await client.drain({ wait: false });
    assert.equal(draining.state, 'draining');
    assert.ok(draining.inFlight >= 1, 'the long request is in flight');
    const refused = await failure(client.complete({ prompt: 'Once', maxTokens: 5 }));
    assert.equal(refused.codeName, 'UNAVAILABLE');
    assert.match(refused.details, /draining: it accepts no new work until `octoserve resume`/);
    assert.equal((await failure(client.submitJob({ prompt: 'Once', maxTokens: 5 }))).codeName, 'UNAVAILABLE');
    const drained = await client.drain({ wait: true, timeoutMs: 60_000 });
    assert.equal(drained.state, 'drained');
    assert.equal(drained.inFlight, 0);
    const finished = await inFlight;
    assert.deepEqual(finished.tokenIds, c.generated_token_ids, 'the in-flight request ran to its end');
    assert.equal((await client.clusterStatus()).state, 'drained');
    assert.equal((await client.resume()).state, 'serving');
    assert.deepEqual((await client.complete({ prompt: c.prompt, maxTokens: 10 })).tokenIds, c.generated_token_ids.slice(0, 10));
  });

  test('status reports the model, every rank and the queue', async () => {
    const s = await client.clusterStatus();
    assert.equal(s.tp, 2);
    assert.equal(s.model?.vocabSize, 512);
    assert.equal(s.ranks.length, 2);
    for (const r of s.ranks) {
      assert.equal(r.state, 'ready');
      assert.ok(r.pid > 0 && Number(r.rssBytes) > 0 && Number(r.weightBytes) > 0 && r.stepMsP50 > 0, JSON.stringify(r));
    }
    assert.equal(s.queue?.durable, true);
    assert.match(s.queue?.backend ?? '', /^redis:\/\/127\.0\.0\.1:6379/);
  });
});
