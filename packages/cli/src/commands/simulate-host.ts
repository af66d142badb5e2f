// `octoserve simulate --hardware this-machine`: octoserve's own decoding on this host, predicted
// from `bench calibrate`'s microbenchmarks (@octoserve/simulate host.ts), beside what `bench
// decode --json` measured when given.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import {
  measuredRuns, predictHostStep, readHostCalibration, tokensPerStep,
  type HostCalibration, type HostPrediction, type HostTerms, type MeasuredRun,
} from '@octoserve/simulate';
import { UsageError } from '../errors.js';
import { fixed, formatTable } from './table.js';

export interface HostFlags {
  hardware: string;
  /** The model asked for: it must be the one the calibration measured. */
  model?: string;
  tp?: number;
  acceptance?: number[];
  measured?: string[];
  json?: boolean;
}

interface Row {
  run: string;
  tp: number;
  predicted: HostPrediction;
  /** The median of `of` measured runs. */
  measured?: MeasuredRun & { of: number };
}

const TERMS: (keyof HostTerms)[] = ['compute_ms', 'allreduce_ms', 'roundtrip_ms'];

/**
 * The measured bench runs by tp and kind (plain / medusa): of several runs of one, the one with the
 * median tok/s (bench decode on a shared host varies by a quarter from run to run); and the
 * tokens per step a Medusa run emitted.
 */
function readMeasured(files: readonly string[]): { runs: Map<string, MeasuredRun & { of: number }>; tokensPerStep?: number } {
  const all = new Map<string, MeasuredRun[]>();
  let perStep: number | undefined;
  for (const file of files) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new UsageError(`--measured ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const m = measuredRuns(json, file);
    for (const r of m.runs) {
      const medusa = r.label.startsWith('medusa');
      const key = `${m.tp} ${medusa ? 'medusa' : 'plain'}`;
      all.set(key, [...(all.get(key) ?? []), r]);
      if (medusa) perStep ??= r.tokens_per_step;
    }
  }
  const runs = new Map<string, MeasuredRun & { of: number }>();
  for (const [key, list] of all) {
    const sorted = [...list].sort((a, b) => a.tok_per_s - b.tok_per_s);
    runs.set(key, { ...sorted[Math.floor((sorted.length - 1) / 2)]!, of: list.length });
  }
  return { runs, ...(perStep === undefined ? {} : { tokensPerStep: perStep }) };
}

export function hostRows(cal: HostCalibration, flags: HostFlags): Row[] {
  const measured = readMeasured(flags.measured ?? []);
  const degrees = flags.tp !== undefined ? [flags.tp] : [...new Set(cal.compute.map((c) => c.tp))].sort((a, b) => a - b);
  // tokens per Medusa step: from --acceptance, else what a measured Medusa run emitted per step
  const perStep = flags.acceptance !== undefined ? tokensPerStep(flags.acceptance, flags.acceptance.length) : measured.tokensPerStep;
  const tree = cal.model.tree_nodes;
  const rows: Row[] = [];
  for (const tp of degrees) {
    rows.push({ run: 'plain', tp, predicted: predictHostStep(cal, tp, 1), ...withMeasured(measured.runs.get(`${tp} plain`)) });
    if (tree === undefined || perStep === undefined) continue;
    if (!cal.compute.some((c) => c.tp === tp && c.rows === tree)) continue;
    rows.push({ run: `medusa (${cal.model.medusa_choices ?? ''})`, tp, predicted: predictHostStep(cal, tp, tree, perStep), ...withMeasured(measured.runs.get(`${tp} medusa`)) });
  }
  return rows;
}

function withMeasured(m: (MeasuredRun & { of: number }) | undefined): { measured?: MeasuredRun & { of: number } } {
  return m === undefined ? {} : { measured: m };
}

export function hostReport(cal: HostCalibration, rows: readonly Row[]): string {
  const head = `${cal.host.cpu}, ${cal.host.cores} cores, ${cal.host.fabric} fabric, calibrated ${cal.host.measured_at} on ${cal.model.path}\n`;
  const cells = rows.map((r) => {
    const p = r.predicted;
    const m = r.measured;
    const pair = (pv: number, mv: number | undefined, d = 2): string => (mv === undefined ? fixed(pv, d) : `${fixed(pv, d)} / ${fixed(mv, d)}`);
    return [
      `tp=${r.tp} ${r.run}${m !== undefined && m.of > 1 ? ` (median of ${m.of})` : ''}`, pair(p.tok_per_s, m?.tok_per_s, 1), m === undefined ? '-' : `${fixed((100 * p.tok_per_s) / m.tok_per_s - 100, 0)}%`,
      pair(p.step_ms, m?.step_ms), ...TERMS.map((t) => pair(p.terms[t], m?.terms[t])), fixed(p.tokens_per_step, 2),
    ];
  });
  const anyMeasured = rows.some((r) => r.measured !== undefined);
  const title = (s: string): string => (anyMeasured ? `${s} pred / meas` : s);
  return head + formatTable(
    ['run', title('tok/s'), 'error', title('step ms'), title('compute ms'), title('all-reduce ms'), title('round trip ms'), 'tokens/step'],
    cells,
  );
}

/** `asked` names the calibrated model: its path, or its file name with or without the extension. */
function sameModel(asked: string, calibrated: string): boolean {
  if (resolve(asked) === resolve(calibrated)) return true;
  const name = basename(calibrated).toLowerCase();
  const a = asked.toLowerCase();
  return name === a || name.replace(/\.[^.]+$/, '') === a;
}

export function runHostSimulation(flags: HostFlags): string {
  let cal: HostCalibration;
  try {
    cal = readHostCalibration(flags.hardware);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (flags.model !== undefined && !sameModel(flags.model, cal.model.path)) {
    throw new UsageError(`--model ${flags.model}: this calibration measured ${cal.model.path}; run \`octoserve bench calibrate --model ${flags.model}\` for another model`);
  }
  const rows = hostRows(cal, flags);
  if (flags.json === true) {
    return JSON.stringify({ hardware: flags.hardware, host: cal.host, model: cal.model, runs: rows.map((r) => ({ ...r, error: r.measured === undefined ? null : r.predicted.tok_per_s / r.measured.tok_per_s - 1 })) }) + '\n';
  }
  return hostReport(cal, rows);
}
