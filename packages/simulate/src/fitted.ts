// The costs no datasheet gives (the share of HBM bandwidth decode kernels reach, a fixed cost per
// layer, the startup of an all-reduce round), fitted once on one published system that is not the
// one this package is checked against, then frozen in FITTED_OVERHEADS.
//
// The system: gpt-fast (github.com/pytorch-labs/gpt-fast, README "Benchmarks" and "Tensor
// Parallelism"): 8 x A100-80GB power-limited to 330 W, batch size 1, a 5-token prompt, bf16
// weights, torch.compile; tokens/s of Llama-2-7B on 1, 2, 4, 8 GPUs and of Llama-2-70B on 2, 4, 8.
// gpt-fast shards attention and MLP but keeps the whole output layer on every rank. Its box is a
// hybrid cube mesh, not an NVSwitch; at these messages (8-16 KB) an all-reduce is all latency,
// which is what the fit measures.
//
// The fit: step = memory bytes / (HBM bandwidth x efficiency) + L x layer cost + rounds x round
// latency + (link transfer), linear in 1/efficiency, layer cost and round latency; least squares
// over the seven points. A free per-step cost fits negative (-0.46 ms) on these points, so it is
// held at 0.
import { DGX_A100 } from './hardware.js';
import type { ModelShape } from './models.js';
import { simulateStep, type Overheads } from './step.js';

const noAcceptance = { acceptance: [], acceptanceSource: 'not used' };
/** meta-llama/Llama-2-7b-hf config.json */
export const LLAMA2_7B: ModelShape = { name: 'llama-2-7b', hiddenSize: 4096, intermediateSize: 11008, numLayers: 32, numHeads: 32, numKvHeads: 32, vocabSize: 32000, ...noAcceptance };
/** meta-llama/Llama-2-70b-hf config.json */
export const LLAMA2_70B: ModelShape = { name: 'llama-2-70b', hiddenSize: 8192, intermediateSize: 28672, numLayers: 80, numHeads: 64, numKvHeads: 8, vocabSize: 32000, ...noAcceptance };

export interface CalibrationPoint { model: ModelShape; tp: number; tokPerS: number }

/** gpt-fast README, batch size 1 tokens/s (= tokens/s/user). */
export const GPT_FAST_POINTS: readonly CalibrationPoint[] = [
  { model: LLAMA2_7B, tp: 1, tokPerS: 104.9 },
  { model: LLAMA2_7B, tp: 2, tokPerS: 168.84 },
  { model: LLAMA2_7B, tp: 4, tokPerS: 254.02 },
  { model: LLAMA2_7B, tp: 8, tokPerS: 328.43 },
  { model: LLAMA2_70B, tp: 2, tokPerS: 21.32 },
  { model: LLAMA2_70B, tp: 4, tokPerS: 38.01 },
  { model: LLAMA2_70B, tp: 8, tokPerS: 62.50 },
];

/** Mean context over gpt-fast's run: a 5-token prompt and 200 new tokens. */
export const GPT_FAST_CONTEXT = 105;

/**
 * One pipelined ring step. Not fitted (no calibration point runs a ring: `auto` takes one only
 * above the direct algorithms' workspace); an assumed microsecond-scale NVLink put-and-flag.
 */
export const RING_HOP_LATENCY_S = 2e-6;

/** The frozen result of fitOverheads(GPT_FAST_POINTS) (fitted.test.ts refits and compares). */
export const FITTED_OVERHEADS: Overheads = Object.freeze({
  hbmEfficiency: 0.8072,
  layerOverheadS: 45.95e-6,
  stepOverheadS: 0,
  allReduce: Object.freeze({ roundLatencyS: 8.55e-6, ringHopLatencyS: RING_HOP_LATENCY_S }),
});

/** A gpt-fast point's step as this model sees it, with `overheads`. */
export function calibrationStep(p: CalibrationPoint, overheads: Overheads): ReturnType<typeof simulateStep> {
  return simulateStep({
    model: p.model, hardware: DGX_A100, tp: p.tp, weights: 'bf16', kv: 'bf16', batch: 1, context: GPT_FAST_CONTEXT,
    tokensPerRow: 1, medusaHeads: 0, medusaHeadLayers: 0, shardedLmHead: false, overheads,
  });
}

/** Solves the normal equations of a least-squares fit of y ~ X b. */
function leastSquares(x: readonly (readonly number[])[], y: readonly number[]): number[] {
  const n = x[0]!.length;
  const a = Array.from({ length: n }, (_, i) => [...Array.from({ length: n }, (_, j) => x.reduce((s, r) => s + r[i]! * r[j]!, 0)), x.reduce((s, r, k) => s + r[i]! * y[k]!, 0)]);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < n; r++) {
      if (r === i) continue;
      const f = a[r]![i]! / a[i]![i]!;
      for (let c = i; c <= n; c++) a[r]![c]! -= f * a[i]![c]!;
    }
  }
  return a.map((row, i) => row[n]! / row[i]!);
}

/**
 * Fits efficiency, layer cost and round latency to `points` (tokens/s at batch 1). Which all-reduce
 * `auto` picks (and so how many rounds a step has) depends on the round latency being fitted, so
 * the fit is repeated from the last fit's choice until it settles.
 */
export function fitOverheads(points: readonly CalibrationPoint[]): Overheads {
  let fit: Overheads = { hbmEfficiency: 1, layerOverheadS: 0, stepOverheadS: 0, allReduce: { roundLatencyS: 10e-6, ringHopLatencyS: RING_HOP_LATENCY_S } };
  for (let i = 0; i < 8; i++) {
    const rows = points.map((p) => calibrationStep(p, fit));
    // the pieces that do not scale with the fitted constants: transfers, compute-bound time
    const rest = rows.map((r) => r.parts.restS - fit.stepOverheadS);
    const x = rows.map((r) => [r.parts.memoryS, r.parts.layers, r.parts.allReduceRounds]);
    const [invEff, layer, round] = leastSquares(x, points.map((p, k) => 1 / p.tokPerS - rest[k]!)) as [number, number, number];
    fit = { hbmEfficiency: 1 / invEff, layerOverheadS: layer, stepOverheadS: 0, allReduce: { roundLatencyS: round, ringHopLatencyS: RING_HOP_LATENCY_S } };
  }
  return fit;
}
