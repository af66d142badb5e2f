// `octoserve simulate` as the built binary runs it: the JSON scripts rely on, and refusals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
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
  for (const args of [['--hardware', 'hgx-h200', '--model', 'no-such-model'], ['--hardware', 'hgx-h200', '--model', 'llama-3.1-70b', '--tp', '0']]) {
    const r = runCli(['simulate', ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
});

const FIXTURE = fileURLToPath(new URL('../../../simulate/fixtures/this-machine/', import.meta.url));

test('simulate --hardware this-machine: without a calibration, one line that says to run bench calibrate', () => {
  const r = runCli(['simulate', '--hardware', 'this-machine'], { OCTOSERVE_CALIBRATION: '/no/such/dir/this-machine.json' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /no calibration at \/no\/such\/dir\/this-machine.json; run `octoserve bench calibrate` first/);
});

test('simulate --hardware this-machine --measured: prediction beside measurement per term, plain at every degree and Medusa at tp=8', () => {
  const measured = [1, 2, 4, 8].flatMap((tp) => [1, 2, 3].map((r) => `${FIXTURE}decode-tp${tp}-round${r}.json`)).join(',');
  const r = runCli(['simulate', '--hardware', 'this-machine', '--measured', measured], { OCTOSERVE_CALIBRATION: `${FIXTURE}calibration.json` });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /tok\/s pred \/ meas .*compute ms pred \/ meas .*all-reduce ms pred \/ meas .*round trip ms pred \/ meas/);
  for (const tp of [1, 2, 4, 8]) assert.match(r.stdout, new RegExp(`tp=${tp} plain \\(median of 3\\) +[0-9.]+ / [0-9.]+ +-?[0-9]+%`), `tp=${tp}`);
  assert.match(r.stdout, /tp=8 medusa \(mc_sim_7b_63\) \(median of 3\) +[0-9.]+ \/ [0-9.]+ +-?[0-9]+%/);
  const other = runCli(['simulate', '--hardware', `${FIXTURE}calibration.json`, '--model', 'llama-3.1-70b']);
  assert.equal(other.status, 2, other.stderr);
  assert.match(other.stderr, /--model llama-3.1-70b: this calibration measured .*stories260K.bin; run `octoserve bench calibrate --model llama-3.1-70b`/);
  const j = runCli(['simulate', '--hardware', `${FIXTURE}calibration.json`, '--model', 'stories260K', '--tp', '8', '--measured', measured, '--json']);
  assert.equal(j.status, 0, j.stderr);
  const out = JSON.parse(j.stdout) as { runs: { tp: number; run: string; predicted: { tok_per_s: number }; measured: { tok_per_s: number }; error: number }[] };
  assert.deepEqual(out.runs.map((x) => [x.tp, x.run]), [[8, 'plain'], [8, 'medusa (mc_sim_7b_63)']]);
  for (const x of out.runs) assert.ok(Math.abs(x.error - (x.predicted.tok_per_s / x.measured.tok_per_s - 1)) < 1e-9);
});
