// The decode loop's token source on a cluster: prefill in chunks, one token per
// step after that, the next token chosen from the ranks' merged answers.
import { Rng, Sampler } from '@octoserve/model';
import type { TokenSource } from '@octoserve/model';
import type { ClusterStep, StepRunner } from './cluster.js';
import { mergedArgmax, mergedSample, mergedTopK } from './merge.js';
import { StepTimings } from './step-timings.js';

export interface ClusterSampling {
  /** 0: greedy. */
  temperature: number;
  /**
   * Sample among the k most likely (at most the workers' top-k, 64 by default), from the ranks'
   * merged top-k. 0 with no topP: sample from the whole vocabulary, exactly (mergedSample).
   */
  topK?: number;
  topP?: number;
  seed?: number;
  /** Called with each step's answer, the row the token came from and the token chosen (e.g. for its log-probability). */
  onChoice?: (ranks: ClusterStep['ranks'], row: number, token: number) => void;
}

export class ClusterTokenSource implements TokenSource {
  readonly maxSeqLen: number;
  readonly timings = new StepTimings();
  /** The top-k merge's cursor, one slot per rank. */
  private mergeCursor = new Int32Array(0);
  private started = false;
  private readonly sampler: Sampler | undefined;
  private readonly k: number;
  private readonly candIds: Uint32Array;
  private readonly candLogits: Float32Array;
  /** Whole-vocabulary sampling: one uniform for the workers' draws, one to choose the rank. */
  private readonly rng: Rng | undefined;
  private readonly uniform = new Float32Array(1);

  constructor(private readonly cluster: StepRunner, readonly sequenceId: number, private readonly sampling: ClusterSampling) {
    this.maxSeqLen = cluster.config.maxSeqLen;
    const localK = cluster.options.topK;
    this.k = Math.min(sampling.topK !== undefined && sampling.topK > 0 ? sampling.topK : localK, localK);
    this.candIds = new Uint32Array(this.k);
    this.candLogits = new Float32Array(this.k);
    const wholeVocabulary = (sampling.topK ?? 0) === 0 && (sampling.topP ?? 1) >= 1;
    if (sampling.temperature > 0 && wholeVocabulary) this.rng = new Rng(sampling.seed ?? 0, 'cluster');
    else if (sampling.temperature > 0) {
      this.sampler = new Sampler(this.k, { temperature: sampling.temperature, topP: sampling.topP, seed: sampling.seed });
    }
  }

  /** [rows] float32 bytes: 0 except the last row's uniform for the workers' draws. */
  private uniforms(rows: number): Buffer {
    const buf = Buffer.alloc(4 * rows);
    this.uniform[0] = (this.rng as Rng).nextFloat();
    buf.set(new Uint8Array(this.uniform.buffer), 4 * (rows - 1));
    return buf;
  }

  async next(tokens: ArrayLike<number>, positions: ArrayLike<number>): Promise<number> {
    const chunk = this.cluster.options.maxTokensPerStep;
    let last: ClusterStep | undefined;
    let rows = 0;
    for (let i = 0; i < tokens.length; i += chunk) {
      const end = Math.min(tokens.length, i + chunk);
      // only the last token's draw is used; the other rows draw with u = 0
      const uniforms = this.rng === undefined || end < tokens.length ? Buffer.alloc(0) : this.uniforms(end - i);
      last = await this.cluster.step([{ uniforms,
        sequenceId: this.sequenceId, tokens: Array.from({ length: end - i }, (_, j) => tokens[i + j] as number),
        positions: Array.from({ length: end - i }, (_, j) => positions[i + j] as number),
        keepAll: this.started, reset: !this.started, temperature: this.sampling.temperature,
      }]);
      this.started = true;
      this.timings.record(last);
      rows = end - i;
    }
    if (last === undefined) throw new Error('next() needs at least one token');
    const row = rows - 1;
    const tracer = this.cluster.tracer;
    const t0 = tracer === undefined ? 0 : performance.now();
    const token = this.choose(last, row);
    tracer?.coordinator('merge', t0, performance.now(), { rows: 1 });
    this.sampling.onChoice?.(last.ranks, row, token);
    return token;
  }

  private choose(last: ClusterStep, row: number): number {
    if (this.rng !== undefined) return mergedSample(last.ranks, row, 1 / this.sampling.temperature, this.rng.nextFloat());
    if (this.sampler === undefined) return mergedArgmax(last.ranks, row).id;
    if (this.mergeCursor.length < last.ranks.length) this.mergeCursor = new Int32Array(last.ranks.length);
    mergedTopK(last.ranks, row, this.k, this.cluster.options.topK, this.candIds, this.candLogits, this.mergeCursor);
    return this.candIds[this.sampler.sample(this.candLogits)] as number;
  }
}
