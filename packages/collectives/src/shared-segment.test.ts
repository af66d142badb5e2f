// The shm fabric on real processes: the segment is really used (not a silent fallback to
// sockets) and its file name is gone once the world is formed; under mutual TLS it is not used
// (auth.test.ts). The exact sums of every algorithm on the shm fabric are in
// all-reduce.test.ts, its failures (killed peer, mismatched calls, late rank) in failures.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SEGMENT_DIR } from '@octoserve/shared-memory';
import { runRanks } from './harness.js';

const SCENARIOS = fileURLToPath(new URL('./scenarios.js', import.meta.url));

function segmentsOf(id: string): string[] {
  return readdirSync(SEGMENT_DIR).filter((f) => f.startsWith(`octoserve-${id}-`));
}

test('shm fabric: every rank of a world of 8 sums through the shared segment, whose file is gone once formed', async () => {
  const communicatorId = `shm-test-${process.pid}`;
  const outcomes = await runRanks({ fabric: 'shm', worldSize: 8, module: SCENARIOS, scenario: 'segmentInfo', communicatorId });
  for (const o of outcomes) {
    assert.ok(o.ok, `rank ${o.rank}: ${o.error?.message}`);
    const v = o.value as { sharedMemory: boolean; log: string[]; sum: number };
    assert.equal(v.sharedMemory, true, `rank ${o.rank} logged: ${v.log.join(' | ')}`);
    assert.ok(v.log.some((l) => l.includes('all-reduce through shared memory')), v.log.join(' | '));
    assert.equal(v.sum, 36);
  }
  assert.deepEqual(segmentsOf(communicatorId), []);
});

test('socket fabric: no segment, and the shm algorithm named on it is a clear error', async () => {
  const outcomes = await runRanks({ fabric: 'socket', worldSize: 2, module: SCENARIOS, scenario: 'segmentInfo', args: { allReduceAlgorithm: 'shm' } });
  for (const o of outcomes) {
    assert.equal(o.ok, false);
    assert.match(o.error?.message ?? '', /the shm all-reduce needs the shm fabric .* runs the socket fabric without a shared segment/);
  }
});
