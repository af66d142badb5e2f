// Reduce-scatter, all-gather, broadcast, gather and barrier on real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { FABRICS } from './fabric.js';
import { blockLength, blockStart } from './partition.js';
import { referenceSum } from './reference-sum.js';
import { runRanks } from './harness.js';
import { inputFor } from './scenarios.js';

const SCENARIOS = fileURLToPath(new URL('./scenarios.js', import.meta.url));

function bits(a: Float32Array | null | undefined): Buffer {
  assert.ok(a instanceof Float32Array);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

for (const fabric of FABRICS) {
  for (const N of [3, 8]) {
    test(`${fabric}: world ${N}: reduce-scatter, all-gather, broadcast from every root, gather`, async () => {
      const seed = 31 + N;
      const lengths = [0, 1, N + 1, 1009];
      const outcomes = await runRanks({ fabric, worldSize: N, module: SCENARIOS, scenario: 'otherCollectives', args: { seed, lengths, chunkBytes: 1024 } });
      for (const o of outcomes) assert.ok(o.ok, `rank ${o.rank}: ${o.error?.message}`);
      const out = outcomes.map((o) => o.value as Record<string, Float32Array | null>);
      for (const L of lengths) {
        const inputs = Array.from({ length: N }, (_, r) => inputFor(seed, r, L, false));
        const gathered = new Float32Array(N * L);
        inputs.forEach((x, r) => gathered.set(x, r * L));
        for (let r = 0; r < N; r++) {
          const mine = out[r] as Record<string, Float32Array | null>;
          const s = blockStart(L, N, r);
          // the ring reduce-scatter sums in ring order, the direct one in rank order
          assert.ok(bits(mine[`rs-ring-${L}`]).equals(bits(referenceSum(inputs, 'ring').subarray(s, s + blockLength(L, N, r)))), `rs ring L=${L} rank ${r}`);
          assert.ok(bits(mine[`rs-direct-${L}`]).equals(bits(referenceSum(inputs, 'oneshot').subarray(s, s + blockLength(L, N, r)))), `rs direct L=${L} rank ${r}`);
          assert.ok(bits(mine[`ag-ring-${L}`]).equals(bits(gathered)), `ag ring L=${L} rank ${r}`);
          assert.ok(bits(mine[`ag-direct-${L}`]).equals(bits(gathered)), `ag direct L=${L} rank ${r}`);
          for (let root = 0; root < N; root++) assert.ok(bits(mine[`bc-${root}-${L}`]).equals(bits(inputs[root])), `broadcast root ${root} L=${L} rank ${r}`);
          if (r === N - 1) assert.ok(bits(mine[`ga-${L}`]).equals(bits(gathered)), `gather L=${L}`);
          else assert.equal(mine[`ga-${L}`], null);
        }
      }
    });
  }

  test(`${fabric}: barrier: nobody leaves before the last rank arrives`, async () => {
    const outcomes = await runRanks({ fabric, worldSize: 5, module: SCENARIOS, scenario: 'barrierWait', args: { late: 3, delayMs: 300 } });
    for (const o of outcomes) {
      assert.ok(o.ok, `rank ${o.rank}: ${o.error?.message}`);
      assert.ok((o.value as { leftAt: number }).leftAt >= 290, `rank ${o.rank} left the barrier after ${(o.value as { leftAt: number }).leftAt} ms`);
    }
  });

  test(`${fabric}: world size 1: every operation is a local copy, no peers needed`, async () => {
    const { Communicator } = await import('./communicator.js');
    const comm = await Communicator.create({ rank: 0, worldSize: 1, peers: ['127.0.0.1:0'], communicatorId: 'solo', fabric });
    assert.equal(comm.fabric, fabric);
    const x = new Float32Array([1.5, -2, 3]);
    assert.deepEqual(await comm.allReduce(x.slice()), x);
    assert.deepEqual(await comm.reduceScatter(x), x);
    assert.deepEqual(await comm.allGather(x), x);
    assert.deepEqual(await comm.broadcast(x.slice(), 0), x);
    assert.deepEqual(await comm.gather(x, 0), x);
    await comm.barrier();
    await comm.close();
    await assert.rejects(comm.allReduce(x), /closed/);
  });
}
