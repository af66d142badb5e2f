// octoserve's own decode step on a CPU host, from microbenchmarks of that host (`octoserve bench
// calibrate` measures them; this file only does the arithmetic, so a recorded calibration always
// gives the same prediction).
//
// A step at tp N runs, on every rank, 2L segments (the attention block, the feed-forward block),
// each its onnxruntime call followed by an all-reduce of rows x dim floats, then the head call;
// the coordinator sends the step and merges the ranks' replies. On a host whose N ranks share C
// cores, a segment's time is what `bench allreduce --compute-us G` measures: every rank does G us
// of work, then all-reduces, and the cores' sharing, the wake-ups and the skew between ranks are in
// the number. The compute probe steps one rank's shard alone, after idle time as a worker's calls
// are: G(N), the wall time of one call, and its CPU time P(N) (the step's own work between calls
// included). T(N) is the segment microbenchmark's mean with P(N) of work (the mean, not the median:
// on a shared host a few segments in a hundred take 5-10x the median, and tokens/s pays for each):
//   compute     calls x G(N)                           one rank's own calls, as bench decode counts
//   all-reduce  2L x (T(N) - G(N))                     the rest of each segment: the all-reduce and
//                                                      the wait for the ranks that share the cores
//   round trip  R1 x max(1, (N + 1) / C)               R1: the round trip of a tp=1 cluster, shared
//                                                      by N ranks and the coordinator over C cores
// At tp=1 the prediction is that tp=1 cluster's own step: it is the calibration point.
// With Medusa the same with the tree's nodes as rows (its all-reduces are rows x dim floats), the
// round trip of a tp=1 Medusa cluster (the tree's verification on the coordinator included), and
// tokens per step from the acceptance the bench measured.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const HOST_CALIBRATION_KIND = 'octoserve-host-calibration';

/** Where `bench calibrate` writes and `--hardware this-machine` reads: $OCTOSERVE_CALIBRATION, else the user's cache. */
export function defaultCalibrationPath(env: NodeJS.ProcessEnv = process.env): string {
  const set = env['OCTOSERVE_CALIBRATION'];
  if (set !== undefined && set !== '') return set;
  const cache = env['XDG_CACHE_HOME'] !== undefined && env['XDG_CACHE_HOME'] !== '' ? env['XDG_CACHE_HOME'] : join(homedir(), '.cache');
  return join(cache, 'octoserve', 'this-machine.json');
}

