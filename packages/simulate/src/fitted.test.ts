// The fitted overheads: refitting on gpt-fast's published points gives the frozen constants, and
// the frozen constants reproduce those points.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FITTED_OVERHEADS, GPT_FAST_POINTS, calibrationStep, fitOverheads } from './fitted.js';

test('refitting on gpt-fast gives the frozen constants', () => {
  const fit = fitOverheads(GPT_FAST_POINTS);
  const near = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 2e-3 * b, `${what}: refit ${a}, frozen ${b}`);
  near(fit.hbmEfficiency, FITTED_OVERHEADS.hbmEfficiency, 'HBM efficiency');
  near(fit.layerOverheadS, FITTED_OVERHEADS.layerOverheadS, 'per-layer cost');
  near(fit.allReduce.roundLatencyS, FITTED_OVERHEADS.allReduce.roundLatencyS, 'all-reduce round');
  assert.equal(fit.stepOverheadS, 0);
});

test('the frozen constants reproduce each gpt-fast point within 6%', () => {
  for (const p of GPT_FAST_POINTS) {
    const tps = 1e3 / calibrationStep(p, FITTED_OVERHEADS).step_ms;
    assert.ok(Math.abs(tps / p.tokPerS - 1) < 0.06, `${p.model.name} tp ${p.tp}: ${tps.toFixed(2)} tok/s against ${p.tokPerS}`);
  }
});
