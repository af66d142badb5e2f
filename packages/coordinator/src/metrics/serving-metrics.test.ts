import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterStep } from '../cluster.js';
import { ServingMetrics, sizeClass } from './serving-metrics.js';

/** `name{labels} value` lines of the exposition, by their name and labels. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const step = (computeMs: number[], allReduceMs: number[], workerMs: number[], allReduceAlgorithm = 'star', allReduceBytes = 256): ClusterStep =>
  ({ ranks: [], computeMs, allReduceMs, workerMs, allReduces: 4, allReduceAlgorithm, allReduceBytes, wallMs: 10, steps: 1 });

test('counters add up what they are told; gauges read their sources when scraped', async () => {
  const m = new ServingMetrics();
  let running = 2;
  m.readFrom({ running: () => running, waiting: () => 1, restarts: () => 3, jobCounts: async () => ({ waiting: 4, completed: 7 }) });
  m.tokens(5);
  m.tokens(2);
  m.finished({ promptTokens: 9, finishReason: 'length', queueMs: 1, e2eMs: 30 });
  m.finished({ promptTokens: 4, finishReason: 'stop', queueMs: 0, e2eMs: 20 });
  m.speculated({ steps: 3, draftTokens: 3 * 62, acceptedPerDepth: [3, 2, 0, 0] });
  m.speculated({ steps: 1, draftTokens: 62, acceptedPerDepth: [1, 1, 1, 0] });
  m.step(step([2, 3], [1, 0.5], [4, 4]));
  m.step(step([2, 3], [2, 2], [4, 4], 'ring', 3000));
  const { contentType, body } = await m.text();
  assert.match(contentType, /^text\/plain/);
  const s = samples(body);
  assert.equal(s.get('octoserve:generation_tokens_total'), 7);
  assert.equal(s.get('octoserve:prompt_tokens_total'), 13);
  assert.equal(s.get('octoserve:request_success_total{finished_reason="length"}'), 1);
  assert.equal(s.get('octoserve:request_success_total{finished_reason="stop"}'), 1);
  assert.equal(s.get('octoserve:spec_decode_num_drafts_total'), 4);
  assert.equal(s.get('octoserve:spec_decode_num_draft_tokens_total'), 4 * 62);
  assert.equal(s.get('octoserve:spec_decode_num_accepted_tokens_total'), 8);
  assert.deepEqual([0, 1, 2, 3].map((p) => s.get(`octoserve:spec_decode_num_accepted_tokens_per_pos_total{position="${p}"}`)), [4, 3, 1, 0]);
  assert.equal(s.get('octoserve:e2e_request_latency_seconds_count'), 2);
  assert.equal(s.get('octoserve:e2e_request_latency_seconds_sum'), 0.05);
  assert.equal(s.get('octoserve:num_requests_running'), 2);
  assert.equal(s.get('octoserve:num_requests_waiting'), 1);
  assert.equal(s.get('octoserve:cluster_restarts_total'), 3);
  assert.equal(s.get('octoserve:jobs{state="waiting"}'), 4);
  assert.equal(s.get('octoserve:jobs{state="completed"}'), 7);
  assert.equal(s.get('octoserve:step_compute_seconds_sum{rank="1"}'), 0.006);
  assert.equal(s.get('octoserve:step_allreduce_seconds_count{rank="0"}'), 2);
  // by algorithm and size class: one all-reduce's time (a rank's step total over its 4 calls), calls counted once per step
  assert.equal(s.get('octoserve:allreduce_calls_total{algorithm="star",size_class="256B"}'), 4);
  assert.equal(s.get('octoserve:allreduce_calls_total{algorithm="ring",size_class="4KiB"}'), 4);
  assert.equal(s.get('octoserve:allreduce_seconds_count{algorithm="star",size_class="256B"}'), 2);
  const near = (got: number | undefined, want: number): void => assert.ok(Math.abs((got ?? NaN) - want) < 1e-12, `${got} vs ${want}`);
  near(s.get('octoserve:allreduce_seconds_sum{algorithm="star",size_class="256B"}'), (1 / 4 + 0.5 / 4) / 1000);
  near(s.get('octoserve:allreduce_seconds_sum{algorithm="ring",size_class="4KiB"}'), 1 / 1000);
  running = 0;
  assert.equal(samples((await m.text()).body).get('octoserve:num_requests_running'), 0, 'read again at every scrape');
  assert.equal(samples((await m.text()).body).get('octoserve:cluster_restarts_total'), 3, 'a scrape does not add to the restarts');
});

test('size classes are bytes rounded up to a power of two', () => {
  assert.deepEqual([1, 256, 257, 1024, 65_536, 65_537, 1 << 20].map(sizeClass), ['1B', '256B', '512B', '1KiB', '64KiB', '128KiB', '1MiB']);
});

test('two engines in one process keep their own numbers', async () => {
  const [a, b] = [new ServingMetrics(), new ServingMetrics()];
  a.tokens(3);
  assert.equal(samples((await a.text()).body).get('octoserve:generation_tokens_total'), 3);
  assert.equal(samples((await b.text()).body).get('octoserve:generation_tokens_total'), 0);
});