/** Reads a host calibration: `this-machine` (defaultCalibrationPath) or a FILE.json `bench calibrate` wrote. */
export function readHostCalibration(nameOrFile: string): HostCalibration {
  const path = nameOrFile === 'this-machine' ? defaultCalibrationPath() : nameOrFile;
  if (!existsSync(path)) {
    throw new Error(nameOrFile === 'this-machine'
      ? `--hardware this-machine: no calibration at ${path}; run \`octoserve bench calibrate\` first (it measures this host in a few minutes)`
      : `${path}: no such file`);
  }
  return parseHostCalibration(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** Whether a --hardware value names a host calibration rather than a GPU box. */
export function isHostCalibration(nameOrFile: string): boolean {
  if (nameOrFile === 'this-machine') return true;
  if (!nameOrFile.endsWith('.json') || !existsSync(nameOrFile)) return false;
  try {
    return (JSON.parse(readFileSync(nameOrFile, 'utf8')) as { kind?: unknown }).kind === HOST_CALIBRATION_KIND;
  } catch {
    return false;
  }
}

/** One rank's shard, stepped alone (the compute probe). */
export interface ComputePoint {
  tp: number;
  rows: number;
  /** Mean onnxruntime time of one call, microseconds. */
  call_us: number;
  /** Mean CPU time per call, the step's own work between calls included (all threads), microseconds. */
  cpu_us: number;
  /** Calls per step (2 x layers + 1). */
  calls: number;
}

/** `bench allreduce --compute-us` at one world size, message and work. */
export interface SegmentPoint {
  ranks: number;
  bytes: number;
  compute_us: number;
  /** p50 of compute + all-reduce, the slowest rank per iteration. */
  p50_us: number;
  /** Their mean: a step's segments average this, the tail of slow ones included. */
  mean_us: number;
  /** The mean of each calibration round, when there were several (mean_us is their median). */
  mean_us_rounds?: number[];
  algorithm: string;
}

export interface HostCalibration {
  kind: typeof HOST_CALIBRATION_KIND;
  /** When and where it was measured. */
  host: { cores: number; cpu: string; node: string; fabric: string; measured_at: string };
  /** The model the probes ran. */
  model: { path: string; layers: number; dim: number; medusa_choices?: string; tree_nodes?: number };
  /**
   * A tp=1 cluster's step, ms per step as bench decode splits it (plain; with Medusa when measured):
   * the prediction at tp=1, and R1, the round trip the other degrees scale.
   */
  tp1: { plain: HostTerms; medusa?: HostTerms };
  compute: ComputePoint[];
  segments: SegmentPoint[];
}

export interface HostTerms {
  compute_ms: number;
  allreduce_ms: number;
  roundtrip_ms: number;
}

export interface HostPrediction {
  tp: number;
  rows: number;
  step_ms: number;
  tokens_per_step: number;
  tok_per_s: number;
  terms: HostTerms;
}

/** Rank processes per core: above 1, each rank's work takes that many times its length. */
export function coreShare(processes: number, cores: number): number {
  return Math.max(1, processes / cores);
}

function find<T>(xs: readonly T[], what: string, pred: (x: T) => boolean): T {
  const x = xs.find(pred);
  if (x === undefined) throw new Error(`the calibration has no ${what}: run \`octoserve bench calibrate\` with it`);
  return x;
}

/** The step at `tp` with `rows` tokens per step (1 plain, the tree's nodes with Medusa). */
export function predictHostStep(cal: HostCalibration, tp: number, rows: number, tokensPerStep = 1): HostPrediction {
  const one = rows === 1 ? cal.tp1.plain : cal.tp1.medusa;
  if (one === undefined) throw new Error('the calibration has no Medusa run: run `octoserve bench calibrate --medusa DIR`');
  if (tp === 1) return prediction(tp, rows, tokensPerStep, one);
  const c = find(cal.compute, `compute probe at tp ${tp} with ${rows} rows`, (p) => p.tp === tp && p.rows === rows);
  const compute = (c.calls * c.call_us) / 1e3;
  const bytes = rows * cal.model.dim * 4;
  const s = find(cal.segments, `segment benchmark at ${tp} ranks of ${bytes} bytes`, (p) => p.ranks === tp && p.bytes === bytes);
  const allreduce = (2 * cal.model.layers * Math.max(0, s.mean_us - c.call_us)) / 1e3;
  const roundtrip = one.roundtrip_ms * coreShare(tp + 1, cal.host.cores);
  return prediction(tp, rows, tokensPerStep, { compute_ms: compute, allreduce_ms: allreduce, roundtrip_ms: roundtrip });
}

function prediction(tp: number, rows: number, tokensPerStep: number, terms: HostTerms): HostPrediction {
  const step = terms.compute_ms + terms.allreduce_ms + terms.roundtrip_ms;
  return { tp, rows, step_ms: step, tokens_per_step: tokensPerStep, tok_per_s: (1e3 * tokensPerStep) / step, terms: { ...terms } };
}

/** Checks the shape of a calibration read from JSON. */
export function parseHostCalibration(json: unknown, source: string): HostCalibration {
  const o = json as Partial<HostCalibration> | null;
  if (typeof o !== 'object' || o === null || o.kind !== HOST_CALIBRATION_KIND) {
    throw new Error(`${source}: not a host calibration (expected "kind": "${HOST_CALIBRATION_KIND}"; \`octoserve bench calibrate\` writes one)`);
  }
  const ok = typeof o.host?.cores === 'number' && typeof o.model?.layers === 'number' && typeof o.model?.dim === 'number' &&
    typeof o.tp1?.plain?.roundtrip_ms === 'number' && Array.isArray(o.compute) && Array.isArray(o.segments) &&
    o.segments.every((s) => typeof s?.mean_us === 'number') && o.compute.every((c) => typeof c?.cpu_us === 'number');
  if (!ok) throw new Error(`${source}: a host calibration needs host.cores, model.layers, model.dim, tp1.plain, compute[] with cpu_us and segments[] with mean_us (rerun \`octoserve bench calibrate\`)`);
  return o as HostCalibration;
}

/** What a `bench decode --json` run measured, in the terms of HostTerms (means over the ranks). */
export interface MeasuredRun {
  label: string;
  tok_per_s: number;
  step_ms: number;
  tokens_per_step: number;
  terms: HostTerms;
}

interface BenchRunJson {
  label: string; tokPerS: number; wallMs: number; steps: number; tokensPerStep: number;
  perRank: { compute: number; allReduce: number; workerOther: number; roundTrip: number }[];
}

/** The runs of a `bench decode --json` file. */
export function measuredRuns(json: unknown, source: string): { tp: number; runs: MeasuredRun[]; acceptedPerDepth?: number[] } {
  const o = json as { tp?: number; runs?: (BenchRunJson & { acceptedPerDepth?: number[] })[] } | null;
  if (typeof o?.tp !== 'number' || !Array.isArray(o.runs)) throw new Error(`${source}: not a \`bench decode --json\` file (needs tp and runs)`);
  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const runs = o.runs.map((r): MeasuredRun => ({
    label: r.label, tok_per_s: r.tokPerS, step_ms: r.wallMs / r.steps, tokens_per_step: r.tokensPerStep,
    terms: {
      compute_ms: mean(r.perRank.map((p) => p.compute)),
      allreduce_ms: mean(r.perRank.map((p) => p.allReduce)),
      // the worker's own bookkeeping and the coordinator's side: what is not onnxruntime or all-reduce
      roundtrip_ms: mean(r.perRank.map((p) => p.roundTrip + p.workerOther)),
    },
  }));
  const medusa = o.runs.find((r) => r.acceptedPerDepth !== undefined);
  return { tp: o.tp, runs, ...(medusa?.acceptedPerDepth === undefined ? {} : { acceptedPerDepth: medusa.acceptedPerDepth }) };
}
