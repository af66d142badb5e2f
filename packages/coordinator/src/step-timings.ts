// Where a cluster's step time goes: per step and per rank, compute (onnxruntime), waiting in
// all-reduce, the rest of the worker's step, and the coordinator's round trip.
import type { ClusterStep } from './cluster.js';

/** Per-rank totals over the recorded steps, ms. */
export interface RankTotals {
  compute: number;      // onnxruntime
  allReduce: number;    // waiting in all-reduce
  workerOther: number;  // the rest of the worker's step (JS, KV cache, codec)
  roundTrip: number;    // coordinator wall minus the worker's step: gRPC, scheduling, merge
}

/** Per-step timings of one generation. */
export class StepTimings {
  readonly wallMs: number[] = [];
  readonly allReduceMs: number[] = [];   // mean over ranks
  readonly computeMs: number[] = [];     // mean over ranks
  readonly ranks: RankTotals[] = [];
  allReducesPerStep = 0;

  /** Records a step request; one that ran several steps (a greedy run) counts as that many steps of its mean time. */
  record(step: ClusterStep): void {
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const n = step.steps;
    for (let i = 0; i < n; i++) {
      this.wallMs.push(step.wallMs / n);
      this.allReduceMs.push(mean(step.allReduceMs) / n);
      this.computeMs.push(mean(step.computeMs) / n);
    }
    this.allReducesPerStep = step.allReduces;
    step.workerMs.forEach((worker, r) => {
      const t = (this.ranks[r] ??= { compute: 0, allReduce: 0, workerOther: 0, roundTrip: 0 });
      const compute = step.computeMs[r] ?? 0;
      const allReduce = step.allReduceMs[r] ?? 0;
      t.compute += compute;
      t.allReduce += allReduce;
      t.workerOther += worker - compute - allReduce;
      t.roundTrip += step.wallMs - worker;
    });
  }
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
