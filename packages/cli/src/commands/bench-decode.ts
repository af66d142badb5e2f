// `octoserve bench decode`: greedy decoding on a local cluster, with where each step's time goes.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ChromeTrace, Cluster, ClusterTracer, DEFAULT_GREEDY_RUN, benchDecode, newClusterToken, medusaDecode, plainDecode, tokenAgreement } from '@octoserve/coordinator';
import { DEFAULT_CHOICES_NAME, buildTree, resolveChoices, treeLimits } from '@octoserve/medusa';
import type { DecodeBenchRun } from '@octoserve/coordinator';
import { openModel, WEIGHT_FORMATS } from '@octoserve/model';
import type { WeightFormat } from '@octoserve/model';
import type { Fabric, SpinSetting } from '@octoserve/collectives';
import { MAX_GREEDY_TOKENS } from '@octoserve/wire';
import { UsageError } from '../errors.js';
import { fabricListFlag, spinListFlag } from './fabric-flag.js';
import { action, flag, listFlag, newCommand, numberFlag } from './flags.js';
import { WORKER_COMMAND } from './worker-command.js';

const DESCRIPTION = `Starts N local worker processes, decodes a few prompts greedily (each for --max-tokens tokens,
ignoring stop tokens so every run has the same length), and prints tok/s, step time p50/p99, and
per rank where a decode step's time goes: onnxruntime compute, waiting in all-reduce, the rest
of the worker's step, and the coordinator round trip (gRPC, scheduling, merging). The fixed cost
per step is what the last three add up to: a step's time outside onnxruntime, which a smaller
model or a faster matmul does not take away. The ranks choose up to --greedy-run tokens per step
request themselves (one round trip per run); each step of a run counts with the run's mean time,
in the step percentiles too.`;

interface DecodeFlags {
  model?: string;
  tokenizer?: string;
  tp?: number;
  maxTokens?: number;
  prompts?: number;
  algo?: string;
  medusa?: string;
  medusaChoices?: string;
  weights?: string[];
  fabric?: Fabric[];
  spinUs?: SpinSetting[];
  greedyRun?: string[];
  json?: string;
  trace?: string;
}

/** --weights f32,q8,...: the formats to run, in order, once each. */
function weightFormats(list: readonly string[] | undefined): WeightFormat[] {
  const formats = [...new Set(list ?? ['f32'])];
  for (const f of formats) {
    if (!(WEIGHT_FORMATS as readonly string[]).includes(f)) throw new UsageError(`--weights takes ${WEIGHT_FORMATS.join(', ')} (a comma-separated list), got '${f}'`);
  }
  return formats as WeightFormat[];
}

/** --greedy-run 1,16: the tokens per greedy run on the ranks to run side by side (1: the coordinator chooses each). */
function greedyRuns(list: readonly string[] | undefined): (number | undefined)[] {
  if (list === undefined) return [undefined];
  return [...new Set(list)].map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > MAX_GREEDY_TOKENS) throw new UsageError(`--greedy-run takes whole numbers 1..${MAX_GREEDY_TOKENS} (a comma-separated list), got '${v}'`);
    return n;
  });
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

/** A run of the side-by-side table, with its tokens' agreement with the f32 run when there is one. */
type SideRun = DecodeBenchRun & { agreementWithF32?: number };

/** One line per run: tok/s, step p50, agreement with f32, the workers' resident memory beside their weights. */
function summary(runs: readonly SideRun[]): string {
  const agree = (r: SideRun): string => (r.agreementWithF32 === undefined ? '-' : `${(100 * r.agreementWithF32).toFixed(1)}%`);
  return [
    `  ${'run'.padEnd(44)} ${'tok/s'.padStart(9)} ${'step_p50_ms'.padStart(12)} ${'same_as_f32'.padStart(12)}   worker RSS / weights MiB (per rank)`,
    ...runs.map((r) => `  ${r.label.padEnd(44)} ${r.tokPerS.toFixed(1).padStart(9)} ${r.stepMsP50.toFixed(3).padStart(12)} ${agree(r).padStart(12)}   ` +
      r.rssBytes.map((b, i) => `${mib(b)}/${mib(r.weightBytes[i] ?? 0)}`).join(' ')),
  ].join('\n');
}

export const PROMPTS = ['Once upon a time', 'The little dog', 'One day, a girl named Lily', 'Tom and his mom went to the park', 'There was a big tree'];

