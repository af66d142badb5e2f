// The benchmark driver end to end on 2 ranks: rows, units, JSON shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBenchTables, runAllReduceBench } from './bench.js';

test('bench: one row per algorithm and size, times and bandwidths consistent, every result checked', async () => {
  const result = await runAllReduceBench({
    ranks: 2, algorithms: ['star', 'auto'], minBytes: 1024, maxBytes: 4096, factor: 4, iters: 5, warmupMs: 0, budgetMs: 100,
  });
  assert.equal(result.ranks, 2);
  assert.deepEqual(result.rows.map((r) => [r.algo, r.bytes]), [['star', 1024], ['star', 4096], ['auto', 1024], ['auto', 4096]]);
  for (const r of result.rows) {
    assert.equal(r.ok, true);
    assert.equal(r.iters, 5);
    assert.equal(r.floats, r.bytes / 4);
    assert.ok(r.p50_us > 0 && r.p99_us >= r.p50_us);
    // p50_us is rounded to 0.1 us, algbw to 1e-4 GB/s: at a few microseconds (two ranks that spin on shared memory) the rounding of p50 shows
    const slack = r.bytes / ((r.p50_us - 0.05) * 1000) - r.bytes / (r.p50_us * 1000) + 1e-4;
    assert.ok(Math.abs(r.algbw_gbs - r.bytes / (r.p50_us * 1000)) <= slack, `algbw ${r.algbw_gbs} for ${r.bytes} B in ${r.p50_us} us`);
    assert.ok(Math.abs(r.busbw_gbs - r.algbw_gbs) < 1e-3, 'busbw = algbw x 2(N-1)/N = algbw at N = 2');
  }
  const table = formatBenchTables(result);
  assert.match(table, /algorithm star, 2 ranks/);
  assert.match(table, /algorithm auto, 2 ranks/);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(result))), ['ranks', 'rows']);
});

test('bench --compute-us: every iteration does that much CPU work before its all-reduce, timed with it', async () => {
  const result = await runAllReduceBench({ ranks: 2, algorithms: ['auto'], minBytes: 256, maxBytes: 256, iters: 20, warmupMs: 0, budgetMs: 100, computeUs: 2000 });
  const [row] = result.rows;
  assert.ok(row !== undefined && row.ok);
  assert.ok(row.p50_us >= 1500, `p50 ${row.p50_us} us includes 2000 us of work`);
  assert.ok(row.cpu_us >= 2 * 1500, `cpu ${row.cpu_us} us: both ranks did the work`);
});
