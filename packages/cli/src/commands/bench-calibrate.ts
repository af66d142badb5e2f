// `octoserve bench calibrate`: the microbenchmarks `octoserve simulate --hardware this-machine`
// predicts this host's decoding from (the arithmetic is @octoserve/simulate's host.ts): a tp=1
// cluster's round trip, each tensor-parallel degree's shard compute alone on a core, and the
// all-reduce segment benchmark at that compute on as many ranks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { resolveFabric, runAllReduceBench, type Fabric } from '@octoserve/collectives';
import { Cluster, benchDecode, medusaDecode, newClusterToken, plainDecode, planShards } from '@octoserve/coordinator';
import { DEFAULT_CHOICES_NAME, buildTree, resolveChoices, treeLimits } from '@octoserve/medusa';
import { openModel } from '@octoserve/model';
import { HOST_CALIBRATION_KIND, defaultCalibrationPath, type ComputePoint, type HostCalibration, type HostTerms, type SegmentPoint } from '@octoserve/simulate';
import { probeShardCompute } from '@octoserve/worker';
import { UsageError } from '../errors.js';
import { median } from './bench-allreduce.js';
import { PROMPTS } from './bench-decode.js';
import { fabricFlag } from './fabric-flag.js';
import { action, flag, listFlag, newCommand, numberFlag } from './flags.js';
import { fixed, formatTable } from './table.js';
import { WORKER_COMMAND } from './worker-command.js';

const DESCRIPTION = `Measures what \`octoserve simulate --hardware this-machine\` predicts this host's \`bench decode\`
from, and writes it as JSON (default ${defaultCalibrationPath()}, or $OCTOSERVE_CALIBRATION):
  tp=1 step    a tp=1 cluster decodes 3 prompts x 128 tokens as bench decode does (and with
               --medusa, again with the heads): its step split as bench decode splits it, the
               coordinator's round trip (the Medusa verification included) among the terms
  compute      per --tp degree, rank 0's shard of the model built as a worker builds it and
               stepped alone in this process, with idle time before each step and in each
               all-reduce as a worker has: the wall and CPU time of one onnxruntime call
  segments     per --tp degree above 1, \`bench allreduce --compute-us\` with that call's CPU on
               as many ranks: one segment (a call, then an all-reduce of rows x dim floats) with
               the ranks sharing this host's cores
Each measurement runs --rounds times, interleaved, and the medians are kept: about a minute per
degree and round.`;

interface CalibrateFlags {
  model?: string;
  tokenizer?: string;
  tp?: string[];
  medusa?: string;
  medusaChoices?: string;
  fabric?: Fabric;
  rounds?: number;
  out?: string;
}

function degrees(list: readonly string[] | undefined): number[] {
  const tps = (list ?? ['1', '2', '4', '8']).map(Number);
  for (const tp of tps) if (!Number.isInteger(tp) || tp < 1 || tp > 8) throw new UsageError(`--tp takes degrees 1-8 (a comma-separated list), got '${tps.join(',')}'`);
  return [...new Set([1, ...tps])].sort((a, b) => a - b);
}

