// The durable queue against the local Redis: a job cancelled through one coordinator stops at
// once on the coordinator running it (the cancel message), not at its next poll of the key; a
// queue leaves nothing behind that keeps its process alive.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { GenerateRequest__Output } from '@octoserve/wire';
import { openBullQueue } from './bull-queue.js';
import { JobCancelled } from './job-queue.js';
import type { JobRun } from './job-queue.js';

const REDIS = 'redis://127.0.0.1:6379';
const name = `unit-cancel-${process.pid}-${Date.now().toString(36)}`;

after(async () => {
  const redis = new Redis(REDIS);
  const keys = [...await redis.keys(`bull:${name}:*`), ...await redis.keys(`${name}:*`)];
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('a job cancelled through another coordinator stops within 200 ms, with what it had', async () => {
  const [running, other] = await Promise.all([openBullQueue({ url: REDIS, name }), openBullQueue({ url: REDIS, name })]);
  try {
    let started: (run: JobRun) => void = () => {};
    const start = new Promise<JobRun>((resolve) => { started = resolve; });
    running.consume((run) => new Promise((_, reject) => {
      started(run);
      run.signal.addEventListener('abort', () => reject(new JobCancelled({ promptTokenIds: [1], tokenIds: [7, 8], text: 'so far' })));
    }), 1);
    const id = await other.submit({ prompt: 'Once' } as GenerateRequest__Output);
    const run = await start;
    assert.equal(run.id, id);
    const t0 = performance.now();
    const aborted = new Promise<number>((resolve) => run.signal.addEventListener('abort', () => resolve(performance.now() - t0)));
    await other.cancel(id);
    const ms = await Promise.race([aborted, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 2_000))]);
    assert.ok(ms < 200, `the running job saw the cancellation after ${ms.toFixed(0)} ms`);
    let job = await other.get(id);
    for (let i = 0; i < 100 && job?.state !== 'cancelled'; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      job = await other.get(id);
    }
    assert.equal(job?.state, 'cancelled');
    assert.deepEqual(job?.tokenIds, [7, 8]);
  } finally {
    await running.close();
    await other.close();
  }
});

test('a process that opened and closed a queue exits at once (the connect deadline is cleared)', () => {
  const queueModule = new URL('./bull-queue.js', import.meta.url).href;
  const script = `const { openBullQueue } = await import(${JSON.stringify(queueModule)});
    const q = await openBullQueue({ url: ${JSON.stringify(REDIS)}, name: ${JSON.stringify(`${name}-exit`)} });
    await q.close();`;
  const t0 = performance.now();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  const ms = performance.now() - t0;
  assert.equal(child.status, 0, child.stderr);
  // the connect deadline is 5 s: a timer left behind would hold the process that long
  assert.ok(ms < 4_000, `the process exited after ${ms.toFixed(0)} ms`);
});
