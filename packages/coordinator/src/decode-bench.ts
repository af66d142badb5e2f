// `bench decode`: greedy generation on a cluster over a few prompts, with where each step's time goes.
import { medusaGenerate } from '@octoserve/medusa';
import type { MedusaTree } from '@octoserve/medusa';
import { generateFrom } from '@octoserve/model';
import type { GenerateResult } from '@octoserve/model';
import type { Cluster } from './cluster.js';
import { ClusterMedusaBackend } from './cluster-medusa.js';
import { ClusterTokenSource } from './cluster-token-source.js';
import { StepTimings, percentile } from './step-timings.js';
import type { RankTotals } from './step-timings.js';
import { verifySpans } from './trace/cluster-tracer.js';

export interface DecodeBenchRun {
  label: string;
  tokens: number;
  steps: number;
  wallMs: number;
  tokPerS: number;
  tokensPerStep: number;
  stepMsP50: number;
  stepMsP99: number;
  allReducesPerStep: number;
  /** Per rank, mean ms per step. */
  perRank: RankTotals[];
  /** Per rank, ms over all `steps` (what a trace of the run sums to). */
  perRankTotal: RankTotals[];
  /** Share of the mean step spent waiting in all-reduce (mean over ranks). */
  allReduceShare: number;
  /**
   * The fixed cost of a step, mean ms per step over the ranks: what a step costs outside
   * onnxruntime (waiting in all-reduce, the worker's own step work, the coordinator's round trip),
   * the part that does not shrink with the model; and onnxruntime's time beside it.
   */
  fixedMsPerStep: { allReduce: number; worker: number; coordinator: number; total: number; onnxruntime: number };
  /** Medusa only: the share of steps that accepted a candidate at each tree depth, mean over the prompts. */
  acceptedPerDepth?: number[];
  /** Each rank's resident set size after the run (bytes; 0 where the worker did not answer). */
  rssBytes: number[];
  /** Each rank's weight bytes (its shard as loaded: quantized weights count codes and scales). */
  weightBytes: number[];
  /** The generated token ids, per prompt. */
  tokenIds: number[][];
}

/** The share of `run`'s tokens equal to `base`'s at the same place of the same prompt. */
export function tokenAgreement(run: Pick<DecodeBenchRun, 'tokenIds'>, base: Pick<DecodeBenchRun, 'tokenIds'>): number {
  let same = 0;
  let all = 0;
  for (const [p, ids] of run.tokenIds.entries()) {
    const ref = base.tokenIds[p] ?? [];
    for (const [i, id] of ids.entries()) if (ref[i] === id) same++;
    all += Math.max(ids.length, ref.length);
  }
  return all === 0 ? 1 : same / all;
}

/** Generates one prompt as sequence `seq`; returns the result and the timings of its steps. */
type Decode = (ids: number[], seq: number) => Promise<{ result: GenerateResult; timings: StepTimings; acceptedPerDepth?: number[] }>;

/** Plain greedy decoding: one token per step, `greedyRun` of them chosen on the ranks per step request (ClusterTokenSource). */
export function plainDecode(cluster: Cluster, maxTokens: number, greedyRun?: number): Decode {
  return async (ids, seq) => {
    const source = new ClusterTokenSource(cluster, seq, { temperature: 0, ...(greedyRun === undefined ? {} : { greedyRun }) });
    return { result: await generateFrom(source, ids, { maxTokens, stopIds: [] }), timings: source.timings };
  };
}

/** Medusa with greedy (lossless) acceptance over `tree`. */
export function medusaDecode(cluster: Cluster, maxTokens: number, tree: MedusaTree): Decode {
  return async (ids, seq) => {
    const backend = new ClusterMedusaBackend(cluster, seq);
    const result = await medusaGenerate(backend, ids, { tree, acceptance: 'greedy', maxTokens, stopIds: [], onVerify: verifySpans(cluster.tracer) });
    return { result, timings: backend.timings, acceptedPerDepth: result.stats.acceptedPerDepth };
  };
}

/** Decodes every prompt on `cluster` (fresh sequences) and sums the timings. */
export async function benchDecode(cluster: Cluster, label: string, prompts: readonly number[][], decode: Decode): Promise<DecodeBenchRun> {
  const all = new StepTimings();
  let tokens = 0;
  let wallMs = 0;
  let acceptedPerDepth: number[] | undefined;
  const tokenIds: number[][] = [];
  for (const [i, ids] of prompts.entries()) {
    const { result: r, timings: t, acceptedPerDepth: apd } = await decode(ids, 1000 + i);
    await cluster.release([1000 + i]);
    tokens += r.tokenIds.length;
    tokenIds.push([...r.tokenIds]);
    wallMs += r.stats.wallMs;
    if (apd !== undefined) acceptedPerDepth = apd.map((n, d) => n + (acceptedPerDepth?.[d] ?? 0));
    // the first step of each prompt is its prefill: keep decode steps only in the step-time figures
    for (let s = 1; s < t.wallMs.length; s++) all.wallMs.push(t.wallMs[s] as number);
    t.ranks.forEach((rt, r) => {
      const acc = (all.ranks[r] ??= { compute: 0, allReduce: 0, workerOther: 0, roundTrip: 0 });
      acc.compute += rt.compute; acc.allReduce += rt.allReduce; acc.workerOther += rt.workerOther; acc.roundTrip += rt.roundTrip;
    });
    all.allReducesPerStep = t.allReducesPerStep;
  }
  const steps = all.wallMs.length + prompts.length;
  const perRank = all.ranks.map((t) => ({ compute: t.compute / steps, allReduce: t.allReduce / steps, workerOther: t.workerOther / steps, roundTrip: t.roundTrip / steps }));
  const mean = (part: (t: RankTotals) => number): number => perRank.reduce((a, t) => a + part(t), 0) / Math.max(1, perRank.length);
  const fixed = { allReduce: mean((t) => t.allReduce), worker: mean((t) => t.workerOther), coordinator: mean((t) => t.roundTrip) };
  const fixedMsPerStep = { ...fixed, total: fixed.allReduce + fixed.worker + fixed.coordinator, onnxruntime: mean((t) => t.compute) };
  const meanStep = fixedMsPerStep.onnxruntime + fixedMsPerStep.total;
  const health = await cluster.health(5_000);
  const rssBytes = health.map((h) => (h instanceof Error ? 0 : Number(h.rssBytes)));
  const weightBytes = health.map((h) => (h instanceof Error ? 0 : Number(h.weightBytes)));
  return {
    rssBytes, weightBytes, tokenIds,
    label, tokens, steps, wallMs, tokPerS: tokens / (wallMs / 1000), tokensPerStep: tokens / steps,
    stepMsP50: percentile(all.wallMs, 50), stepMsP99: percentile(all.wallMs, 99), allReducesPerStep: all.allReducesPerStep,
    perRank, perRankTotal: all.ranks, allReduceShare: meanStep > 0 ? fixed.allReduce / meanStep : 0, fixedMsPerStep,
    ...(acceptedPerDepth === undefined ? {} : { acceptedPerDepth: acceptedPerDepth.map((n) => n / prompts.length) }),
  };
}
