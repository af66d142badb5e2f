// A decode step with and without Medusa on one box: step time, tokens/s per user, and what bounds it.
//
// Plain decoding emits one token per sequence per step. A Medusa step runs the tree's N nodes
// (root included) through the layers for each sequence and emits the accepted path plus the base
// model's own next token: 1 + sum over d <= tree depth of a_d tokens, a_d the probability that the
// accepted path reaches depth d. tok/s/user = tokens per step / step time.
import { buildTree, resolveChoices } from '@octoserve/medusa';
import { FITTED_OVERHEADS } from './fitted.js';
import { resolveHardware, type Hardware } from './hardware.js';
import { resolveModel, type ModelShape } from './models.js';
import { PRECISION_BYTES, simulateStep, type KvPrecision, type Overheads, type StepResult, type WeightPrecision } from './step.js';

export interface SimulateOptions {
  hardware: Hardware | string;
  model: ModelShape | string;
  tp: number;
  weights?: WeightPrecision;
  kv?: KvPrecision;
  batch?: number;
  context?: number;
  /** A medusa_choices preset name or JSON list (as --medusa-choices takes). */
  medusaChoices?: string;
  /** Per-depth acceptance; default: the model preset's. */
  acceptance?: readonly number[];
  /** Residual layers per Medusa head (FasterDecoding's heads have 1). */
  medusaHeadLayers?: number;
  overheads?: Overheads;
}

export interface SimulatedStep extends StepResult {
  tok_per_s: number;
}

export interface Simulation {
  hardware: string;
  model: string;
  tp: number;
  weights: WeightPrecision;
  kv: KvPrecision;
  batch: number;
  context: number;
  /** Per-rank weights and KV cache against the GPU's memory. */
  memory: { weights_gb: number; kv_cache_gb: number; gpu_gb: number; fits: boolean };
  baseline: SimulatedStep;
  medusa: SimulatedStep & {
    choices: string;
    tree_nodes: number;
    tree_depth: number;
    acceptance: number[];
    acceptance_source: string;
    tokens_per_step: number;
    speedup: number;
  };
}

export const DEFAULT_MEDUSA_CHOICES = 'mc_sim_7b_63';

/** Checks that `a` is a list of probabilities that never rises with depth. */
export function checkAcceptance(a: readonly number[]): void {
  if (a.length === 0) throw new Error('acceptance needs at least one depth');
  a.forEach((p, d) => {
    if (!(Number.isFinite(p) && p >= 0 && p <= 1)) throw new Error(`acceptance at depth ${d + 1} must be in [0, 1], got ${p}`);
    if (d > 0 && p > a[d - 1]!) throw new Error(`acceptance at depth ${d + 1} (${p}) exceeds depth ${d} (${a[d - 1]}): a path reaches depth d+1 only through depth d`);
  });
}

/** 1 + the acceptance summed over the first `depth` depths. */
export function tokensPerStep(acceptance: readonly number[], depth: number): number {
  checkAcceptance(acceptance);
  return 1 + acceptance.slice(0, depth).reduce((s, p) => s + p, 0);
}

export function simulate(o: SimulateOptions): Simulation {
  const hardware = typeof o.hardware === 'string' ? resolveHardware(o.hardware) : o.hardware;
  const model = typeof o.model === 'string' ? resolveModel(o.model) : o.model;
  const weights = o.weights ?? 'fp8';
  const kv = o.kv ?? 'fp8';
  const batch = o.batch ?? 1;
  const context = o.context ?? 1024;
  const overheads = o.overheads ?? FITTED_OVERHEADS;
  const choices = o.medusaChoices ?? DEFAULT_MEDUSA_CHOICES;
  const tree = buildTree(resolveChoices(choices));
  const acceptance = [...(o.acceptance ?? model.acceptance)];
  const headLayers = o.medusaHeadLayers ?? 1;
  const common = { model, hardware, tp: o.tp, weights, kv, batch, context, medusaHeadLayers: headLayers, overheads };

  const base = simulateStep({ ...common, tokensPerRow: 1, medusaHeads: 0 });
  const med = simulateStep({ ...common, tokensPerRow: tree.nodeCount, medusaHeads: tree.numHeads });
  const perStep = tokensPerStep(acceptance, tree.maxDepth);
  const baseTps = 1e3 / base.step_ms;
  const medTps = (perStep * 1e3) / med.step_ms;
  // what a rank holds: the weights it reads (with the Medusa heads) and its slice of the embedding
  const weightGb = (med.weight_bytes + (model.hiddenSize * model.vocabSize * PRECISION_BYTES[weights]) / o.tp) / 1e9;
  const kvGb = base.kv_bytes / 1e9;
  return {
    hardware: hardware.name, model: model.name, tp: o.tp, weights, kv, batch, context,
    memory: { weights_gb: weightGb, kv_cache_gb: kvGb, gpu_gb: hardware.memoryBytes / 1e9, fits: weightGb + kvGb <= hardware.memoryBytes / 1e9 },
    baseline: { ...base, tok_per_s: baseTps },
    medusa: {
      ...med, tok_per_s: medTps, choices, tree_nodes: tree.nodeCount, tree_depth: tree.maxDepth,
      acceptance, acceptance_source: o.acceptance === undefined ? model.acceptanceSource : '--acceptance',
      tokens_per_step: perStep, speedup: medTps / baseTps,
    },
  };
}
