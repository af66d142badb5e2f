// The token embedding, held once by the coordinator: each step's rows are looked up here and
// sent to every rank as StepRequest.x, so no worker holds the [vocab, dim] table.
import type { SequenceStep } from '@octoserve/wire';

export class StepEmbedding {
  /** [maxRows, dim] the rows of the step in flight; a step sent while another is in flight gets its own. */
  private readonly buffer: Float32Array;
  private inFlight = false;

  /** `table` [vocab, dim] row-major; `maxRows`: the most tokens one step carries. */
  constructor(private readonly table: Float32Array, readonly dim: number, maxRows: number) {
    if (table.length % dim !== 0) throw new Error(`embedding of ${table.length} floats is not a whole number of rows of ${dim}`);
    this.buffer = new Float32Array(maxRows * dim);
  }

  get vocabSize(): number { return this.table.length / this.dim; }

  /**
   * x [rows, dim] of `sequences` (their tokens in order) as request bytes; call `done` once the
   * request is sent and answered, so the next step can reuse the buffer.
   */
  rows(sequences: readonly SequenceStep[]): Buffer {
    const { dim, table } = this;
    let rows = 0;
    for (const s of sequences) rows += s.tokens?.length ?? 0;
    const own = this.inFlight || rows * dim > this.buffer.length;
    const x = own ? new Float32Array(rows * dim) : this.buffer;
    if (!own) this.inFlight = true;
    const vocab = this.vocabSize;
    let r = 0;
    for (const s of sequences) {
      for (const t of s.tokens ?? []) {
        // an id outside the vocabulary gets a zero row here; every rank refuses the step for it
        if (t >= 0 && t < vocab) x.set(table.subarray(t * dim, (t + 1) * dim), r * dim);
        else x.fill(0, r * dim, (r + 1) * dim);
        r++;
      }
    }
    return Buffer.from(x.buffer, x.byteOffset, rows * dim * 4);
  }

  /** The step whose rows came from the shared buffer is answered (or failed). */
  done(x: Buffer): void {
    if (x.buffer === this.buffer.buffer) this.inFlight = false;
  }
}
