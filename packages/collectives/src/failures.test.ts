// Failures on real processes: every rank must get an error naming the cause
// within the deadline — never a hang, never a wrong sum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FABRICS } from './fabric.js';
import { runRanks, type RankOutcome } from './harness.js';
import type { Attempt } from './scenarios.js';

const SCENARIOS = fileURLToPath(new URL('./scenarios.js', import.meta.url));

function attempts(outcomes: RankOutcome[], skip: number[] = []): Attempt[] {
  return outcomes.filter((o) => !skip.includes(o.rank)).map((o) => {
    assert.ok(o.ok, `rank ${o.rank} crashed: ${o.error?.message}`);
    return o.value as Attempt;
  });
}

for (const fabric of FABRICS) {
  test(`${fabric}: a peer killed mid-operation makes every other rank fail within the deadline, naming it`, async () => {
    const victim = 2;
    const deadlineMs = 5_000;
    const outcomes = await runRanks({
      fabric, worldSize: 6, module: SCENARIOS, scenario: 'killedMidOperation', args: { victim, length: 4 << 20, deadlineMs },
      onSignal: (rank, payload, control) => { if (payload === 'mid-operation') control.kill(rank); },
    });
    assert.equal(outcomes[victim]?.signal, 'SIGKILL');
    for (const a of attempts(outcomes, [victim])) {
      assert.equal(a.ok, false);
      assert.ok(a.ms < deadlineMs, `failed after ${a.ms} ms`);
      assert.match(a.message ?? '', /rank 2 \(127\.0\.0\.1:\d+\)/);
    }
  });

  test(`${fabric}: a rank with another communicator id is refused with both ids in the message`, async () => {
    const outcomes = await runRanks({
      fabric, worldSize: 4, module: SCENARIOS, scenario: 'formOnly',
      rankArgs: [{}, { communicatorId: 'job-b' }, {}, {}], communicatorId: 'job-a',
    });
    const all = attempts(outcomes);
    for (const a of all) {
      assert.equal(a.ok, false);
      // the refusing ranks report MISMATCH, the others the ABORT that carries it
      assert.ok(a.code === 'MISMATCH' || a.code === 'PEER_ABORTED', `${a.code}: ${a.message}`);
      assert.match(a.message ?? '', /communicator 'job-[ab]', this rank .* to 'job-[ab]'/);
    }
    assert.ok(all.some((a) => a.code === 'MISMATCH'));
  });

  test(`${fabric}: a rank with another world size is refused with both sizes in the message`, async () => {
    const outcomes = await runRanks({
      fabric, worldSize: 3, module: SCENARIOS, scenario: 'formOnly',
      rankArgs: [{ connectTimeoutMs: 3_000 }, { worldSize: 2, peers: 2, connectTimeoutMs: 3_000 }, { connectTimeoutMs: 3_000 }],
    });
    const all = attempts(outcomes);
    for (const a of all) assert.equal(a.ok, false, 'formed a world with disagreeing sizes');
    assert.ok(all.some((a) => /world size 2/.test(a.message ?? '') && /world size 3/.test(a.message ?? '')), all.map((a) => a.message).join('\n'));
  });

  for (const fault of ['duplicate', 'reorder', 'truncate'] as const) {
    test(`${fabric}: a ${fault === 'reorder' ? 'reordered' : `${fault}d`} frame is refused and every rank fails within the deadline`, async () => {
      const deadlineMs = 4_000;
      const outcomes = await runRanks({ fabric, worldSize: 4, module: SCENARIOS, scenario: 'faultyFrames', args: { culprit: 1, fault, deadlineMs } });
      const expected = { duplicate: /duplicated frame/, reorder: /out-of-order frame/, truncate: /truncated payload/ }[fault];
      const all = outcomes.map((o) => {
        assert.ok(o.ok, `rank ${o.rank} crashed: ${o.error?.message}`);
        return o.value as { first: Attempt; sumRight: boolean; then: Attempt };
      });
      for (const [r, a] of all.entries()) {
        // Only the culprit may finish the damaged call (it received clean frames); then it must fail too.
        if (a.first.ok) {
          assert.equal(r, 1, `rank ${r} accepted damaged frames`);
          assert.ok(a.sumRight, 'a wrong sum');
          assert.equal(a.then.ok, false, 'the culprit never learned of the failure');
        }
        assert.ok(a.first.ms + a.then.ms < deadlineMs, `rank ${r} failed after ${a.first.ms + a.then.ms} ms`);
      }
      assert.ok(all.some((a) => expected.test(a.first.message ?? '')), all.map((a) => a.first.message).join('\n'));
    });
  }

  for (const kind of ['algorithm', 'length'] as const) {
    test(`${fabric}: ranks that disagree about the ${kind} of a call fail with MISMATCH`, async () => {
      const deadlineMs = 4_000;
      const outcomes = await runRanks({ fabric, worldSize: 4, module: SCENARIOS, scenario: 'mismatchedCall', args: { odd: 2, kind, deadlineMs } });
      const all = attempts(outcomes);
      for (const a of all) {
        assert.equal(a.ok, false);
        assert.ok(a.ms < deadlineMs, `failed after ${a.ms} ms`);
      }
      assert.ok(all.some((a) => a.code === 'MISMATCH'), all.map((a) => `${a.code} ${a.message}`).join('\n'));
    });
  }

  test(`${fabric}: a rank that never arrives: the others fail at their deadline, the late one at once`, async () => {
    const deadlineMs = 1_000;
    const outcomes = await runRanks({ fabric, worldSize: 4, module: SCENARIOS, scenario: 'lateRank', args: { sleeper: 3, sleepMs: 2_500, deadlineMs } });
    const all = attempts(outcomes);
    for (const [r, a] of all.entries()) {
      assert.equal(a.ok, false);
      if (r === 3) assert.ok(a.ms < 200, `the late rank took ${a.ms} ms to learn`);
      else assert.ok(a.ms >= deadlineMs * 0.9 && a.ms < deadlineMs + 1_000, `rank ${r} failed after ${a.ms} ms`);
      assert.match(a.message ?? '', /then: (DEADLINE|PEER_ABORTED|PEER_LOST)/);
    }
    assert.ok(all.some((a) => a.code === 'DEADLINE'));
  });
}
