// `bench decode --trace`: a Chrome trace of a tp=8 run on real worker processes, checked against
// the bench's own numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DecodeBenchRun, TraceDocument, TraceEvent } from '@octoserve/coordinator';
import { EMBEDDED_STORIES260K_DIR, stories260KIn } from '@octoserve/model';
import { runCli, trainTestHeads } from './helpers.js';

const TP = 8;
/** Slack for the ns rounding of ts and dur (µs). */
const EPS = 0.01;
const end = (e: TraceEvent): number => e.ts + (e.dur ?? 0);
const sum = (events: readonly TraceEvent[]): number => events.reduce((a, e) => a + (e.dur ?? 0), 0) / 1000;

/** The coordinator's spans of process `pid` follow one another; returns them. */
function coordinatorTrack(trace: TraceDocument, pid: number): TraceEvent[] {
  const track = trace.traceEvents.filter((e) => e.ph === 'X' && e.pid === pid && e.tid === 0).sort((a, b) => a.ts - b.ts);
  for (let i = 1; i < track.length; i++) assert.ok(track[i]!.ts >= end(track[i - 1]!) - EPS, 'the coordinator\'s spans follow one another');
  return track;
}

/**
 * Each rank's thread of process `pid`: one step event per step of `run`, idle between them, every
 * segment run and all-reduce wait inside its step, and totals matching the bench's within 1%.
 */
function checkRanks(trace: TraceDocument, pid: number, run: DecodeBenchRun, tp: number): void {
  const spans = trace.traceEvents.filter((e) => e.ph === 'X' && e.pid === pid);
  for (const e of spans) assert.ok(Number.isFinite(e.ts) && (e.dur ?? -1) >= 0, JSON.stringify(e));
  const layers = run.allReducesPerStep / 2;
  for (let rank = 0; rank < tp; rank++) {
    const track = spans.filter((e) => e.tid === rank + 1).sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
    const steps = track.filter((e) => e.cat === 'step');
    assert.equal(steps.length, run.steps, `rank ${rank}: one step event per step`);
    // steps and the idle time between them tile the track without overlapping
    const outer = track.filter((e) => e.cat === 'step' || e.cat === 'idle');
    for (let i = 1; i < outer.length; i++) assert.ok(outer[i]!.ts >= end(outer[i - 1]!) - EPS, `rank ${rank}: ${outer[i]!.name} overlaps ${outer[i - 1]!.name}`);
    assert.equal(track.filter((e) => e.cat === 'idle').length, run.steps - 1);
    // every segment run and all-reduce wait lies inside one step, and they follow one another
    let s = -1;
    let last = -Infinity;
    const inStep = new Map<number, TraceEvent[]>();
    for (const e of track) {
      if (e.cat === 'step') { s++; last = e.ts; inStep.set(s, []); continue; }
      if (e.cat === 'idle') continue;
      const step = steps[s];
      assert.ok(step !== undefined && e.ts >= step.ts - EPS && end(e) <= end(step) + EPS, `rank ${rank}: ${e.name} at ${e.ts} outside its step`);
      assert.ok(e.ts >= last - EPS, `rank ${rank}: ${e.name} overlaps the span before it`);
      last = end(e);
      inStep.get(s)!.push(e);
    }
    for (const events of inStep.values()) {
      assert.equal(events.filter((e) => e.cat === 'allreduce').length, 2 * layers);
      assert.equal(events.filter((e) => e.cat === 'compute').length, 2 * layers + 1, 'attention and ffn per layer, then the head');
      assert.equal(events.at(-1)?.name, 'head');
    }
    // the trace's totals are the bench's, within 1%
    const compute = sum(track.filter((e) => e.cat === 'compute'));
    const allReduce = sum(track.filter((e) => e.cat === 'allreduce'));
    const want = run.perRankTotal[rank]!;
    const close = (got: number, expected: number, what: string): void =>
      assert.ok(Math.abs(got - expected) <= 0.01 * expected, `rank ${rank} ${what}: trace ${got.toFixed(3)} ms, bench ${expected.toFixed(3)} ms`);
    close(compute, want.compute, 'compute');
    close(allReduce, want.allReduce, 'all-reduce');
    close(compute / steps.length, run.perRank[rank]!.compute, 'compute per step');
    close(allReduce / steps.length, run.perRank[rank]!.allReduce, 'all-reduce per step');
  }
}

