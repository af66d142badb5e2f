// All-reduce on real processes and sockets: every algorithm, world sizes 2–8,
// awkward lengths, exact against a reference that sums in the algorithm's
// documented order, bit-identical on every rank and from run to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { algorithmsOn, selectAllReduce } from './auto-select.js';
import { FABRICS } from './fabric.js';
import type { Fabric } from './fabric.js';
import { AUTO_TABLES } from './auto-table.js';
import type { AllReduceAlgorithm, AllReduceAlgorithmName } from './auto-select.js';
import { referenceSum } from './reference-sum.js';
import { runRanks, type RankOutcome } from './harness.js';
import { inputFor, type AllReduceCase } from './scenarios.js';

const SCENARIOS = fileURLToPath(new URL('./scenarios.js', import.meta.url));

function bits(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function results(outcomes: RankOutcome[]): Float32Array[][] {
  for (const o of outcomes) assert.ok(o.ok, `rank ${o.rank}: ${o.error?.message}`);
  return outcomes.map((o) => o.value as Float32Array[]);
}

function lengthsFor(N: number): number[] {
  return [0, 1, 2, N - 1, N + 1, 7, 13, 97, 257, 1009, 4099];
}

/** Every rank's two runs of each case (scenario allReduceCases) equal, bit for bit, the reference sum in the algorithm's order. */
function assertReferenceSums(out: Float32Array[][], cases: readonly AllReduceCase[], fabric: Fabric, N: number, seed: number, what: string): void {
  cases.forEach((c, k) => {
    const inputs = Array.from({ length: N }, (_, r) => inputFor(seed, r, c.length, c.integers));
    const ran = c.algorithm === 'auto' ? selectAllReduce(AUTO_TABLES[fabric], N, c.length * 4) : c.algorithm;
    const want = bits(referenceSum(inputs, ran));
    for (let r = 0; r < N; r++) {
      for (let rep = 0; rep < 2; rep++) {
        const got = (out[r] as Float32Array[])[2 * k + rep] as Float32Array;
        assert.equal(got.length, c.length);
        assert.ok(bits(got).equals(want), `${what}${c.algorithm} (${ran}) length ${c.length} ${c.integers ? 'integers' : 'random'} rank ${r} run ${rep}: differs from the reference`);
      }
    }
  });
}

for (const fabric of FABRICS) {
  // every algorithm this fabric runs (shm only on the shm fabric), and auto
  const ALGORITHMS: AllReduceAlgorithm[] = [...algorithmsOn(fabric), 'auto'];
  for (const N of [2, 3, 4, 5, 6, 7, 8]) {
    test(`${fabric}: world ${N}: every algorithm, lengths 0, 1, primes and non-multiples of ${N}, exact and bit-identical`, async () => {
      const cases: AllReduceCase[] = [];
      for (const algorithm of ALGORITHMS) {
        for (const length of lengthsFor(N)) {
          cases.push({ algorithm, length, integers: true, inPlace: length % 2 === 0 });
          cases.push({ algorithm, length, integers: false, inPlace: length % 2 === 1 });
        }
      }
      const seed = 100 + N;
      // 1 KiB chunks: messages of a few thousand floats already travel as several frames
      const out = results(await runRanks({ fabric, worldSize: N, module: SCENARIOS, scenario: 'allReduceCases', args: { cases, seed, chunkBytes: 1024 } }));
      assertReferenceSums(out, cases, fabric, N, seed, '');
    });
  }

  test(`${fabric}: ranks that spin while they wait (and ranks that never do) get the same exact sums`, async () => {
    const N = 3;
    const cases: AllReduceCase[] = ALGORITHMS.flatMap((algorithm) => [97, 2047, 4099].map((length) => ({ algorithm, length, integers: false, inPlace: false })));
    const seed = 7;
    for (const spin of ['0', '2000']) {
      const out = results(await runRanks({ fabric, worldSize: N, module: SCENARIOS, scenario: 'allReduceCases', args: { cases, seed, chunkBytes: 1024 }, env: { OCTOSERVE_SPIN_US: spin } }));
      assertReferenceSums(out, cases, fabric, N, seed, `spin ${spin} us: `);
    }
  });

  if (fabric === 'socket') {
    test('socket over TCP between ranks on one host (OCTOSERVE_SOCKET_LOCAL=tcp, as between hosts): world 8, every algorithm, exact', async () => {
      const N = 8;
      const cases: AllReduceCase[] = ALGORITHMS.flatMap((algorithm) => [1, 257, 4099, 150_001].map((length) => ({ algorithm, length, integers: false, inPlace: length % 2 === 0 })));
      const seed = 13;
      const out = results(await runRanks({ fabric, worldSize: N, module: SCENARIOS, scenario: 'allReduceCases', args: { cases, seed, chunkBytes: 64 * 1024 }, env: { OCTOSERVE_SOCKET_LOCAL: 'tcp' } }));
      assertReferenceSums(out, cases, fabric, N, seed, 'over TCP: ');
    });
  }

  test(`${fabric}: large frames (whose buffers are reused once written): every algorithm, back to back, exact`, async () => {
    const N = 4;
    const cases: AllReduceCase[] = ALGORITHMS.flatMap((algorithm) => [16_387, 150_001].flatMap((length) => [
      { algorithm, length, integers: true, inPlace: false }, { algorithm, length, integers: false, inPlace: true },
    ]));
    const seed = 11;
    // 256 KiB chunks: every frame of the longer cases is a pooled one
    const out = results(await runRanks({ fabric, worldSize: N, module: SCENARIOS, scenario: 'allReduceCases', args: { cases, seed, chunkBytes: 256 * 1024 } }));
    assertReferenceSums(out, cases, fabric, N, seed, 'large frames: ');
  });

  test(`${fabric}: bf16 and f16 on the wire: integer sums stay exact; random sums are bit-identical on every rank`, async () => {
    const N = 4;
    const cases: AllReduceCase[] = [];
    for (const wire of ['bf16', 'f16'] as const) {
      for (const algorithm of algorithmsOn(fabric)) {
        for (const length of [1, 13, 1009]) {
          cases.push({ algorithm, length, integers: true, inPlace: false, wire });
          cases.push({ algorithm, length, integers: false, inPlace: true, wire });
        }
      }
    }
    const seed = 7;
    const out = results(await runRanks({ fabric, worldSize: N, module: SCENARIOS, scenario: 'allReduceCases', args: { cases, seed, chunkBytes: 1024 } }));
    cases.forEach((c, k) => {
      const inputs = Array.from({ length: N }, (_, r) => inputFor(seed, r, c.length, c.integers));
      const r0 = (out[0] as Float32Array[])[2 * k] as Float32Array;
      if (c.integers) assert.ok(bits(r0).equals(bits(referenceSum(inputs, c.algorithm as AllReduceAlgorithmName))), `${c.wire} ${c.algorithm} ${c.length}: integers not exact`);
      for (let r = 0; r < N; r++) {
        for (let rep = 0; rep < 2; rep++) {
          assert.ok(bits((out[r] as Float32Array[])[2 * k + rep] as Float32Array).equals(bits(r0)), `${c.wire} ${c.algorithm} ${c.length}: rank ${r} run ${rep} differs`);
        }
      }
    });
  });

  test(`${fabric}: a 64 MiB all-reduce works (ring, chunked and pipelined)`, async () => {
    const length = 16 << 20;
    const outcomes = await runRanks({ fabric, worldSize: 3, module: SCENARIOS, scenario: 'bigAllReduce', args: { length, algorithm: 'ring' } });
    const sumAt = (i: number): number => [0, 1, 2].reduce((s, r) => s + ((i + r) % 5) - 2, 0);
    for (const o of outcomes) {
      assert.ok(o.ok, `rank ${o.rank}: ${o.error?.message}`);
      assert.deepEqual(o.value, { ok: true, first: sumAt(0), last: sumAt(length - 1) });
    }
  });
}
