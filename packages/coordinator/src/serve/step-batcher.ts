// Continuous batching: the steps that concurrent generations ask for while one step is on
// the cluster are sent together as the next step (one StepRequest, several sequences), and
// each caller gets back a view of its own rows. With N sequences decoding, the cluster runs
// one step per token of all N instead of N steps: on a message-bound cluster that is most of
// the serving throughput.
import type { SequenceStep } from '@octoserve/wire';
import type { ClusterStep, GreedyRun, StepRunner } from '../cluster.js';
import type { RankRows } from '@octoserve/wire';

interface PendingStep {
  sequences: SequenceStep[];
  pickedIds: Uint32Array | undefined;
  greedy: GreedyRun | undefined;
  rows: number;
  resolve: (step: ClusterStep) => void;
  reject: (err: unknown) => void;
}

/** Rows [from, from + count) of every per-row array of a rank's answer: views, no copies. */
function rowsOf(rank: RankRows, totalRows: number, from: number, count: number): RankRows {
  const view = <T extends Float32Array | Uint32Array>(a: T): T => {
    const width = a.length / totalRows;
    return a.subarray(from * width, (from + count) * width) as T;
  };
  return {
    max: view(rank.max), argmax: view(rank.argmax), topkValues: view(rank.topkValues), topkIds: view(rank.topkIds),
    sumexp: view(rank.sumexp), sumexpLogit: view(rank.sumexpLogit), picked: view(rank.picked), sample: view(rank.sample),
    medusaValues: view(rank.medusaValues), medusaIds: view(rank.medusaIds),
  };
}

/** A listener for every step the cluster runs (the admin status keeps recent timings). */
export type StepListener = (step: ClusterStep, sequences: number, rows: number) => void;

export class StepBatcher implements StepRunner {
  private pending: PendingStep[] = [];
  private inFlight = false;
  /** The steps of the batch on the cluster and their sequences: reused from step to step. */
  private readonly batch: PendingStep[] = [];
  private readonly sequences: SequenceStep[] = [];
  /** [maxTokensPerStep, maxPicked] picked ids of a batch: one buffer, refilled only after the previous step is answered. */
  private readonly picked: Uint32Array;

  constructor(private readonly cluster: StepRunner, private readonly onStep: StepListener = () => {}) {
    this.picked = new Uint32Array(cluster.options.maxTokensPerStep * cluster.options.maxPicked);
  }

  get config(): StepRunner['config'] { return this.cluster.config; }
  get options(): StepRunner['options'] { return this.cluster.options; }
  get tracer(): StepRunner['tracer'] { return this.cluster.tracer; }

  /** Queues a step; a greedy run goes to the cluster when the step has the cluster to itself, else the token is chosen from its rows. */
  step(sequences: SequenceStep[], pickedIds?: Uint32Array, greedy?: GreedyRun): Promise<ClusterStep> {
    const rows = sequences.reduce((n, s) => n + (s.tokens?.length ?? 0), 0);
    if (rows > this.options.maxTokensPerStep) {
      return Promise.reject(new Error(`a step of ${rows} tokens is more than the cluster's ${this.options.maxTokensPerStep} per step`));
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ sequences, pickedIds, greedy, rows, resolve, reject });
      // gather the steps asked for in this turn of the event loop before sending
      if (!this.inFlight && this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Sends as many waiting steps as fit in one cluster step, in arrival order. */
  private flush(): void {
    if (this.inFlight || this.pending.length === 0) return;
    const batch = this.batch;
    batch.length = 0;
    let rows = 0;
    while (this.pending.length > 0 && rows + (this.pending[0] as PendingStep).rows <= this.options.maxTokensPerStep) {
      const next = this.pending.shift() as PendingStep;
      batch.push(next);
      rows += next.rows;
    }
    this.inFlight = true;
    void this.send(batch, rows).finally(() => {
      this.inFlight = false;
      this.flush();
    });
  }

  private async send(batch: PendingStep[], totalRows: number): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0] as PendingStep;
      try {
        const step = await this.cluster.step(only.sequences, only.pickedIds, only.greedy);
        this.onStep(step, only.sequences.length, totalRows);
        only.resolve(step);
      } catch (err) {
        only.reject(err);
      }
      return;
    }
    const width = this.options.maxPicked;
    const anyPicked = batch.some((b) => b.pickedIds !== undefined);
    if (anyPicked) {
      this.picked.fill(0, 0, totalRows * width);
      let row = 0;
      for (const b of batch) {
        if (b.pickedIds !== undefined) this.picked.set(b.pickedIds.subarray(0, b.rows * width), row * width);
        row += b.rows;
      }
    }
    try {
      const sequences = this.sequences;
      sequences.length = 0;
      for (const b of batch) for (const s of b.sequences) sequences.push(s);
      const step = await this.cluster.step(sequences, anyPicked ? this.picked.subarray(0, totalRows * width) : undefined);
      this.onStep(step, sequences.length, totalRows);
      let row = 0;
      for (const b of batch) {
        b.resolve({ ...step, ranks: step.ranks.map((r) => rowsOf(r, totalRows, row, b.rows)) });
        row += b.rows;
      }
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