/** The step's fixed cost: its time outside onnxruntime, by part, beside onnxruntime's (means over the ranks). */
function fixedCostLine(run: DecodeBenchRun): string {
  const x = run.fixedMsPerStep;
  return `  fixed cost per step (outside onnxruntime, mean over ranks): ${x.total.toFixed(3)} ms = all-reduce ${x.allReduce.toFixed(3)} + ` +
    `worker ${x.worker.toFixed(3)} + coordinator round trip ${x.coordinator.toFixed(3)}; onnxruntime ${x.onnxruntime.toFixed(3)} ms`;
}

function table(run: DecodeBenchRun): string {
  const f = (x: number, d = 3): string => x.toFixed(d).padStart(9);
  const lines = [
    `${run.label}: ${run.tokens} tokens in ${run.steps} steps, ${run.tokPerS.toFixed(1)} tok/s, ${run.tokensPerStep.toFixed(2)} tokens/step, ` +
      `step p50 ${run.stepMsP50.toFixed(3)} ms, p99 ${run.stepMsP99.toFixed(3)} ms, ${run.allReducesPerStep} all-reduces/step, ` +
      `all-reduce ${(100 * run.allReduceShare).toFixed(1)}% of the step`,
    `  rank   compute_ms allreduce_ms  worker_ms  roundtrip_ms   (mean per step)    rss_mib weights_mib`,
    ...run.perRank.map((t, r) => `  ${String(r).padStart(4)} ${f(t.compute)}    ${f(t.allReduce)} ${f(t.workerOther)}     ${f(t.roundTrip)}                  ` +
      `${mib(run.rssBytes[r] ?? 0).padStart(9)} ${mib(run.weightBytes[r] ?? 0).padStart(11)}`),
    fixedCostLine(run),
  ];
  return lines.join('\n');
}

