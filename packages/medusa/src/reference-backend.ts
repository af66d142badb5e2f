// The Medusa backend of the single-process reference engine: a Transformer's tree step plus the
// heads applied to every row's final hidden state, with full logits in hand.
import { createTreeOutput, type Transformer, type TreeOutput } from '@octoserve/model';
import { applyHead, createHeadScratch, type HeadScratch, type MedusaHeads } from './heads.js';
import type { KeepSlots, MedusaBackend, MedusaStepOutputs } from './medusa-backend.js';
import { sampleFromLogits, writeSoftmaxStats } from './sample.js';
import { argmaxAt, topKInto } from './top-k.js';

export class ReferenceMedusaBackend implements MedusaBackend {
  readonly maxSeqLen: number;
  readonly numHeads: number;
  private tree: TreeOutput | null = null; // grown to the largest step
  private readonly scratch: HeadScratch;
  private readonly headLogits: Float32Array; // [vocabSize]
  private readonly topVals: Float32Array; // [vocabSize] top-k scratch
  private temperature = 0; // of the last step, for sample()

  constructor(readonly transformer: Transformer, readonly heads: MedusaHeads) {
    const c = transformer.config;
    if (heads.dim !== c.dim || heads.vocabSize !== c.vocabSize) {
      throw new Error(`Medusa heads are for dim ${heads.dim} and vocabulary ${heads.vocabSize}; the model has dim ${c.dim} and vocabulary ${c.vocabSize}`);
    }
    this.maxSeqLen = transformer.maxSeqLen;
    this.numHeads = heads.numHeads;
    this.scratch = createHeadScratch(c.dim);
    this.headLogits = new Float32Array(c.vocabSize);
    this.topVals = new Float32Array(c.vocabSize);
  }

  step(tokens: Int32Array, positions: Int32Array, mask: Uint8Array | undefined, keep: KeepSlots, out: MedusaStepOutputs): void {
    const t = this.transformer;
    const { vocabSize: V, dim } = t.config;
    if (out.numHeads > this.numHeads) throw new Error(`step outputs ask for ${out.numHeads} heads; the backend has ${this.numHeads}`);
    const T = tokens.length;
    const rows = mask === undefined ? 1 : T;
    if (rows > out.rows) throw new Error(`a step of ${rows} rows; the outputs hold ${out.rows}`);
    if (keep === 'reset') t.resetCache(0);
    else if (keep === 'all') t.commit();
    else t.compact(keep);

    // the base model: logits and hidden state per row (a prefill returns its last token only)
    if (this.tree === null || this.tree.rows < rows) this.tree = createTreeOutput(t.config, rows);
    const { logits, hidden } = t.forwardTree(tokens, positions, mask, this.tree, T - rows);

    const { topK, headTopK, baseArgmax, typical } = out;
    for (let r = 0; r < rows; r++) {
      baseArgmax[r] = argmaxAt(logits, r * V, V);
      // every head's top-k at this row
      for (let h = 0; h < out.numHeads; h++) {
        applyHead(this.heads, h, hidden, r * dim, t.weights.output, this.scratch, this.headLogits);
        topKInto(this.headLogits, 0, V, topK, headTopK, (r * out.numHeads + h) * topK, this.topVals);
      }
      if (typical === null) continue;
      writeSoftmaxStats(logits, typical.temperature, r, typical.logSumExp, typical.entropy, r * V, V);
      const parent = mask === undefined ? -1 : typical.parents[r]!;
      typical.childLogits[r] = parent >= 0 ? logits[parent * V + tokens[r]!]! : 0;
    }
    this.temperature = typical?.temperature ?? 0;
  }

  sample(row: number, u: number): number {
    const V = this.transformer.config.vocabSize;
    if (this.tree === null || this.temperature <= 0) throw new Error('sample() needs a step run with typical outputs first');
    return sampleFromLogits(this.tree.logits, this.temperature, u, row * V, V);
  }
}
