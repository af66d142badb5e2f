// The host model's arithmetic on hand-computed cases, the calibration file's checks, and the
// recorded calibration of one host beside the `bench decode` runs measured with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  HOST_CALIBRATION_KIND, coreShare, defaultCalibrationPath, isHostCalibration, measuredRuns, parseHostCalibration, predictHostStep,
  readHostCalibration, type HostCalibration,
} from './host.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/this-machine/', import.meta.url));

/** Two cores, a 5-layer model of width 64; one call costs 100 us alone (150 at tp 2). */
const CAL: HostCalibration = {
  kind: HOST_CALIBRATION_KIND,
  host: { cores: 2, cpu: 'test', node: 'v20', fabric: 'grpc', measured_at: '2026-12-02T00:00:00Z' },
  model: { path: 'm.bin', layers: 5, dim: 64, medusa_choices: 'chain-3', tree_nodes: 4 },
  round_trip_ms: { plain: 1.5, medusa: 3 },
  compute: [
    { tp: 1, rows: 1, call_us: 100, calls: 11 },
    { tp: 4, rows: 1, call_us: 150, calls: 11 },
    { tp: 4, rows: 4, call_us: 200, calls: 11 },
  ],
  segments: [
    { ranks: 4, bytes: 256, compute_us: 150, p50_us: 800, algorithm: 'star' },
    { ranks: 4, bytes: 1024, compute_us: 200, p50_us: 1000, algorithm: 'star' },
  ],
};

/** What the recorded calibration predicts, plain, by tp (tok/s). */
const RECORDED_PLAIN: Record<number, string> = { 1: '341.4', 2: '116.6', 4: '71.6', 8: '37.6' };

const near = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

test('host step at tp=1: the calls and the round trip, no all-reduce', () => {
  const p = predictHostStep(CAL, 1, 1);
  near(p.terms.compute_ms, 1.1, 'compute: 11 calls x 100 us');
  near(p.terms.allreduce_ms, 0, 'all-reduce');
  near(p.terms.roundtrip_ms, 1.5, 'round trip: 2 processes on 2 cores share nothing');
  near(p.step_ms, 2.6, 'step');
  near(p.tok_per_s, 1000 / 2.6, 'tok/s');
});

test('host step at tp=4 on 2 cores: each call takes twice its time; the segment benchmark less the call is the all-reduce', () => {
  assert.equal(coreShare(4, 2), 2);
  assert.equal(coreShare(1, 2), 1);
  const p = predictHostStep(CAL, 4, 1);
  near(p.terms.compute_ms, (11 * 150 * 2) / 1e3, 'compute: 11 calls x 150 us x 4 ranks / 2 cores');
  near(p.terms.allreduce_ms, (10 * (800 - 300)) / 1e3, 'all-reduce: 2 x 5 layers x (800 - 150 x 2) us');
  near(p.terms.roundtrip_ms, 1.5 * 2.5, 'round trip: 5 processes on 2 cores');
  near(p.step_ms, 3.3 + 5 + 3.75, 'step: the sum of the terms');
  const m = predictHostStep(CAL, 4, 4, 2.5);
  near(m.terms.allreduce_ms, (10 * (1000 - 400)) / 1e3, 'a Medusa step all-reduces 4 rows x 64 floats = 1024 bytes');
  near(m.terms.roundtrip_ms, 3 * 2.5, 'the Medusa round trip');
  near(m.tok_per_s, (2.5 * 1000) / m.step_ms, 'tokens per step over the step');
});

test('a degree or message the calibration lacks is an error that says how to measure it', () => {
  assert.throws(() => predictHostStep(CAL, 2, 1), /no compute probe at tp 2 with 1 rows: run `octoserve bench calibrate`/);
  const noMedusa = { ...CAL, round_trip_ms: { plain: 1.5 } };
  assert.throws(() => predictHostStep(noMedusa, 4, 4), /--medusa DIR/);
});

test('calibration files: the kind is checked, this-machine reads $OCTOSERVE_CALIBRATION, a missing one says to calibrate', () => {
  assert.throws(() => parseHostCalibration({ gpus: 8 }, 'box.json'), /box.json: not a host calibration/);
  assert.throws(() => parseHostCalibration({ kind: HOST_CALIBRATION_KIND }, 'c.json'), /needs host.cores/);
  assert.equal(defaultCalibrationPath({ OCTOSERVE_CALIBRATION: '/x/cal.json' }), '/x/cal.json');
  assert.equal(defaultCalibrationPath({ XDG_CACHE_HOME: '/c' }), '/c/octoserve/this-machine.json');
  const saved = process.env['OCTOSERVE_CALIBRATION'];
  process.env['OCTOSERVE_CALIBRATION'] = '/no/such/calibration.json';
  try {
    assert.throws(() => readHostCalibration('this-machine'), /no calibration at \/no\/such\/calibration.json; run `octoserve bench calibrate` first/);
  } finally {
    if (saved === undefined) delete process.env['OCTOSERVE_CALIBRATION'];
    else process.env['OCTOSERVE_CALIBRATION'] = saved;
  }
  assert.equal(isHostCalibration(`${FIXTURE}calibration.json`), true);
  assert.equal(isHostCalibration(`${FIXTURE}decode-tp1.json`), false);
  assert.equal(isHostCalibration('hgx-h200'), false);
});

test('recorded: one host\'s calibration predicts each degree; the bench runs measured with it read as the same terms', () => {
  const cal = readHostCalibration(`${FIXTURE}calibration.json`);
  assert.equal(cal.host.cores, 2);
  for (const tp of [1, 2, 4, 8]) {
    const measured = measuredRuns(JSON.parse(readFileSync(`${FIXTURE}decode-tp${tp}.json`, 'utf8')), `decode-tp${tp}.json`);
    assert.equal(measured.tp, tp);
    const plain = measured.runs[0]!;
    const p = predictHostStep(cal, tp, 1);
    near(p.step_ms, p.terms.compute_ms + p.terms.allreduce_ms + p.terms.roundtrip_ms, `tp=${tp}: the terms add up`);
    assert.ok(p.tok_per_s > 0 && plain.tok_per_s > 0);
    const raw = JSON.parse(readFileSync(`${FIXTURE}decode-tp${tp}.json`, 'utf8')) as { runs: { wallMs: number; steps: number }[] };
    near(plain.step_ms, raw.runs[0]!.wallMs / raw.runs[0]!.steps, `tp=${tp}: the measured step is the run's wall time per step`);
    // the prediction this calibration gives, as recorded in the closing table (tok/s, 0.1)
    assert.equal(p.tok_per_s.toFixed(1), RECORDED_PLAIN[tp], `tp=${tp}`);
  }
  const tp8 = measuredRuns(JSON.parse(readFileSync(`${FIXTURE}decode-tp8.json`, 'utf8')), 'decode-tp8.json');
  const medusa = tp8.runs.find((r) => r.label.startsWith('medusa'));
  assert.ok(medusa !== undefined && medusa.tokens_per_step > 1, 'the tp=8 run has its Medusa run');
  assert.equal(tp8.acceptedPerDepth?.length, 4);
  const m = predictHostStep(cal, 8, cal.model.tree_nodes!, medusa.tokens_per_step);
  assert.ok(m.step_ms > predictHostStep(cal, 8, 1).step_ms, 'a 64-node tree step is longer than a plain one');
  assert.equal(m.tok_per_s.toFixed(1), '81.0');
});