export function benchCalibrateCommand(): Command {
  const cmd = newCommand('calibrate', {
    usage: '[--model PATH] [--medusa DIR] [--tp LIST] [--out FILE]',
    summary: 'measure this host for `simulate --hardware this-machine`',
    description: DESCRIPTION,
    epilog: 'Example: octoserve bench calibrate --medusa heads/ && octoserve simulate --hardware this-machine --tp 8 --measured decode.json',
  })
    .addOption(flag('--model PATH', 'as for generate (default: $OCTOSERVE_MODEL, else stories260K)'))
    .addOption(flag('--tokenizer FILE', 'as for generate'))
    .addOption(listFlag('--tp LIST', 'tensor-parallel degrees to measure (default 1,2,4,8)'))
    .addOption(flag('--medusa DIR', 'also measure Medusa steps with the heads in DIR'))
    .addOption(flag('--medusa-choices C', `the candidate tree with --medusa (default ${DEFAULT_CHOICES_NAME})`))
    .addOption(fabricFlag())
    .addOption(numberFlag('--rounds R', 'passes of every measurement, interleaved; the calibration keeps the medians (default 3)', { min: 1, max: 20, integer: true }))
    .addOption(flag('--out FILE', `where the calibration goes (default ${defaultCalibrationPath()})`));
  return action<CalibrateFlags>(cmd, async (flags) => {
    const tps = degrees(flags.tp);
    const rounds = flags.rounds ?? 3;
    const model = await openModel({ model: flags.model, tokenizer: flags.tokenizer });
    const config = model.checkpoint.config;
    const modelPath = model.checkpoint.path;
    const prompts = PROMPTS.slice(0, 3).map((p) => model.tokenizer.encode(p, { bos: true }));
    model.checkpoint.close();
    const budget = Math.min(128, config.maxSeqLen - Math.max(...prompts.map((p) => p.length)));
    const choices = flags.medusaChoices ?? DEFAULT_CHOICES_NAME;
    const tree = flags.medusa === undefined ? undefined : buildTree(resolveChoices(choices));
    const fabric = resolveFabric(flags.fabric);
    const log = (line: string): void => void process.stderr.write(`${line}\n`);

    const cluster = { modelPath, tp: 1, workerCommand: WORKER_COMMAND, clusterToken: newClusterToken(), fabric };
    const tp1Step = async (medusa: boolean): Promise<HostTerms> => {
      log(`round trip: a tp=1 cluster decodes ${prompts.length} prompts x ${budget} tokens${medusa ? ' with Medusa' : ''}...`);
      const c = await Cluster.start(medusa && tree !== undefined ? { ...cluster, medusa: { path: flags.medusa!, topK: treeLimits(tree).topK } } : cluster);
      try {
        const run = await benchDecode(c, 'calibrate', prompts, medusa && tree !== undefined ? medusaDecode(c, budget, tree) : plainDecode(c, budget));
        const r = run.perRank[0]!;
        return { compute_ms: r.compute, allreduce_ms: r.allReduce, roundtrip_ms: r.roundTrip + r.workerOther };
      } finally {
        await c.close();
      }
    };
    const rowCounts = tree === undefined ? [1] : [1, tree.nodeCount];
    // every measurement --rounds times, the rounds interleaved, and the median kept: on a shared
    // host one pass of any of them can be 30% off the next
    const tp1: { plain: HostTerms[]; medusa: HostTerms[] } = { plain: [], medusa: [] };
    const probes = new Map<string, { call: number[]; cpu: number[]; calls: number }>();
    const segs = new Map<string, { p50: number[]; mean: number[]; cpu: number; algorithm: string }>();
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}`);
      tp1.plain.push(await tp1Step(false));
      if (tree !== undefined) tp1.medusa.push(await tp1Step(true));
      for (const tp of tps) {
        const shard = planShards(config, tp).ranks[0]!;
        for (const rows of rowCounts) {
          log(`compute: rank 0 of tp=${tp}, ${rows} row${rows === 1 ? '' : 's'} per step...`);
          const p = await probeShardCompute({ checkpointPath: modelPath, shard, rows, context: 100, steps: 200 });
          const key = `${tp} ${rows}`;
          const probe = probes.get(key) ?? { call: [], cpu: [], calls: p.calls };
          probe.call.push(p.stepUs / p.calls);
          probe.cpu.push(p.cpuUs / p.calls);
          probes.set(key, probe);
          if (tp === 1) continue;
          // the work of a segment: this degree's CPU per call, the same in every round
          const cpuUs = segs.get(key)?.cpu ?? p.cpuUs / p.calls;
          const bytes = rows * config.dim * 4;
          log(`segments: ${tp} ranks, ${fixed(cpuUs, 1)} us of CPU work, then an all-reduce of ${bytes} bytes...`);
          const result = await runAllReduceBench({ ranks: tp, algorithms: ['auto'], minBytes: bytes, maxBytes: bytes, computeUs: cpuUs, fabric });
          const row = result.rows[0]!;
          if (!row.ok) throw new Error(`the segment benchmark at ${tp} ranks summed wrong: the all-reduce is broken here, not only slow`);
          const seg = segs.get(key) ?? { p50: [], mean: [], cpu: cpuUs, algorithm: row.ran };
          seg.p50.push(row.p50_us);
          seg.mean.push(row.mean_us);
          segs.set(key, seg);
        }
      }
    }
    const compute: ComputePoint[] = [...probes].map(([key, p]) => {
      const [tp, rows] = key.split(' ').map(Number) as [number, number];
      return { tp, rows, call_us: round(median(p.call)), cpu_us: round(median(p.cpu)), calls: p.calls };
    });
    const segments: SegmentPoint[] = [...segs].map(([key, g]) => {
      const [tp, rows] = key.split(' ').map(Number) as [number, number];
      return { ranks: tp, bytes: rows * config.dim * 4, compute_us: round(g.cpu), p50_us: round(median(g.p50)), mean_us: round(median(g.mean)), algorithm: g.algorithm, mean_us_rounds: g.mean };
    });
    const plainTp1 = medianTerms(tp1.plain);
    const medusaTp1 = tree === undefined ? undefined : medianTerms(tp1.medusa);
    const calibration: HostCalibration = {
      kind: HOST_CALIBRATION_KIND,
      host: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, fabric, measured_at: new Date().toISOString() },
      model: { path: modelPath, layers: config.nLayers, dim: config.dim, ...(tree === undefined ? {} : { medusa_choices: choices, tree_nodes: tree.nodeCount }) },
      tp1: { plain: plainTp1, ...(medusaTp1 === undefined ? {} : { medusa: medusaTp1 }) },
      compute, segments,
    };
    const out = flags.out ?? defaultCalibrationPath();
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(calibration, null, 1) + '\n');
    const rows = compute.map((c) => {
      const s = segments.find((x) => x.ranks === c.tp && x.bytes === c.rows * config.dim * 4);
      return [String(c.tp), String(c.rows), fixed(c.call_us, 1), fixed(c.cpu_us, 1), s === undefined ? '-' : `${fixed(s.p50_us, 1)} / ${fixed(s.mean_us, 1)} (${s.algorithm})`];
    });
    const terms = (t: HostTerms): string => `compute ${fixed(t.compute_ms, 3)}, all-reduce ${fixed(t.allreduce_ms, 3)}, round trip ${fixed(t.roundtrip_ms, 3)} ms`;
    process.stdout.write(`a tp=1 step: ${terms(plainTp1)}${medusaTp1 === undefined ? '' : `; with Medusa ${terms(medusaTp1)}`}\n`);
    process.stdout.write(formatTable(['tp', 'rows', 'call us (alone)', 'cpu us', 'segment p50 / mean us'], rows));
    process.stdout.write(`wrote ${out}\n`);
    return 0;
  });
}

/** Each term's median over the rounds. */
function medianTerms(xs: readonly HostTerms[]): HostTerms {
  return {
    compute_ms: round(median(xs.map((x) => x.compute_ms))), allreduce_ms: round(median(xs.map((x) => x.allreduce_ms))),
    roundtrip_ms: round(median(xs.map((x) => x.roundtrip_ms))),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
