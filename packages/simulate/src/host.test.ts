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
  tp1: { plain: { compute_ms: 1.1, allreduce_ms: 0.1, roundtrip_ms: 1.5 }, medusa: { compute_ms: 4, allreduce_ms: 0.2, roundtrip_ms: 3 } },
  compute: [
    { tp: 1, rows: 1, call_us: 100, cpu_us: 120, calls: 11 },
    { tp: 4, rows: 1, call_us: 150, cpu_us: 180, calls: 11 },
    { tp: 4, rows: 4, call_us: 200, cpu_us: 240, calls: 11 },
  ],
  segments: [
    { ranks: 4, bytes: 256, compute_us: 180, p50_us: 700, mean_us: 800, algorithm: 'star' },
    { ranks: 4, bytes: 1024, compute_us: 240, p50_us: 900, mean_us: 1000, algorithm: 'star' },
  ],
};

/** What the recorded calibration predicts, plain, by tp (tok/s). */
const RECORDED_PLAIN: Record<number, string> = { 1: '295.1', 2: '89.5', 4: '47.7', 8: '23.5' };

const near = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

test('host step at tp=1: the calibration\'s own tp=1 cluster step', () => {
  const p = predictHostStep(CAL, 1, 1);
  assert.deepEqual(p.terms, CAL.tp1.plain);
  near(p.step_ms, 2.7, 'step');
  near(p.tok_per_s, 1000 / 2.7, 'tok/s');
  near(predictHostStep(CAL, 1, 4, 2).tok_per_s, 2000 / 7.2, 'with Medusa: tokens per step over its step');
});

test('host step at tp=4 on 2 cores: the segment benchmark less the rank\'s own call is the all-reduce and the wait for the others', () => {
  assert.equal(coreShare(4, 2), 2);
  assert.equal(coreShare(1, 2), 1);
  const p = predictHostStep(CAL, 4, 1);
  near(p.terms.compute_ms, (11 * 150) / 1e3, 'compute: 11 calls x 150 us');
  near(p.terms.allreduce_ms, (10 * (800 - 150)) / 1e3, 'all-reduce: 2 x 5 layers x (mean 800 - 150) us');
  near(p.terms.roundtrip_ms, 1.5 * 2.5, 'round trip: the tp=1 one, 5 processes on 2 cores');
  near(p.step_ms, 1.65 + 6.5 + 3.75, 'step: the sum of the terms');
  const m = predictHostStep(CAL, 4, 4, 2.5);
  near(m.terms.allreduce_ms, (10 * (1000 - 200)) / 1e3, 'a Medusa step all-reduces 4 rows x 64 floats = 1024 bytes');
  near(m.terms.roundtrip_ms, 3 * 2.5, 'the Medusa round trip');
  near(m.tok_per_s, (2.5 * 1000) / m.step_ms, 'tokens per step over the step');
});

test('a degree or message the calibration lacks is an error that says how to measure it', () => {
  assert.throws(() => predictHostStep(CAL, 2, 1), /no compute probe at tp 2 with 1 rows: run `octoserve bench calibrate`/);
  const noMedusa = { ...CAL, tp1: { plain: CAL.tp1.plain } };
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
  assert.equal(isHostCalibration(`${FIXTURE}decode-tp1-round1.json`), false);
  assert.equal(isHostCalibration('hgx-h200'), false);
});

/** The recorded `bench decode --json` runs at `tp`, three rounds interleaved with the other degrees. */
function recordedRuns(tp: number): ReturnType<typeof measuredRuns>[] {
  return [1, 2, 3].map((r) => {
    const file = `decode-tp${tp}-round${r}.json`;
    return measuredRuns(JSON.parse(readFileSync(`${FIXTURE}${file}`, 'utf8')), file);
  });
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;

test('recorded: one host\'s calibration against the median of three bench decode runs, within 25% at tp 1, 2, 4, 8 and with Medusa at 8', () => {
  const cal = readHostCalibration(`${FIXTURE}calibration.json`);
  assert.equal(cal.host.cores, 2);
  for (const tp of [1, 2, 4, 8]) {
    const runs = recordedRuns(tp);
    assert.ok(runs.every((m) => m.tp === tp));
    const measured = median(runs.map((m) => m.runs[0]!.tok_per_s));
    const p = predictHostStep(cal, tp, 1);
    near(p.step_ms, p.terms.compute_ms + p.terms.allreduce_ms + p.terms.roundtrip_ms, `tp=${tp}: the terms add up`);
    assert.equal(p.tok_per_s.toFixed(1), RECORDED_PLAIN[tp], `tp=${tp}: the prediction as recorded`);
    const error = p.tok_per_s / measured - 1;
    assert.ok(Math.abs(error) <= 0.25, `tp=${tp}: predicted ${p.tok_per_s.toFixed(1)} tok/s against ${measured.toFixed(1)} measured (${(100 * error).toFixed(0)}%)`);
  }
  const medusaRuns = recordedRuns(8).map((m) => m.runs.find((r) => r.label.startsWith('medusa')));
  assert.ok(medusaRuns.every((r) => r !== undefined && r.tokens_per_step > 1), 'each tp=8 run has its Medusa run');
  const perStep = medusaRuns[0]!.tokens_per_step;
  const m = predictHostStep(cal, 8, cal.model.tree_nodes!, perStep);
  assert.ok(m.step_ms > predictHostStep(cal, 8, 1).step_ms, 'a 64-node tree step is longer than a plain one');
  assert.equal(m.tok_per_s.toFixed(1), '50.9');
  const measured = median(medusaRuns.map((r) => r!.tok_per_s));
  assert.ok(Math.abs(m.tok_per_s / measured - 1) <= 0.25, `Medusa at tp=8: predicted ${m.tok_per_s.toFixed(1)} against ${measured.toFixed(1)}`);
});
