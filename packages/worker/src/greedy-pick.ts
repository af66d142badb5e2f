// Greedy decoding on the ranks (StepRequest.greedy_tokens): the token a step chooses and the
// embedding row the next step is fed, agreed on by every rank without the coordinator.
//
// Each rank knows the best logit among its own vocabulary rows (the head's max / argmax) and holds
// those rows of the token embedding. One all-reduce gathers every rank's candidate: rank r writes
// slot r of [tp, 2 + dim] (its max, its best global id, that id's embedding row) and zeros
// elsewhere; the sum leaves each slot as written (x + 0 = x, so the bits survive, except that a
// -0 becomes +0). Every rank then picks the same winner by the coordinator's rule (merge.ts'
// mergedArgmax: the larger logit, on a tie the smaller id) and copies its row.
import type { AllReducer } from './timed-all-reducer.js';

export class GreedyPick {
  /** [tp, 2 + dim]: per rank its max, its best id (exact in float32 below 2^24), that token's embedding row. */
  private readonly slots: Float32Array;
  private readonly width: number;

  constructor(
    private readonly rank: number,
    private readonly tp: number,
    private readonly dim: number,
    private readonly vocabStart: number,
    /** [vocabRows, dim] this rank's rows of the token embedding. */
    private readonly embedding: Float32Array,
  ) {
    this.width = 2 + dim;
    this.slots = new Float32Array(tp * this.width);
  }

  /**
   * The token every rank chooses from its best local logit `max` at local row `argmax`, with that
   * token's embedding row written into `x` [dim]. `comm` sums across the ranks.
   */
  async pick(max: number, argmax: number, comm: AllReducer, x: Float32Array): Promise<number> {
    const { slots, width, dim } = this;
    slots.fill(0);
    const mine = this.rank * width;
    slots[mine] = max;
    slots[mine + 1] = this.vocabStart + argmax;
    slots.set(this.embedding.subarray(argmax * dim, (argmax + 1) * dim), mine + 2);
    if (this.tp > 1) await comm.allReduce(slots);
    let best = 0;
    for (let r = 1; r < this.tp; r++) {
      const m = slots[r * width]!;
      const b = slots[best * width]!;
      if (m > b || (m === b && slots[r * width + 1]! < slots[best * width + 1]!)) best = r;
    }
    x.set(slots.subarray(best * width + 2, (best + 1) * width));
    return slots[best * width + 1]!;
  }
}