test('bench decode --trace at tp=8 writes a trace whose ranks nest and add up to the bench JSON', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-trace-'));
  const [tracePath, jsonPath] = [join(dir, 'trace.json'), join(dir, 'bench.json')];
  const r = await runCli(['bench', 'decode', '--tp', String(TP), '--max-tokens', '12', '--prompts', '2', '--json', jsonPath, '--trace', tracePath], undefined, 240_000);
  assert.equal(r.code, 0, r.stderr);
  const trace = JSON.parse(readFileSync(tracePath, 'utf8')) as TraceDocument;
  const run = (JSON.parse(readFileSync(jsonPath, 'utf8')) as { runs: DecodeBenchRun[] }).runs[0] as DecodeBenchRun;
  assert.ok(Array.isArray(trace.traceEvents));
  // the fixed cost is the step's time outside onnxruntime, by part, as the ranks' means add up
  const mean = (part: (t: DecodeBenchRun['perRank'][number]) => number): number => run.perRank.reduce((a, t) => a + part(t), 0) / TP;
  const fixed = run.fixedMsPerStep;
  for (const [got, want, what] of [[fixed.allReduce, mean((t) => t.allReduce), 'all-reduce'], [fixed.worker, mean((t) => t.workerOther), 'worker'],
    [fixed.coordinator, mean((t) => t.roundTrip), 'coordinator'], [fixed.onnxruntime, mean((t) => t.compute), 'onnxruntime'],
    [fixed.total, fixed.allReduce + fixed.worker + fixed.coordinator, 'total']] as const) {
    assert.ok(Math.abs(got - want) <= 1e-9 + 1e-9 * want && got > 0, `fixed cost ${what}: ${got} ms, the ranks' mean ${want} ms`);
  }
  assert.match(r.stdout, new RegExp(`fixed cost per step \\(outside onnxruntime, mean over ranks\\): ${fixed.total.toFixed(3)} ms = all-reduce ${fixed.allReduce.toFixed(3)} \\+ `));

  // one process for the run; a coordinator thread and a thread per rank, named
  const meta = trace.traceEvents.filter((e) => e.ph === 'M');
  assert.deepEqual(meta.filter((e) => e.name === 'process_name').map((e) => e.args?.name), [run.label]);
  assert.deepEqual(meta.filter((e) => e.name === 'thread_name').map((e) => [e.tid, e.args?.name]),
    [[0, 'coordinator'], ...Array.from({ length: TP }, (_, rank) => [rank + 1, `rank ${rank}`])]);

  const coordinator = coordinatorTrack(trace, 1);
  assert.equal(coordinator.filter((e) => e.name === 'step').length, run.steps);
  assert.equal(coordinator.filter((e) => e.name === 'merge').length, run.tokens);
  assert.ok(trace.traceEvents.every((e) => e.pid === 1));
  checkRanks(trace, 1, run, TP);
});

test('launch --trace DIR writes the served steps at stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-launch-trace-'));
  let stopped = false;
  const r = await runCli(['launch', '--tp', '2', '--port', '0', '--http-port', '0', '--demo', 'Once upon a time', '--demo-tokens', '6', '--trace', dir], (stderr, pid) => {
    if (!stopped && /still serving/.test(stderr)) { stopped = true; process.kill(pid, 'SIGINT'); }
  }, 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /trace: .*trace-000001\.json/);
  const trace = JSON.parse(readFileSync(join(dir, 'trace-000001.json'), 'utf8')) as TraceDocument;
  const steps = trace.otherData.steps as number;
  assert.ok(steps >= 6, `${steps} steps traced`);
  for (const tid of [1, 2]) {
    const track = trace.traceEvents.filter((e) => e.ph === 'X' && e.tid === tid);
    assert.equal(track.filter((e) => e.cat === 'step').length, steps);
    assert.ok(track.some((e) => e.cat === 'compute') && track.some((e) => e.cat === 'allreduce'));
  }
});

test('bench decode --medusa --trace adds the Medusa run: its verifications on the coordinator, its ranks as for the baseline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'octoserve-trace-medusa-'));
  const stories = stories260KIn(EMBEDDED_STORIES260K_DIR);
  assert.ok(stories !== null, 'the embedded stories260K');
  const heads = trainTestHeads(stories.modelPath, 6_000);
  const [tracePath, jsonPath] = [join(dir, 'trace.json'), join(dir, 'bench.json')];
  const r = await runCli(['bench', 'decode', '--tp', '2', '--max-tokens', '16', '--prompts', '1', '--medusa', heads, '--medusa-choices', 'stories260k-small',
    '--json', jsonPath, '--trace', tracePath], undefined, 240_000);
  assert.equal(r.code, 0, r.stderr);
  const trace = JSON.parse(readFileSync(tracePath, 'utf8')) as TraceDocument;
  const [baseline, medusa] = (JSON.parse(readFileSync(jsonPath, 'utf8')) as { runs: DecodeBenchRun[] }).runs as [DecodeBenchRun, DecodeBenchRun];
  assert.deepEqual(trace.traceEvents.filter((e) => e.name === 'process_name').map((e) => [e.pid, e.args?.name]), [[1, baseline.label], [2, medusa.label]]);
  const coordinator = coordinatorTrack(trace, 2);
  assert.equal(coordinator.filter((e) => e.name === 'step').length, medusa.steps);
  assert.equal(coordinator.filter((e) => e.name === 'merge').length, medusa.steps);
  const verify = coordinator.filter((e) => e.name === 'verify');
  assert.ok(verify.length >= 1 && verify.length <= medusa.steps - 1, `${verify.length} verifications in ${medusa.steps} steps`);
  assert.ok(verify.every((e) => typeof e.args?.accepted === 'number'));
  checkRanks(trace, 1, baseline, 2);
  checkRanks(trace, 2, medusa, 2);
});