export function benchDecodeCommand(): Command {
  const cmd = newCommand('decode', {
    usage: '[--model PATH] --tp N [options]',
    summary: 'decode on a local cluster and show where each step goes',
    description: DESCRIPTION,
  })
    .addOption(flag('--model PATH', 'as for generate (default: $OCTOSERVE_MODEL, else stories260K, else synthetic)'))
    .addOption(flag('--tokenizer FILE', 'as for generate'))
    .addOption(numberFlag('--tp N', 'worker processes, 1-8 (default 8)', { min: 1, max: 8, integer: true }))
    .addOption(numberFlag('--max-tokens N', 'tokens per prompt (default 128)', { min: 1, integer: true }))
    .addOption(numberFlag('--prompts N', 'how many prompts (default 3)', { min: 1, max: PROMPTS.length, integer: true }))
    .addOption(flag('--algo NAME', 'force an all-reduce algorithm (default: auto)'))
    .addOption(flag('--medusa DIR', 'also run Medusa (greedy acceptance, lossless) with the heads in DIR on a second cluster, on the same ' +
      'prompts, and print the speedup over the baseline'))
    .addOption(flag('--medusa-choices C', 'the candidate tree: a preset (mc_sim_7b_63, stories260k, stories260k-small, chain-K) or a JSON ' +
      'list of paths (default: mc_sim_7b_63)'))
    .addOption(listFlag('--weights LIST', 'weight formats to run side by side, each on its own cluster: f32, q8, q4 ' +
      '(block-quantized matmul weights), q8a8, q4a8 (the same with int8 activations; the run reports how many tokens agree with f32); default f32'))
    .addOption(fabricListFlag())
    .addOption(spinListFlag())
    .addOption(listFlag('--greedy-run LIST', `tokens the ranks choose per step request, side by side on each cluster: 1 (the coordinator ` +
      `chooses every token, one round trip each) to ${MAX_GREEDY_TOKENS} (default ${DEFAULT_GREEDY_RUN}); traced runs choose on the coordinator`))
    .addOption(flag('--json FILE', 'also write the results as JSON'))
    .addOption(flag('--trace FILE', 'also write a Chrome trace (chrome://tracing, Perfetto) of every run: per rank its segment runs, ' +
      'all-reduce waits, steps and idle time; the coordinator\'s round trips, merging and Medusa verification'));
  return action<DecodeFlags>(cmd, async (flags) => {
    const tp = flags.tp ?? 8;
    const maxTokens = flags.maxTokens ?? 128;
    const nPrompts = flags.prompts ?? 3;
    const model = await openModel({ model: flags.model, tokenizer: flags.tokenizer });
    const prompts = PROMPTS.slice(0, nPrompts).map((p) => model.tokenizer.encode(p, { bos: true }));
    const budget = Math.min(maxTokens, model.checkpoint.config.maxSeqLen - Math.max(...prompts.map((p) => p.length)));
    const modelPath = model.checkpoint.path;
    model.checkpoint.close();
    const medusaDir = flags.medusa;
    const choices = flags.medusaChoices ?? DEFAULT_CHOICES_NAME;
    const tree = medusaDir === undefined ? undefined : buildTree(resolveChoices(choices));
    const base = { modelPath, tp, workerCommand: WORKER_COMMAND, clusterToken: newClusterToken(), allReduceAlgorithm: flags.algo };
    const formats = weightFormats(flags.weights);
    const fabrics: (Fabric | undefined)[] = flags.fabric ?? [undefined];
    const medusaRuns: SideRun[] = [];
    const trace = flags.trace === undefined ? undefined : new ChromeTrace({ model: modelPath, tp });
    const traced = (label: string): { tracer?: ClusterTracer } => (trace === undefined ? {} : { tracer: new ClusterTracer(trace, label, tp) });
    const spins: (SpinSetting | undefined)[] = flags.spinUs ?? [undefined];
    const runLengths = greedyRuns(flags.greedyRun);
    const variants = fabrics.flatMap((fabric) => spins.flatMap((spin) => formats.map((weights) => ({ fabric, spin, weights }))));
    const done: { fabric?: Fabric; spin?: SpinSetting; weights: WeightFormat; run: SideRun }[] = [];
    for (const { fabric, spin, weights } of variants) {
      const f32 = done.find((d) => d.weights === 'f32' && d.fabric === fabric && d.spin === spin)?.run;
      const tag = (formats.length === 1 && weights === 'f32' ? '' : ` ${weights}`) + (fabrics.length > 1 ? ` ${fabric}` : '') +
        (spins.length > 1 ? ` spin=${spin}` : '');
      const on = { ...base, weights, ...(fabric === undefined ? {} : { fabric }), ...(spin === undefined ? {} : { spinUs: spin }) };
      process.stderr.write(`starting ${tp} workers on ${modelPath} (${weights} weights${fabric === undefined ? '' : `, ${fabric} fabric`}` +
        `${spin === undefined ? '' : `, spin ${spin}`})...\n`);
      const label = `baseline tp=${tp}${tag}`;
      const cluster = await Cluster.start({ ...on, ...traced(label) });
      try {
        for (const greedyRun of runLengths) {
          const runLabel = label + (runLengths.length > 1 ? ` run=${greedyRun}` : '');
          const run: SideRun = await benchDecode(cluster, runLabel, prompts, plainDecode(cluster, budget, greedyRun));
          if (f32 !== undefined) run.agreementWithF32 = tokenAgreement(run, f32);
          done.push({ fabric, spin, weights, run });
        }
      } finally {
        await cluster.close();
      }
      if (medusaDir !== undefined && tree !== undefined) {
        process.stderr.write(`starting ${tp} workers with the Medusa heads in ${medusaDir} (${weights} weights)...\n`);
        const medusaLabel = `medusa tp=${tp}${tag} (${choices}, ${tree.nodeCount} nodes)`;
        const medusa = await Cluster.start({ ...on, medusa: { path: medusaDir, topK: treeLimits(tree).topK }, ...traced(medusaLabel) });
        try {
          medusaRuns.push(await benchDecode(medusa, medusaLabel, prompts, medusaDecode(medusa, budget, tree)));
        } finally {
          await medusa.close();
        }
      }
    }
    const runs = done.map((d) => d.run);
    for (const run of [...runs, ...medusaRuns]) process.stdout.write(table(run) + '\n');
    if (variants.length * runLengths.length > 1) process.stdout.write(`side by side:\n${summary([...runs, ...medusaRuns])}\n`);
    const [baseline, withMedusa] = [runs[0], medusaRuns[0]];
    const speedup = baseline !== undefined && withMedusa !== undefined ? withMedusa.tokPerS / baseline.tokPerS : undefined;
    if (speedup !== undefined) {
      process.stdout.write(`medusa speedup: ${speedup.toFixed(2)}x tok/s; accepted per depth ${JSON.stringify(withMedusa?.acceptedPerDepth ?? [])}\n`);
    }
    if (trace !== undefined && flags.trace !== undefined) trace.writeTo(flags.trace);
    const jsonPath = flags.json;
    if (jsonPath !== undefined) {
      writeFileSync(jsonPath, JSON.stringify({ model: modelPath, tp, max_tokens: budget, weights: formats, fabrics: fabrics.map((f) => f ?? null), spin_us: spins.map((v) => v ?? null), greedy_run: runLengths.map((v) => v ?? DEFAULT_GREEDY_RUN), runs: [...runs, ...medusaRuns], ...(speedup === undefined ? {} : { speedup, medusa_choices: choices }) }, null, 2) + '\n');
    }
    return 0;
  });
}
