// What the cluster commands print for given replies: status text, a job's text, JSON and list rows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClusterStatusReply__Output, Job__Output } from '@octoserve/client';
import { snakeCase, snakeJson } from './cluster-flags.js';
import { listFlag } from './flags.js';
import { requestFromFlags } from './generate-cluster.js';
import { finishSummary, formatJob, formatJobList, formatTime, jobJson } from './job-view.js';
import { formatStatus, formatUptime } from './status.js';

function job(over: Partial<Job__Output> = {}): Job__Output {
  return {
    id: 'job-1', state: 'JOB_STATE_COMPLETED', request: { prompt: 'Once', promptTokenIds: [], topK: 0, maxTokens: 3, _maxTokens: 'maxTokens' },
    promptTokenIds: [1, 403], tokenIds: [10, 11, 12], text: 'Once there was', finishReason: 'length', error: '', attempts: 1,
    createdMs: 1_700_000_000_000, startedMs: 1_700_000_000_500, finishedMs: 1_700_000_003_500,
    stats: { tokens: 3, wallMs: 3000, tokPerS: 1, queueMs: 500, steps: 4, tokensPerStep: 0.75, seed: 7, coordinator: 'h1:50051', specSteps: 0, draftTokens: 0, acceptedPerDepth: [] },
    ...over,
  };
}

const STATUS: ClusterStatusReply__Output = {
  state: 'serving', address: 'h1:50051', tp: 2, steps: 12_345, tokens: 67_890, uptimeS: 3723.4, maxSequences: 8, allreduce: 'ring',
  model: { path: '/m/stories260K.bin', architecture: 'llama 5 layers, dim 64', vocabSize: 512, context: 512, medusaHeads: 0, medusaTree: '' },
  ranks: [0, 1].map((rank) => ({
    rank, host: 'h1', pid: 100 + rank, device: 'cpu', state: 'ready', rssBytes: 50 * 2 ** 20, weightBytes: 12 * 2 ** 20, lastStepMs: 3,
    stepMsP50: 3.25, stepMsP99: 10, computeMsP50: 2, allreduceMsP50: 1,
  })),
  queue: { generateActive: 1, generateWaiting: 2, jobsRunningHere: 3, jobsWaiting: 4, jobsActive: 5, jobsCompleted: 6, jobsFailed: 7, durable: true, backend: 'redis://r:6379' },
};

describe('status', () => {
  test('fields, the ranks table and the queues', () => {
    const text = formatStatus(STATUS);
    assert.match(text, /^state {10}serving\naddress {8}h1:50051\nmodel {10}llama 5 layers, dim 64\npath {11}\/m\/stories260K.bin\n/);
    assert.match(text, /\ntp {13}2\nmax sequences  8\nall-reduce {5}ring\nuptime {9}1h 02m 03s\nsteps {10}12,345\ntokens {9}67,890\n/);
    assert.match(text, /\nrank  host  pid  device  state  rss MiB  weights MiB  step p50 ms  step p99 ms  compute p50 ms  all-reduce p50 ms\n/);
    assert.ok(text.includes('\n   0  h1    100  cpu     ready     50.0         12.0         3.25        10.00            2.00               1.00\n' +
      '   1  h1    101  cpu     ready     50.0         12.0         3.25        10.00            2.00               1.00\n\n'), text);
    assert.match(text, /\nqueue {5}redis:\/\/r:6379 \(durable\)\ngenerate  1 active, 2 waiting for a slot \(this coordinator\)\n/);
    assert.match(text, /\njobs {6}3 running here; queue: 4 waiting, 5 active, 6 completed, 7 failed\n$/);
  });

  test('an in-process queue says it is not durable; a missing model says so', () => {
    const text = formatStatus({ ...STATUS, model: null, ranks: [], queue: { ...STATUS.queue!, durable: false, backend: 'in-process' } });
    assert.match(text, /\nmodel +\(not reported\)\n/);
    assert.match(text, /\n\(no ranks\)\n/);
    assert.match(text, /in-process \(not durable: queued jobs are lost if this coordinator stops\)/);
  });

  test('uptime', () => {
    assert.equal(formatUptime(59.04), '59.0 s');
    assert.equal(formatUptime(61), '1m 01s');
    assert.equal(formatUptime(3723), '1h 02m 03s');
    assert.equal(formatUptime(2 * 86400 + 3 * 3600 + 4 * 60), '2d 03h 04m');
  });

  test('--json uses the proto names', () => {
    const json = snakeJson(STATUS) as Record<string, unknown>;
    assert.equal(json.uptime_s, 3723.4);
    assert.equal(json.max_sequences, 8);
    const rank = (json.ranks as Record<string, unknown>[])[0]!;
    assert.deepEqual(Object.keys(rank), ['rank', 'host', 'pid', 'device', 'state', 'rss_bytes', 'weight_bytes', 'last_step_ms', 'step_ms_p50', 'step_ms_p99', 'compute_ms_p50', 'allreduce_ms_p50']);
    assert.equal(snakeCase('jobsRunningHere'), 'jobs_running_here');
  });
});

