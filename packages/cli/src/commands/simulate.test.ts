// `octoserve simulate` as the built binary runs it: the JSON scripts rely on, and refusals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '@octoserve/testkit';

test('simulate --json: baseline and Medusa with their terms; the Medusa speedup is tokens per step over the step-time ratio', () => {
  const r = runCli(['simulate', '--hardware', 'hgx-h200', '--model', 'llama-3.1-70b', '--tp', '8', '--weights', 'fp8', '--medusa-choices', 'mc_sim_7b_63', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    baseline: { tok_per_s: number; step_ms: number; terms: Record<string, number> };
    medusa: { tok_per_s: number; tokens_per_step: number; speedup: number; step_ms: number; terms: Record<string, number> };
  };
  assert.ok(out.baseline.step_ms > 0 && out.medusa.step_ms > out.baseline.step_ms);
  assert.ok(Math.abs(out.baseline.tok_per_s - 1000 / out.baseline.step_ms) < 1e-6);
  assert.ok(Math.abs(out.medusa.speedup - out.medusa.tokens_per_step * out.baseline.step_ms / out.medusa.step_ms) < 1e-6);
  assert.ok(Math.abs(out.medusa.speedup - out.medusa.tok_per_s / out.baseline.tok_per_s) < 1e-6);
  const sum = Object.values(out.baseline.terms).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - out.baseline.step_ms) < 1e-6, `the terms add up to the step (${sum} vs ${out.baseline.step_ms})`);
});

test('simulate refuses what it cannot model with one line and exit 2', () => {
  for (const args of [['--hardware', 'this-machine', '--model', 'stories260K'], ['--hardware', 'hgx-h200', '--model', 'no-such-model'], ['--hardware', 'hgx-h200', '--model', 'llama-3.1-70b', '--tp', '0']]) {
    const r = runCli(['simulate', ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
});
