// `launch --log-format json`: every stderr line of the coordinator and of its workers is a JSON
// object (pino's), its message the text line word for word, and what it is about in fields: a
// job's id and attempt, a worker's rank.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OctoserveClient } from '@octoserve/client';
import { dropQueue, startCoordinator, uniqueQueue } from './coordinator-process.js';
import { findTestModel, type TestModel } from '@octoserve/testkit';

const model: TestModel = await findTestModel();

interface LogLine { level: number; time: string; pid: number; msg: string; name?: string; job?: string; attempt?: number; rank?: number }

test('launch --log-format json writes JSON lines with the job id, attempt and rank as fields', { timeout: 120_000 }, async () => {
  const queue = uniqueQueue('json-logs');
  const coord = await startCoordinator(['--model', model.modelPath, '--tp', '2', '--queue', queue, '--log-format', 'json', '--verbose']);
  const client = new OctoserveClient({ address: coord.address, deadlineMs: 30_000 });
  try {
    const id = await client.submitJob({ prompt: 'Once upon a time', maxTokens: 8 }, { jobId: `json-logs-${process.pid}` });
    await coord.waitFor(new RegExp(`job ${id}: completed \\(`), 30_000);
    const done = await client.complete({ prompt: 'Once upon a time', maxTokens: 4 });
    assert.equal(done.tokenIds.length, 4);
  } finally {
    client.close();
    await coord.stop();
    dropQueue(queue);
  }
  const raw = coord.stderr().split('\n').filter((l) => l !== '');
  const lines = raw.map((l) => {
    try {
      return JSON.parse(l) as LogLine;
    } catch {
      return assert.fail(`not a JSON line: ${l}`);
    }
  });
  for (const l of lines) {
    assert.equal(typeof l.msg, 'string');
    assert.equal(l.level, 30);
    assert.ok(!Number.isNaN(Date.parse(l.time)), `time ${l.time}`);
  }
  const find = (re: RegExp): LogLine[] => lines.filter((l) => re.test(l.msg));
  // the text the e2e tests look for is in the raw lines as it was
  assert.match(coord.stderr(), /"msg":"serving on \S+ \(tp 2/);
  assert.equal(find(/^serving on /).length, 1);
  const id = `json-logs-${process.pid}`;
  const started = find(new RegExp(`^job ${id}: started \\(attempt 1\\)$`));
  assert.equal(started.length, 1);
  assert.equal(started[0]?.job, id);
  assert.equal(started[0]?.attempt, 1);
  const completed = find(new RegExp(`^job ${id}: completed \\(8 tokens, attempt 1\\)$`));
  assert.equal(completed[0]?.job, id);
  assert.equal(completed[0]?.attempt, 1);
  // the workers' own lines, passed on by the coordinator, carry their rank
  for (const rank of [0, 1]) {
    const serving = lines.filter((l) => l.name === 'octoserve-worker' && l.rank === rank && l.msg.startsWith(`rank ${rank}/2: serving on `));
    assert.equal(serving.length, 1, `rank ${rank}'s serving line`);
    assert.notEqual(serving[0]?.pid, lines.find((l) => l.msg.startsWith('serving on '))?.pid, "a worker's pid, not the coordinator's");
  }
});
