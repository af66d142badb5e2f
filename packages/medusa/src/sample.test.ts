import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sampleFromLogits, writeSoftmaxStats } from './sample.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('sampleFromLogits: inverse CDF of p = [0.5, 0.25, 0.125, 0.125]', () => {
  const logits = [0.5, 0.25, 0.125, 0.125].map((p) => Math.log(p) + 3); // a shift changes nothing
  const at = (u: number) => sampleFromLogits(logits, 1, u);
  assert.deepEqual([0, 0.3, 0.49, 0.5, 0.74, 0.76, 0.87, 0.88, 0.999].map(at), [0, 0, 0, 1, 1, 2, 2, 3, 3]);
});

test('sampleFromLogits: temperature 0.5 squares and renormalizes p', () => {
  // p^2 = [0.25, 0.0625, 0.015625, 0.015625] / 0.34375 = [0.727.., 0.1818.., 0.0454.., 0.0454..]
  const logits = [0.5, 0.25, 0.125, 0.125].map(Math.log);
  const at = (u: number) => sampleFromLogits(logits, 0.5, u);
  assert.deepEqual([0.72, 0.73, 0.9, 0.91, 0.96].map(at), [0, 1, 1, 2, 3]);
  assert.throws(() => sampleFromLogits(logits, 0, 0.5), /temperature > 0/);
});

test('writeSoftmaxStats: log-sum-exp and entropy by hand', () => {
  const lse = new Float64Array(2);
  const h = new Float64Array(2);
  // p = [0.5, 0.25, 0.125, 0.125]: lse 0, H = (0.5 + 0.5 + 0.75) ln 2 = 1.75 ln 2
  writeSoftmaxStats([0.5, 0.25, 0.125, 0.125].map(Math.log), 1, 1, lse, h);
  close(lse[1]!, 0);
  close(h[1]!, 1.75 * Math.LN2);
  // uniform over 4 at T = 2: logits [2, 2, 2, 2] -> z / T = 1, lse = 1 + ln 4, H = ln 4
  writeSoftmaxStats([2, 2, 2, 2], 2, 0, lse, h);
  close(lse[0]!, 1 + Math.log(4));
  close(h[0]!, Math.log(4));
});
