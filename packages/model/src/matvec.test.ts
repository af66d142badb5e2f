// matvec against a plain dot product, for every remainder of rows and columns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matvec } from './matvec.js';
import { Rng } from './random.js';

test('matvec equals row-by-row dot products, for odd and even sizes, at an offset', () => {
  const rng = new Rng(3);
  for (const [rows, cols] of [[1, 1], [3, 5], [4, 4], [5, 7], [9, 2], [8, 172]]) {
    const w = Float32Array.from({ length: rows! * cols! }, () => rng.nextFloat() - 0.5);
    const x = Float32Array.from({ length: cols! }, () => rng.nextFloat() - 0.5);
    const out = new Float32Array(rows! + 2).fill(7);
    matvec(out, w, x, rows!, cols!, 1);
    assert.equal(out[0], 7);
    assert.equal(out[rows! + 1], 7);
    for (let i = 0; i < rows!; i++) {
      let want = 0;
      for (let j = 0; j < cols!; j++) want += w[i * cols! + j]! * x[j]!;
      assert.ok(Math.abs(out[i + 1]! - want) < 1e-6, `[${rows}, ${cols}] row ${i}: ${out[i + 1]} vs ${want}`);
    }
  }
});
