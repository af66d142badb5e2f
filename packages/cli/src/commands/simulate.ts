// `octoserve simulate`: a performance model of one decode step on N GPUs, with and without
// Medusa (@octoserve/simulate): per term, the step's time, tokens/s per user and what bounds it.
import {
  FITTED_OVERHEADS, HARDWARE_PRESETS, isHostCalibration, KV_PRECISIONS, MODEL_PRESETS, WEIGHT_PRECISIONS, resolveHardware, resolveModel, simulate,
  type KvPrecision, type Simulation, type StepTerms, type WeightPrecision,
} from '@octoserve/simulate';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { runHostSimulation } from './simulate-host.js';
import { action, choiceFlag, flag, listFlag, newCommand, numberFlag } from './flags.js';
import { fixed, formatFields, formatTable } from './table.js';

const DESCRIPTION = `Models one decode step of a Llama-architecture model on --tp GPUs of one box, with
Megatron tensor parallelism (two all-reduces per layer), plain and with a Medusa tree. Per rank and
step: the weights read at --weights precision, the KV cache read, each matmul as a roofline (the
longer of its bytes over HBM bandwidth and its FLOPs over dense tensor-core FLOPS), the 2 x layers
all-reduces (one-shot, two-shot or ring, picked by size), a fixed cost per layer and per step, and
with Medusa the tree's extra tokens through every layer and the heads. Tokens per Medusa step come
from the per-depth acceptance: 1 + a1 + a2 + ... over the tree's depths.

Hardware numbers are datasheet figures; the costs no datasheet gives (the share of HBM bandwidth
reached, the per-layer cost, the all-reduce startup) were fitted once on gpt-fast's published
8 x A100 results and are frozen: ${fixed(FITTED_OVERHEADS.hbmEfficiency * 100, 1)}% of HBM bandwidth, ` +
`${fixed(FITTED_OVERHEADS.layerOverheadS * 1e6, 2)} us per layer, ${fixed(FITTED_OVERHEADS.allReduce.roundLatencyS * 1e6, 2)} us per all-reduce round.

--hardware this-machine (or a FILE.json that \`octoserve bench calibrate\` wrote) predicts octoserve's
own \`bench decode\` on this host instead, at every calibrated tp, plain and with Medusa: per step
the rank's onnxruntime calls, the all-reduces with the wait for the ranks sharing its cores, and the
coordinator round trip, from the calibration's microbenchmarks; --measured puts bench decode --json
runs beside it (of several runs of one tp, the median).`;

const EPILOG = `examples:
  octoserve simulate --hardware hgx-h200 --model llama-3.1-70b --tp 8 --weights fp8 --medusa-choices mc_sim_7b_63
  octoserve simulate --hardware dgx-a100 --model ./config.json --tp 4 --weights bf16 --kv bf16 --json
  octoserve bench calibrate --medusa heads/ && octoserve simulate --hardware this-machine --measured tp8.json`;

interface SimulateFlags {
  hardware?: string;
  model?: string;
  tp?: number;
  weights?: WeightPrecision;
  kv?: KvPrecision;
  batch?: number;
  context?: number;
  medusaChoices?: string;
  acceptance?: string[];
  measured?: string[];
  json?: boolean;
}

const TERM_NAMES: Record<keyof StepTerms, string> = {
  weights_ms: 'weights (HBM)', compute_ms: 'compute (FLOPS)', kv_ms: 'KV cache / attention', allreduce_ms: 'all-reduce',
  overhead_ms: 'per-layer/step overhead', medusa_heads_ms: 'Medusa heads',
};

/** A package error about what the user named becomes a usage error (exit 2). */
function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

function parseAcceptance(values: readonly string[]): number[] {
  return values.map((v) => {
    const p = Number(v);
    if (v.trim() === '' || !Number.isFinite(p) || p < 0 || p > 1) throw new UsageError(`--acceptance values must be probabilities in [0, 1], got '${v}'`);
    return p;
  });
}

function report(r: Simulation): string {
  const b = r.baseline;
  const m = r.medusa;
  const head = formatFields([
    ['hardware', `${r.hardware}, tp ${r.tp}`],
    ['model', `${r.model}, weights ${r.weights}, KV ${r.kv}, batch ${r.batch}, context ${r.context}`],
    ['per rank', `${fixed(r.memory.weights_gb, 2)} GB weights + ${fixed(r.memory.kv_cache_gb, 3)} GB KV of ${fixed(r.memory.gpu_gb, 0)} GB${r.memory.fits ? '' : '  (does not fit)'}`],
    ['medusa', `${m.choices}: ${m.tree_nodes} nodes, depth ${m.tree_depth}; acceptance ${m.acceptance.join(', ')} (${m.acceptance_source})`],
  ]);
  const names = Object.keys(TERM_NAMES) as (keyof StepTerms)[];
  const rows = names.map((k) => [TERM_NAMES[k], fixed(b.terms[k], 3), fixed(m.terms[k], 3)]);
  rows.push(['step (ms)', fixed(b.step_ms, 3), fixed(m.step_ms, 3)]);
  rows.push(['all-reduce', `${b.allreduce.algorithm} ${b.allreduce.message_bytes} B x ${b.allreduce.count}, ${fixed(b.allreduce.each_us, 2)} us`,
    `${m.allreduce.algorithm} ${m.allreduce.message_bytes} B x ${m.allreduce.count}, ${fixed(m.allreduce.each_us, 2)} us`]);
  rows.push(['bound by', TERM_NAMES[b.bound], TERM_NAMES[m.bound]]);
  rows.push(['tokens per step', '1', fixed(m.tokens_per_step, 3)]);
  rows.push(['tok/s/user', fixed(b.tok_per_s, 1), fixed(m.tok_per_s, 1)]);
  rows.push(['speedup', '1.00', fixed(m.speedup, 2)]);
  return `${head}\n${formatTable(['term (ms per step)', 'plain', 'medusa'], rows)}`;
}

