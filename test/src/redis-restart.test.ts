// Redis restarts under a running queue, with the deploy's persistence settings (append-only
// file, fsync every second, no eviction): jobs waiting and running at the restart all complete
// with the reference tokens, none lost, none completed twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OctoserveClient } from '@octoserve/client';
import { freePort } from './calls.js';
import { startCoordinator, uniqueQueue } from './coordinator-process.js';
import { findTestModel, loadGoldenCases, type GoldenCase, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();
const cases: GoldenCase[] = loadGoldenCases(model);

/** redis-server with deploy/k8s/redis.yaml's persistence settings, on `port`, keeping its files in `dir`. */
async function startRedis(port: number, dir: string): Promise<void> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes',
    '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore', detached: true });
  child.unref();
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

test('jobs survive a Redis restart: waiting and running jobs all complete once with the reference tokens', { timeout: 240_000 }, async () => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-redis-'));
  await startRedis(port, dir);
  const queue = uniqueQueue('redis-restart');
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--max-sequences', '2',
    '--redis', `redis://127.0.0.1:${port}`, '--job-lock-ms', '3000']);
  const client = new OctoserveClient({ address: coord.address, deadlineMs: 20_000 });
  try {
    const picked = cases.slice(0, 8);
    const ids: string[] = [];
    for (const c of picked) ids.push(await client.submitJob({ prompt: c.prompt, maxTokens: 150 }));
    await coord.waitFor(/completed \(/, 60_000);
    spawnSync('redis-cli', ['-p', String(port), 'shutdown']); // a clean stop: the append-only file is flushed
    await new Promise((r) => setTimeout(r, 1_500));
    await startRedis(port, dir);
    const end = Date.now() + 150_000;
    let jobs = await Promise.all(ids.map((id) => client.getJob(id)));
    while (Date.now() < end && !jobs.every((j) => j.state === 'JOB_STATE_COMPLETED' || j.state === 'JOB_STATE_FAILED')) {
      await new Promise((r) => setTimeout(r, 200));
      jobs = await Promise.all(ids.map((id) => client.getJob(id)));
    }
    for (const [i, j] of jobs.entries()) {
      assert.equal(j.state, 'JOB_STATE_COMPLETED', `job ${i}: ${j.state} ${j.error}`);
      assert.deepEqual(j.tokenIds, (picked[i] as GoldenCase).generated_token_ids.slice(0, 150), `job ${i} ("${picked[i]?.prompt}")`);
      const completions = coord.stderr().split('\n').filter((l) => l.includes(`job ${j.id}: completed`)).length;
      assert.equal(completions, 1, `job ${j.id} was stored as completed ${completions} times`);
    }
    // the outage is one line and the recovery another; no stack trace, no line per retry
    const log = coord.stderr().split('\n');
    assert.equal(log.filter((l) => l.includes('jobs: lost Redis at')).length, 1, coord.stderr());
    assert.equal(log.filter((l) => l.includes('is back; the queue goes on')).length, 1, coord.stderr());
    assert.ok(!log.some((l) => /^\s+at |^Error: |ECONNREFUSED.*\{$/.test(l)), `a raw error in the log:\n${coord.stderr()}`);
  } finally {
    client.close();
    await coord.stop();
    spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
  }
});
