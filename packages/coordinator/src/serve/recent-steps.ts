// The last cluster steps' timings per rank, for ClusterStatus: fixed rings, no growth.
import type { ClusterStep } from '../cluster.js';
import { percentile } from '../step-timings.js';

export const RECENT_STEPS = 256;

export interface RankTimings {
  stepP50: number;
  stepP99: number;
  computeP50: number;
  allReduceP50: number;
}

export class RecentSteps {
  private readonly wall: Float64Array[];
  private readonly compute: Float64Array[];
  private readonly allReduce: Float64Array[];
  private next = 0;
  steps = 0;
  rows = 0;

  constructor(readonly tp: number) {
    const rings = (): Float64Array[] => Array.from({ length: tp }, () => new Float64Array(RECENT_STEPS));
    this.wall = rings();
    this.compute = rings();
    this.allReduce = rings();
  }

  /** Records a step request; a greedy run's steps each count with the run's mean. */
  record(step: ClusterStep, rows: number): void {
    const n = step.steps;
    for (let k = 0; k < n; k++) {
      const i = this.next;
      for (let r = 0; r < this.tp; r++) {
        (this.wall[r] as Float64Array)[i] = (step.workerMs[r] ?? 0) / n;
        (this.compute[r] as Float64Array)[i] = (step.computeMs[r] ?? 0) / n;
        (this.allReduce[r] as Float64Array)[i] = (step.allReduceMs[r] ?? 0) / n;
      }
      this.next = (i + 1) % RECENT_STEPS;
    }
    this.steps += n;
    this.rows += rows + n - 1;
  }

  rank(r: number): RankTimings {
    const n = Math.min(this.steps, RECENT_STEPS);
    const of = (rings: Float64Array[]): number[] => Array.from((rings[r] as Float64Array).subarray(0, n));
    const wall = of(this.wall);
    return { stepP50: percentile(wall, 50), stepP99: percentile(wall, 99), computeP50: percentile(of(this.compute), 50), allReduceP50: percentile(of(this.allReduce), 50) };
  }
}
