// Partitions, chunking and the auto table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { algorithmFromEnv, parseAlgorithm, selectAllReduce } from './auto-select.js';
import type { AutoTable } from './auto-select.js';
import { AUTO_TABLES } from './auto-table.js';
import { deriveAutoRules, benchSizes } from './bench.js';
import { blockLength, blockStart, chunkCount } from './partition.js';

test('blocks cover every element once and differ by at most one', () => {
  for (const [L, N] of [[0, 3], [1, 8], [7, 8], [13, 4], [1009, 7]] as const) {
    let next = 0;
    const lens: number[] = [];
    for (let b = 0; b < N; b++) {
      assert.equal(blockStart(L, N, b), next);
      next += blockLength(L, N, b);
      lens.push(blockLength(L, N, b));
    }
    assert.equal(next, L);
    assert.ok(Math.max(...lens) - Math.min(...lens) <= 1);
  }
  assert.equal(chunkCount(0, 256), 1, 'an empty message is one empty frame');
  assert.equal(chunkCount(257, 256), 2);
});

test('auto picks by size and world size; unmeasured world sizes use the nearest row', () => {
  const table: AutoTable = {
    2: [{ maxBytes: 1000, algorithm: 'oneshot' }, { maxBytes: Infinity, algorithm: 'ring' }],
    8: [{ maxBytes: 4096, algorithm: 'star' }, { maxBytes: 1 << 20, algorithm: 'twoshot' }, { maxBytes: Infinity, algorithm: 'ring' }],
  };
  assert.equal(selectAllReduce(table, 8, 4096), 'star');
  assert.equal(selectAllReduce(table, 8, 4100), 'twoshot');
  assert.equal(selectAllReduce(table, 8, 64 << 20), 'ring');
  assert.equal(selectAllReduce(table, 3, 500), 'oneshot');
  assert.equal(selectAllReduce(table, 6, 500), 'star');
  for (const [fabric, table] of Object.entries(AUTO_TABLES)) {
    for (const w of Object.keys(table)) {
      const rules = table[Number(w)] ?? [];
      assert.equal(rules.at(-1)?.maxBytes, Infinity, `${fabric}, world ${w}: the last rule covers every size`);
    }
  }
});

test('OCTOSERVE_ALLREDUCE_ALGO forces an algorithm; a bad value is refused with the choices', () => {
  assert.equal(algorithmFromEnv({ OCTOSERVE_ALLREDUCE_ALGO: 'ring' }), 'ring');
  assert.equal(algorithmFromEnv({}), undefined);
  assert.throws(() => parseAlgorithm('fastest', 'OCTOSERVE_ALLREDUCE_ALGO'), /'fastest'; expected auto, ring, oneshot, twoshot, star/);
});

test('the rules a bench run derives: fastest p50 per size, merged into ranges', () => {
  const row = (algo: string, bytes: number, p50: number) => ({ algo, ran: algo, bytes, floats: bytes / 4, iters: 1, p50_us: p50, p99_us: p50, mean_us: p50, algbw_gbs: 0, busbw_gbs: 0, cpu_us: 0, ok: true });
  const rules = deriveAutoRules({ ranks: 8, rows: [
    row('star', 1024, 10), row('ring', 1024, 50), row('star', 4096, 12), row('ring', 4096, 60),
    row('star', 16384, 90), row('ring', 16384, 40), row('auto', 16384, 1),
  ] });
  assert.deepEqual(rules, [{ maxBytes: 16383, algorithm: 'star' }, { maxBytes: Infinity, algorithm: 'ring' }]);
  assert.deepEqual(benchSizes(1024, 65536, 4), [1024, 4096, 16384, 65536]);
});
