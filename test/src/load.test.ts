// Load: 64 concurrent clients x 10 Generate calls while 200 jobs are queued, on a tp=2
// cluster. No call fails, every answer is the reference's, the coordinator's resident memory
// stays within a stated bound, and the latencies are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OctoserveClient } from '@octoserve/client';
import { dropQueue, startCoordinator, uniqueQueue } from './coordinator-process.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);
const CLIENTS = 64;
const REQUESTS = 10;
const JOBS = 200;
const TOKENS = 8;
/** The most the coordinator's resident memory may grow over the load, after a warm-up round. */
const RSS_BOUND_MIB = 96;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

test(`${CLIENTS} clients x ${REQUESTS} requests with ${JOBS} queued jobs: no errors, exact answers, bounded memory`, { timeout: 300_000 }, async (t) => {
  const queue = uniqueQueue('load');
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--max-sequences', '16', '--max-waiting', '128', '--job-concurrency', '4']);
  const clients = Array.from({ length: CLIENTS }, () => new OctoserveClient({ address: coord.address, deadlineMs: 120_000 }));
  const pid = coord.child.pid as number;
  const expected = (i: number): number[] => (cases[i % cases.length] as GoldenCase).generated_token_ids.slice(0, TOKENS);
  const round = async (requests: number, latencies: number[]): Promise<void> => {
    await Promise.all(clients.map(async (client, c) => {
      for (let r = 0; r < requests; r++) {
        const i = c + r;
        const t0 = performance.now();
        const done = await client.complete({ prompt: (cases[i % cases.length] as GoldenCase).prompt, maxTokens: TOKENS });
        latencies.push(performance.now() - t0);
        assert.deepEqual(done.tokenIds, expected(i));
      }
    }));
  };
  try {
    await round(1, []); // warm-up: connections, compiled code, buffers
    const rssBefore = rssMiB(pid);
    const jobIds: string[] = [];
    for (let j = 0; j < JOBS; j++) jobIds.push(await (clients[j % CLIENTS] as OctoserveClient).submitJob({ prompt: (cases[j % cases.length] as GoldenCase).prompt, maxTokens: TOKENS }));
    const latencies: number[] = [];
    const t0 = performance.now();
    await round(REQUESTS, latencies);
    const wallS = (performance.now() - t0) / 1000;
    const watcher = clients[0] as OctoserveClient;
    const end = Date.now() + 200_000;
    let pending = jobIds;
    while (pending.length > 0 && Date.now() < end) {
      const jobs = await Promise.all(pending.map((id) => watcher.getJob(id)));
      for (const [k, j] of jobs.entries()) {
        if (j.state === 'JOB_STATE_FAILED' || j.state === 'JOB_STATE_CANCELLED') assert.fail(`job ${pending[k]} ${j.state}: ${j.error}`);
        if (j.state === 'JOB_STATE_COMPLETED') assert.deepEqual(j.tokenIds, expected(jobIds.indexOf(j.id)));
      }
      pending = pending.filter((_, k) => jobs[k]?.state !== 'JOB_STATE_COMPLETED');
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(pending.length, 0, `${pending.length} jobs did not complete`);
    const rssAfter = rssMiB(pid);
    const status = await watcher.clusterStatus();
    t.diagnostic(`${latencies.length} Generate calls in ${wallS.toFixed(1)} s (${(latencies.length / wallS).toFixed(1)} req/s) beside ${JOBS} jobs; ` +
      `latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms; ` +
      `coordinator RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB; workers ${status.ranks.map((r) => (Number(r.rssBytes) / 2 ** 20).toFixed(0)).join('/')} MiB`);
    assert.equal(latencies.length, CLIENTS * REQUESTS);
    assert.ok(rssAfter - rssBefore < RSS_BOUND_MIB, `coordinator RSS grew ${(rssAfter - rssBefore).toFixed(0)} MiB (bound ${RSS_BOUND_MIB})`);
  } finally {
    for (const c of clients) c.close();
    await coord.stop();
    dropQueue(queue);
  }
});