export function simulateCommand(): Command {
  const cmd = newCommand('simulate', {
    usage: '--hardware HW --model MODEL [--tp N] [options]',
    summary: 'model one decode step on N GPUs: step time, tok/s/user with and without Medusa, the bound',
    description: DESCRIPTION,
    epilog: EPILOG,
  })
    .addOption(flag('--hardware HW', `${Object.keys(HARDWARE_PRESETS).join(', ')}, or a FILE.json with the fields of a preset ` +
      '(gpus, memoryBytes, hbmBytesPerS, denseFlops {fp8, bf16, tf32}, linkBytesPerS); or this-machine (or a FILE.json ' +
      '`bench calibrate` wrote): octoserve\'s own decoding on this host, predicted from its microbenchmarks, for the model it calibrated'))
    .addOption(flag('--model MODEL', `${Object.keys(MODEL_PRESETS).join(', ')}, or the path of an HF config.json`))
    .addOption(numberFlag('--tp N', 'tensor-parallel ranks (default: every GPU of the box)', { min: 1, integer: true }))
    .addOption(choiceFlag('--weights P', 'weight precision (default fp8; int4 is weight-only and computes in bf16, as does fp8 on GPUs without FP8 tensor cores)', WEIGHT_PRECISIONS))
    .addOption(choiceFlag('--kv P', 'KV cache precision (default fp8)', KV_PRECISIONS))
    .addOption(numberFlag('--batch B', 'sequences per step (default 1)', { min: 1, integer: true }))
    .addOption(numberFlag('--context T', 'tokens already in each sequence\'s KV cache (default 1024)', { min: 0, integer: true }))
    .addOption(flag('--medusa-choices NAME', 'the Medusa tree: a preset (mc_sim_7b_63, stories260k, stories260k-small, chain-K) or a JSON list of paths (default mc_sim_7b_63)'))
    .addOption(listFlag('--acceptance LIST', 'a1,a2,...: per-depth probability that the accepted path reaches depth d (default: the model preset\'s, from a published source)'))
    .addOption(listFlag('--measured LIST', 'with this-machine: `bench decode --json` files to print beside the prediction, per term ' +
      '(their Medusa acceptance is the prediction\'s when --acceptance is not given)'))
    .addOption(flag('--json', 'print one JSON object: {"baseline": {"tok_per_s", "step_ms", "terms", ...}, "medusa": {"tok_per_s", "tokens_per_step", "speedup", "terms", ...}, ...}'));
  return action<SimulateFlags>(cmd, async (flags) => {
    if (flags.hardware === undefined) throw new UsageError(`--hardware is required (${Object.keys(HARDWARE_PRESETS).join(', ')}, this-machine or a FILE.json)`);
    if (isHostCalibration(flags.hardware)) {
      const acceptance = flags.acceptance === undefined ? undefined : parseAcceptance(flags.acceptance);
      process.stdout.write(runHostSimulation({ hardware: flags.hardware, model: flags.model, tp: flags.tp, measured: flags.measured, json: flags.json, ...(acceptance === undefined ? {} : { acceptance }) }));
      return 0;
    }
    if (flags.measured !== undefined) throw new UsageError('--measured goes with --hardware this-machine (or a calibration FILE.json)');
    if (flags.model === undefined) throw new UsageError(`--model is required (${Object.keys(MODEL_PRESETS).join(', ')} or a config.json path)`);
    const hardware = asUsage(() => resolveHardware(flags.hardware!));
    const model = asUsage(() => resolveModel(flags.model!));
    const acceptance = flags.acceptance === undefined ? undefined : parseAcceptance(flags.acceptance);
    const result = asUsage(() => simulate({
      hardware, model, tp: flags.tp ?? hardware.gpus, weights: flags.weights, kv: flags.kv, batch: flags.batch, context: flags.context,
      medusaChoices: flags.medusaChoices, acceptance,
    }));
    process.stdout.write(flags.json === true ? JSON.stringify(result) + '\n' : report(result));
    return 0;
  });
}
