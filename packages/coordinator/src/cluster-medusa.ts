// Medusa on a cluster: the decode loop's backend whose workers hold the LM head and the
// Medusa heads vocabulary-parallel. Each step sends the whole candidate tree as one
// step (positions = past + depth, the ancestor mask) and merges, per node, the base
// argmax and every head's top-k across ranks. Greedy acceptance only: it is lossless,
// so the output equals plain greedy decoding at any tp.
import type { KeepSlots, MedusaBackend, MedusaStepOutputs } from '@octoserve/medusa';
import type { SequenceStep } from '@octoserve/wire';
import type { Cluster, ClusterStep } from './cluster.js';
import { StepTimings } from './cluster-source.js';
import { mergedArgmax, mergedHeadTopK } from './merge.js';

export class ClusterMedusaBackend implements MedusaBackend {
  readonly maxSeqLen: number;
  readonly numHeads: number;
  readonly timings = new StepTimings();

  constructor(private readonly cluster: Cluster, readonly sequenceId: number) {
    this.maxSeqLen = cluster.config.maxSeqLen;
    this.numHeads = cluster.options.medusaHeads;
    if (this.numHeads === 0) throw new Error('this cluster was started without Medusa heads');
  }

  private async send(tokens: ArrayLike<number>, positions: ArrayLike<number>, mask: Uint8Array | undefined, keep: KeepSlots): Promise<ClusterStep> {
    const seq: SequenceStep = {
      sequenceId: this.sequenceId, tokens: Array.from(tokens), positions: Array.from(positions),
      treeMask: mask === undefined ? Buffer.alloc(0) : Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength),
      reset: keep === 'reset', keepAll: keep === 'all', keep: typeof keep === 'string' ? [] : Array.from(keep), temperature: 0,
    };
    const step = await this.cluster.step([seq]);
    this.timings.record(step);
    return step;
  }

  async step(tokens: Int32Array, positions: Int32Array, mask: Uint8Array | undefined, keep: KeepSlots, out: MedusaStepOutputs): Promise<void> {
    if (out.typical !== null) throw new Error('typical acceptance runs on the reference engine only for now; use --acceptance greedy with --tp');
    const localK = this.cluster.options.medusaTopK;
    if (out.topK > localK) throw new Error(`the tree needs top-${out.topK} per head; the workers return ${localK}`);
    let step: ClusterStep;
    let rowsOut: number;
    let firstRow: number;
    if (mask === undefined) {
      // a prefill: causal, in chunks; only the last token's results are returned (row 0)
      const chunk = this.cluster.options.maxTokensPerStep;
      let last: ClusterStep | undefined;
      let rows = 0;
      for (let i = 0; i < tokens.length; i += chunk) {
        const end = Math.min(tokens.length, i + chunk);
        last = await this.send(tokens.subarray(i, end), positions.subarray(i, end), undefined, i === 0 ? keep : 'all');
        rows = end - i;
      }
      if (last === undefined) throw new Error('a step needs at least one token');
      step = last;
      firstRow = rows - 1;
      rowsOut = 1;
    } else {
      step = await this.send(tokens, positions, mask, keep);
      firstRow = 0;
      rowsOut = tokens.length;
    }
    for (let r = 0; r < rowsOut; r++) {
      const row = firstRow + r;
      out.baseArgmax[r] = mergedArgmax(step.ranks, row).id;
      for (let h = 0; h < out.numHeads; h++) {
        mergedHeadTopK(step.ranks, row, h, this.numHeads, localK, out.topK, out.headTopK, (r * out.numHeads + h) * out.topK);
      }
    }
  }

  sample(): number {
    throw new Error('typical acceptance runs on the reference engine only for now; use --acceptance greedy with --tp');
  }
}
