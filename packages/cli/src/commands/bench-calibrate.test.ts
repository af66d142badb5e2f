// `octoserve bench calibrate` end to end on the embedded model at tp 1 and 2: a real tp=1 cluster,
// the compute probe and the segment benchmark on two rank processes; then `simulate` reads it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseHostCalibration } from '@octoserve/simulate';
import { runCli } from '@octoserve/testkit';

test('bench calibrate --tp 2 writes a calibration that simulate --hardware FILE predicts from', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'octoserve-calibrate-')), 'host.json');
  const r = runCli(['bench', 'calibrate', '--tp', '2', '--rounds', '1', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /a tp=1 cluster decodes 3 prompts/);
  assert.match(r.stdout, new RegExp(`wrote ${out}`));
  const cal = parseHostCalibration(JSON.parse(readFileSync(out, 'utf8')), out);
  assert.deepEqual(cal.compute.map((c) => [c.tp, c.rows]), [[1, 1], [2, 1]]);
  assert.deepEqual(cal.segments.map((s) => [s.ranks, s.bytes]), [[2, cal.model.dim * 4]]);
  assert.ok(cal.tp1.plain.roundtrip_ms > 0 && cal.tp1.plain.compute_ms > 0 && cal.compute.every((c) => c.call_us > 0 && c.calls === 2 * cal.model.layers + 1));
  assert.ok(cal.segments[0]!.p50_us >= cal.segments[0]!.compute_us, 'a segment is at least its compute');
  const s = runCli(['simulate', '--hardware', out]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /tp=1 plain +[0-9.]+/);
  assert.match(s.stdout, /tp=2 plain +[0-9.]+/);
});
