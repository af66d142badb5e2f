// Medusa on a cluster: the decode loop's backend whose workers hold the LM head and the
// Medusa heads vocabulary-parallel. Each step sends the whole candidate tree as one
// step (positions = past + depth, the ancestor mask) and merges, per node, the base
// argmax and every head's top-k across ranks. Greedy acceptance is lossless, so the
// output equals plain greedy decoding at any tp. Typical acceptance gets, per node, the
// exact log-sum-exp and entropy of softmax(z/T) from the ranks' pieces, each child's logit
// at its parent from the rank that owns the token, and an exact bonus draw (mergedSample).
import type { KeepSlots, MedusaBackend, MedusaStepOutputs, TypicalStepOutputs } from '@octoserve/medusa';
import { Rng } from '@octoserve/model';
import type { SequenceStep } from '@octoserve/wire';
import type { ClusterStep, StepRunner } from './cluster.js';
import { StepTimings } from './step-timings.js';
import { mergedArgmax, mergedHeadTopK, mergedPicked, mergedSample, mergedSoftmaxStats } from './merge.js';
import { tokenLogprob } from './token-logprobs.js';
import type { TokenLogprob } from './token-logprobs.js';

export class ClusterMedusaBackend implements MedusaBackend {
  readonly maxSeqLen: number;
  readonly numHeads: number;
  readonly timings = new StepTimings();
  /** The workers' per-row draws (typical): one uniform per row, from the seed. */
  private readonly rng: Rng;
  /** The last step's answers and the row its out[0] stands for, for sample() and logprob(). */
  private last: { step: ClusterStep; firstRow: number; invTemperature: number | undefined } | undefined;

  /** Scratch sized for the largest step, reused every step. */
  private readonly uniformRows: Float32Array;  // [maxTokens] the workers' per-row uniforms
  private readonly childIds: Uint32Array;      // [maxTokens, maxPicked] children's tokens per row
  private readonly childCount: Int32Array;     // [maxTokens]
  /** The top-k merge's cursor, one slot per rank. */
  private mergeCursor = new Int32Array(0);

  constructor(private readonly cluster: StepRunner, readonly sequenceId: number, seed = 0) {
    this.maxSeqLen = cluster.config.maxSeqLen;
    this.numHeads = cluster.options.medusaHeads;
    this.rng = new Rng(seed, 'medusa-cluster');
    const rows = cluster.options.maxTokensPerStep;
    this.uniformRows = new Float32Array(rows);
    this.childIds = new Uint32Array(rows * cluster.options.maxPicked);
    this.childCount = new Int32Array(rows);
    if (this.numHeads === 0) throw new Error('this cluster was started without Medusa heads');
  }

