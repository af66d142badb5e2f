// The communicator as a shard runtime sees it (an in-place sum), and the wrapper that times each
// all-reduce of a step into the step's timings and trace spans.
import type { StepSpans } from './step-spans.js';

/** What the runtime needs of a communicator: an in-place sum across ranks. */
export interface AllReducer {
  /** Sums `data` across ranks in place; every rank ends with the same bits. */
  allReduce(data: Float32Array): Promise<unknown>;
  /** The algorithm an all-reduce of `length` floats runs (for the step's report). */
  allReduceAlgorithmFor?(length: number): string;
}

/** Time spent in onnxruntime and in all-reduce during one step, and what the all-reduces ran. */
export interface StepTimings {
  computeMs: number;
  allReduceMs: number;
  allReduces: number;
  allReduceAlgorithm: string;
  allReduceBytes: number;
}

/** The step's communicator, with the time each all-reduce takes added to the timings. */
export class TimedAllReducer implements AllReducer {
  private comm: AllReducer | undefined;

  constructor(private readonly timings: StepTimings, private readonly spans: StepSpans) {}

  over(comm: AllReducer): this {
    this.comm = comm;
    return this;
  }

  async allReduce(data: Float32Array): Promise<void> {
    if (this.comm === undefined) throw new Error('all-reduce outside a step');
    const t = this.timings;
    if (t.allReduces === 0) {
      t.allReduceAlgorithm = this.comm.allReduceAlgorithmFor?.(data.length) ?? '';
      t.allReduceBytes = data.byteLength;
    }
    const t0 = performance.now();
    await this.comm.allReduce(data);
    const t1 = performance.now();
    t.allReduceMs += t1 - t0;
    // two per layer: after attention, after the feed-forward block
    this.spans.record('allreduce', t.allReduces >> 1, t0, t1);
    t.allReduces++;
  }
}
