// The decode loop's token source on a cluster: prefill in chunks, one token per
// step after that, the next token chosen from the ranks' merged answers. Greedy and untraced,
// once the loop says how many tokens it may still take, the ranks choose them themselves, up to
// `greedyRun` per step request (StepRequest.greedy_tokens): the tokens after the first wait here
// and answer the loop's next calls without a round trip.
import { Rng, Sampler } from '@octoserve/model';
import type { TokenSource, TokensAhead } from '@octoserve/model';
import type { ClusterStep, GreedyRun, StepRunner } from './cluster.js';
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
  /**
   * Greedy: the most tokens the ranks choose per step request (default DEFAULT_GREEDY_RUN; 1: the
   * coordinator chooses every token). Tokens reach the loop in runs of this many.
   */
  greedyRun?: number;
}

/**
 * Tokens per greedy run on the ranks. The run's first token comes after a round trip, the rest
 * as fast as the ranks step; 16 keeps a stream's tokens coming in small groups and pays the
 * round trip (0.4 ms at stories260K tp=1, 1-1.4 ms at the stories110M shape's tp=2 here) once per 16.
 */
export const DEFAULT_GREEDY_RUN = 16;

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
  /** The greedy run's tokens not yet handed out ([head, length) of `run`), and the token and position the loop must feed next. */
  private run: Uint32Array = new Uint32Array(0);
  private runHead = 0;
  private runFeed = { token: -1, position: -1 };

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

  async next(tokens: ArrayLike<number>, positions: ArrayLike<number>, ahead?: TokensAhead): Promise<number> {
    if (this.runHead < this.run.length) return this.fromRun(tokens, positions);
    const greedy = this.greedyRunFor(tokens, positions, ahead);
    if (greedy !== undefined) return this.startRun(tokens, positions, greedy);
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

  /** How many tokens the ranks should choose for this call, or undefined where the coordinator chooses. */
  private greedyRunFor(tokens: ArrayLike<number>, positions: ArrayLike<number>, ahead: TokensAhead | undefined): GreedyRun | undefined {
    if (ahead === undefined || !this.started || tokens.length !== 1 || this.rng !== undefined || this.sampler !== undefined) return undefined;
    if (this.sampling.onChoice !== undefined || this.cluster.tracer !== undefined) return undefined;
    const fit = this.maxSeqLen - (positions[0] as number);
    // the step deadline covers a whole run: keep a run to a quarter of it at the last step's pace
    const stepMs = this.timings.wallMs[this.timings.wallMs.length - 1] ?? 0;
    const inTime = stepMs > 0 ? Math.floor(this.cluster.options.stepTimeoutMs / (4 * stepMs)) : 1;
    const n = Math.min(ahead.tokens, this.sampling.greedyRun ?? DEFAULT_GREEDY_RUN, fit, inTime);
    return n > 1 ? { tokens: n, stopIds: ahead.stopIds } : undefined;
  }

  /** One step request whose tokens the ranks choose; the first is returned, the rest wait in `run`. */
  private async startRun(tokens: ArrayLike<number>, positions: ArrayLike<number>, greedy: GreedyRun): Promise<number> {
    const step = await this.cluster.step([{
      sequenceId: this.sequenceId, tokens: [tokens[0] as number], positions: [positions[0] as number], keepAll: true, reset: false, temperature: 0,
    }], undefined, greedy);
    this.timings.record(step);
    const ids = step.greedyIds;
    if (ids === undefined) return this.choose(step, 0);   // a runner that steps many sequences at once chose not to run it
    this.run = ids;
    this.runHead = 1;
    this.runFeed.token = ids[0] as number;
    this.runFeed.position = (positions[0] as number) + 1;
    return ids[0] as number;
  }

  /** The next token of the greedy run, for the token it was chosen after. */
  private fromRun(tokens: ArrayLike<number>, positions: ArrayLike<number>): number {
    const feed = this.runFeed;
    if (tokens.length !== 1 || tokens[0] !== feed.token || positions[0] !== feed.position) {
      throw new Error(`sequence ${this.sequenceId}: the ranks ran ahead feeding token ${feed.token} at position ${feed.position}; the decode loop fed ${tokens[0]} at ${positions[0]}`);
    }
    const token = this.run[this.runHead++] as number;
    feed.token = token;
    feed.position++;
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