  private async send(tokens: ArrayLike<number>, positions: ArrayLike<number>, mask: Uint8Array | undefined, keep: KeepSlots, typical: TypicalStepOutputs | null): Promise<ClusterStep> {
    const T = tokens.length;
    let uniforms: Buffer = Buffer.alloc(0);
    let pickedIds: Uint32Array | undefined;
    if (typical !== null) {
      const u = this.uniformRows;
      for (let i = 0; i < T; i++) u[i] = this.rng.nextFloat();
      uniforms = Buffer.from(u.buffer, 0, 4 * T); // a view: the next step refills it only after every rank has answered this one
      if (mask !== undefined) pickedIds = this.childTokens(tokens, typical.parents);
    }
    const seq: SequenceStep = {
      sequenceId: this.sequenceId, tokens: Array.from(tokens), positions: Array.from(positions),
      treeMask: mask === undefined ? Buffer.alloc(0) : Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength),
      reset: keep === 'reset', keepAll: keep === 'all', keep: typeof keep === 'string' ? [] : Array.from(keep),
      temperature: typical?.temperature ?? 0, uniforms,
    };
    const step = await this.cluster.step([seq], pickedIds);
    this.timings.record(step);
    return step;
  }

  /** [rows, maxPicked]: at each row, the tokens of its children (whose logits typical acceptance reads there). */
  private childTokens(tokens: ArrayLike<number>, parents: Int32Array): Uint32Array {
    const width = this.cluster.options.maxPicked;
    const ids = this.childIds.subarray(0, tokens.length * width).fill(0);
    const used = this.childCount.fill(0, 0, tokens.length);
    for (let c = 0; c < tokens.length; c++) {
      const p = parents[c] as number;
      if (p < 0) continue;
      const j = used[p] as number;
      if (j >= width) throw new Error(`a tree node has more than ${width} children; start the cluster with maxPicked >= the widest node`);
      ids[p * width + j] = tokens[c] as number;
      used[p] = j + 1;
    }
    return ids;
  }

  /** Typical's per-row statistics: log-sum-exp and entropy at every row, each child's logit at its parent. */
  private fillTypical(step: ClusterStep, firstRow: number, rows: number, tree: boolean, t: TypicalStepOutputs): void {
    const invT = 1 / t.temperature;
    const width = this.cluster.options.maxPicked;
    const used = this.childCount.fill(0, 0, rows);
    for (let r = 0; r < rows; r++) {
      const stats = mergedSoftmaxStats(step.ranks, firstRow + r, invT);
      t.logSumExp[r] = stats.logSumExp;
      t.entropy[r] = stats.entropy;
      const p = tree ? (t.parents[r] as number) : -1;
      if (p < 0) { t.childLogits[r] = 0; continue; }
      t.childLogits[r] = mergedPicked(step.ranks, firstRow + p, used[p] as number, width);
      used[p] = (used[p] as number) + 1;
    }
  }

  async step(tokens: Int32Array, positions: Int32Array, mask: Uint8Array | undefined, keep: KeepSlots, out: MedusaStepOutputs): Promise<void> {
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
        last = await this.send(tokens.subarray(i, end), positions.subarray(i, end), undefined, i === 0 ? keep : 'all', out.typical);
        rows = end - i;
      }
      if (last === undefined) throw new Error('a step needs at least one token');
      step = last;
      firstRow = rows - 1;
      rowsOut = 1;
    } else {
      step = await this.send(tokens, positions, mask, keep, out.typical);
      firstRow = 0;
      rowsOut = tokens.length;
    }
    const tracer = this.cluster.tracer;
    const t0 = tracer === undefined ? 0 : performance.now();
    if (out.typical !== null) this.fillTypical(step, firstRow, rowsOut, mask !== undefined, out.typical);
    this.last = { step, firstRow, invTemperature: out.typical === null ? undefined : 1 / out.typical.temperature };
    if (this.mergeCursor.length < step.ranks.length) this.mergeCursor = new Int32Array(step.ranks.length);
    for (let r = 0; r < rowsOut; r++) {
      const row = firstRow + r;
      out.baseArgmax[r] = mergedArgmax(step.ranks, row).id;
      for (let h = 0; h < out.numHeads; h++) {
        mergedHeadTopK(step.ranks, row, h, this.numHeads, localK, out.topK, out.headTopK, (r * out.numHeads + h) * out.topK, this.mergeCursor);
      }
    }
    tracer?.coordinator('merge', t0, performance.now(), { rows: rowsOut });
  }

  /** An exact draw from softmax(z/T) at `row` of the last step: u picks the rank by its mass, the rank's own draw is taken. */
  sample(row: number, u: number): number {
    const last = this.last;
    if (last?.invTemperature === undefined) throw new Error('sample() needs a typical step first');
    return mergedSample(last.step.ranks, last.firstRow + row, last.invTemperature, u);
  }

  /** `token`'s log-probability at `row` of the last step (the row medusaGenerate's onToken names), with `top` alternatives. */
  logprob(row: number, token: number, top: number, temperature: number): TokenLogprob {
    const last = this.last;
    if (last === undefined) throw new Error('logprob() needs a step first');
    return tokenLogprob(last.step.ranks, last.firstRow + row, token, top, this.cluster.options.topK, temperature);
  }
}