describe('jobs', () => {
  test('--json: the shape of inference.proto, state as a short name, no optional-field markers', () => {
    const json = jobJson(job());
    assert.deepEqual(Object.keys(json), ['id', 'state', 'request', 'prompt_token_ids', 'token_ids', 'text', 'finish_reason', 'error',
      'attempts', 'created_ms', 'started_ms', 'finished_ms', 'stats']);
    assert.equal(json.state, 'completed');
    assert.deepEqual(json.request, { prompt: 'Once', prompt_token_ids: [], top_k: 0, max_tokens: 3 });
    assert.deepEqual(json.stats, { tokens: 3, wall_ms: 3000, tok_per_s: 1, queue_ms: 500, steps: 4, tokens_per_step: 0.75, seed: 7, coordinator: 'h1:50051', spec_steps: 0, draft_tokens: 0, accepted_per_depth: [] });
    assert.equal(jobJson(job({ stats: null, state: 'JOB_STATE_WAITING' })).stats, null);
  });

  test("get's text: fields, a blank line, the text", () => {
    assert.equal(formatJob(job()), [
      'id        job-1',
      'state     completed (length)',
      'attempts  1',
      'created   2023-11-14T22:13:20Z',
      'started   2023-11-14T22:13:20Z (waited 0.5 s)',
      'finished  2023-11-14T22:13:23Z (ran 3.0 s)',
      'tokens    3 generated, prompt 2',
      'stats     1.0 tok/s, 3000.0 ms on the cluster, queue 500.0 ms, 4 steps (0.75 tokens/step), seed 7, coordinator h1:50051',
      '',
      'Once there was',
      '',
    ].join('\n'));
    const failed = formatJob(job({ state: 'JOB_STATE_FAILED', finishReason: '', error: 'worker 1\nran out of memory', stats: null, finishedMs: 0 }));
    assert.match(failed, /\nstate     failed\n/);
    assert.match(failed, /\nfinished  -\n/);
    assert.match(failed, /\nerror     worker 1 ran out of memory\n/);
    assert.equal(formatTime(0), '-');
  });

  test('how a job ended, in one line', () => {
    assert.equal(finishSummary(job()), 'completed (length): 3 tokens in 3.00 s, 1.0 tok/s');
    assert.equal(finishSummary(job({ state: 'JOB_STATE_FAILED', error: 'boom', tokenIds: [1] })), 'failed after 1 token: boom');
    assert.equal(finishSummary(job({ state: 'JOB_STATE_CANCELLED', finishReason: 'cancelled', stats: null, attempts: 2 })), 'cancelled (cancelled): 3 tokens (2 attempts)');
  });

  test("list's rows", () => {
    const text = formatJobList([job(), job({ id: 'j2', state: 'JOB_STATE_FAILED', finishReason: '', error: 'x'.repeat(60), tokenIds: [] })]);
    const lines = text.split('\n');
    assert.equal(lines[0], 'id     state      attempts  tokens  created               finish / error');
    assert.equal(lines[1], 'job-1  completed         1       3  2023-11-14T22:13:20Z  length');
    assert.equal(lines[2], `j2     failed            1       0  2023-11-14T22:13:20Z  ${'x'.repeat(47)}…`);
  });
});

describe('flags to requests', () => {
  test('only the sampling flags given go into the request', () => {
    assert.deepEqual(requestFromFlags({}, 'hi'), { prompt: 'hi' });
    assert.deepEqual(requestFromFlags({ maxTokens: 20, temperature: 0.8, topK: 40, topP: 0.9, seed: 5 }, ''),
      { prompt: '', maxTokens: 20, temperature: 0.8, topK: 40, topP: 0.9, seed: 5 });
    assert.throws(() => requestFromFlags({ maxTokens: 0 }, ''), /--max-tokens must be an integer >= 1/);
  });

  test('a list flag may repeat or hold commas', () => {
    const state = listFlag('--state S', 'a list');
    assert.deepEqual(state.parseArg!('failed, active', state.parseArg!('waiting', undefined)), ['waiting', 'failed', 'active']);
    assert.deepEqual(state.parseArg!(' , ', undefined), []);
  });
});
