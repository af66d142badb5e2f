// Requests to generations on the cluster: each takes a sequence slot, decodes (plainly or with
// Medusa) through the step batcher, streams its tokens as they are accepted, and can be
// cancelled between tokens. Every generation shares one cluster; the batcher turns the
// concurrent ones into shared steps.
import { generateFrom, stopTokenIds } from '@octoserve/model';
import type { GenerateResult, Tokenizer } from '@octoserve/model';
import { medusaGenerate } from '@octoserve/medusa';
import type { MedusaTree } from '@octoserve/medusa';
import type { GenerateRequest__Output, GenerationStats__Output as GenerationStats } from '@octoserve/wire';
import type { ServedCluster } from '../cluster.js';
import { ClusterMedusaBackend } from '../cluster-medusa.js';
import { ClusterTokenSource } from '../cluster-token-source.js';
import type { ClusterSampling } from '../cluster-token-source.js';
import { tokenLogprob } from '../token-logprobs.js';
import type { TokenLogprob } from '../token-logprobs.js';
import { ServingMetrics } from '../metrics/serving-metrics.js';
import type { SpecRecord } from '../metrics/serving-metrics.js';
import { RecentSteps } from './recent-steps.js';
import { checkRequest } from './request.js';
import type { Generation, RequestLimits } from './request.js';
import { SequenceSlots } from './sequence-slots.js';
import { StepBatcher } from './step-batcher.js';
import { verifySpans } from '../trace/cluster-tracer.js';

export interface ServingOptions {
  /** Decode with the cluster's Medusa heads over this tree. */
  medusa?: { tree: MedusaTree; name: string };
  /** Requests that may wait for a sequence slot before more are refused. */
  maxWaiting: number;
  /** host:port of this coordinator, reported in every generation's stats. */
  address: string;
  log?: (line: string, fields?: Record<string, string | number>) => void;
  /** Where the request and step metrics go (default: a registry of this engine's own). */
  metrics?: ServingMetrics;
}

export type FinishReason = 'length' | 'stop' | 'cancelled';

export interface Outcome {
  promptTokenIds: number[];
  tokenIds: number[];
  text: string;
  finishReason: FinishReason;
  stats: GenerationStats;
}

export interface RunHooks {
  /** The tokens accepted since the last call (one step's worth) and their text. */
  onTokens?: (tokenIds: number[], text: string, all: readonly number[]) => void;
  signal?: AbortSignal;
  /** Fill `out` with each accepted token's log-probability and its `top` alternatives. */
  logprobs?: { top: number; out: TokenLogprob[] };
}

/** Adds one attempt's Medusa counts into a request's. */
function addSpec(into: SpecRecord, from: SpecRecord): void {
  into.steps += from.steps;
  into.draftTokens += from.draftTokens;
  const per = into.acceptedPerDepth as number[];
  from.acceptedPerDepth.forEach((n, d) => { per[d] = (per[d] ?? 0) + n; });
}

/** Thrown out of the decode loop when a generation is cancelled. */
class Stopped extends Error {}

/** The caller's onTokens threw: that is the generation's error, not the cluster's. */
class HookFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('a token listener failed');
  }
}

/** Cluster restarts one generation rides through before it fails. */
const MAX_RECOVERIES = 3;

interface Attempt {
  promptIds: number[];
  maxTokens: number;
  stopIds: number[];
  onToken: (token: number, prev: number) => void;
  onChoice?: ClusterSampling['onChoice'];
  /** With Medusa heads: the log-probability of the token a step's `row` chose (see medusaGenerate's onToken). */
  onMedusaChoice?: (backend: ClusterMedusaBackend, row: number, token: number) => void;
}

/**
 * Tokens per greedy run on the ranks while serving (ClusterTokenSource's greedyRun): a run takes
 * the cluster for this many steps, so a request that arrives meanwhile waits at most this long to
 * join the batch, while the round trip is paid once per this many tokens.
 */
export const SERVING_GREEDY_RUN = 4;

export class ServingEngine {
  readonly batcher: StepBatcher;
  readonly slots: SequenceSlots;
  readonly recent: RecentSteps;
  readonly metrics: ServingMetrics;
  tokens = 0;
  private running = 0;
  private idle: (() => void)[] = [];

  constructor(readonly cluster: ServedCluster, readonly tokenizer: Tokenizer, readonly options: ServingOptions) {
    this.recent = new RecentSteps(cluster.tp);
    this.metrics = options.metrics ?? new ServingMetrics();
    this.batcher = new StepBatcher(cluster, (step, _sequences, rows) => { this.recent.record(step, rows); this.metrics.step(step); });
    this.slots = new SequenceSlots(cluster.options.maxSequences, options.maxWaiting);
  }

  get limits(): RequestLimits {
    const { config } = this.cluster;
    return { vocabSize: config.vocabSize, context: config.maxSeqLen, maxTopK: this.cluster.options.topK, medusa: this.options.medusa !== undefined };
  }

  /** Generations running or waiting for a slot. */
  get inFlight(): number { return this.running; }

  /** Resolves when no generation is running or waiting. */
  whenIdle(): Promise<void> {
    return this.running === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  check(req: GenerateRequest__Output, fallbackSeed: number): Generation {
    return checkRequest(req, this.tokenizer, this.limits, fallbackSeed);
  }

  /** The full text of a prompt and its continuation, as `octoserve generate --json` prints it. */
  text(promptIds: readonly number[], tokenIds: readonly number[]): string {
    return this.tokenizer.decode([...promptIds.slice(1), ...tokenIds], promptIds[0]);
  }

  /** One decode of `attempt` on `slot`, plain or with Medusa; the tokens go to attempt.onToken. */
  private async decodeOnce(slot: number, gen: Generation, attempt: Attempt): Promise<{ result: GenerateResult; steps: number; spec?: SpecRecord }> {
    const { promptIds, maxTokens, stopIds, onToken, onMedusaChoice } = attempt;
    if (this.options.medusa !== undefined) {
      const backend = new ClusterMedusaBackend(this.batcher, slot, gen.seed);
      const typical = gen.temperature > 0;
      const withRow = onMedusaChoice === undefined ? onToken : (token: number, prev: number, row: number): void => {
        onMedusaChoice(backend, row, token);
        onToken(token, prev);
      };
      const result = await medusaGenerate(backend, promptIds, {
        tree: this.options.medusa.tree, acceptance: typical ? 'typical' : 'greedy', temperature: gen.temperature, seed: gen.seed, maxTokens, stopIds, onToken: withRow,
        onVerify: verifySpans(this.batcher.tracer),
      });
      // the loop reports acceptance per depth as a fraction of its steps: back to counts
      const { drafts, acceptedPerDepth } = result.stats;
      const spec = {
        steps: this.options.medusa.tree.nodeCount > 1 ? drafts / (this.options.medusa.tree.nodeCount - 1) : 0, draftTokens: drafts,
        acceptedPerDepth: acceptedPerDepth.map((f) => Math.round(f * result.stats.steps)),
      };
      return { result, steps: backend.timings.wallMs.length, spec };
    }
    // a greedy run holds the cluster for its steps (a request arriving meanwhile waits for them): short runs here
    const source = new ClusterTokenSource(this.batcher, slot, {
      temperature: gen.temperature, topK: gen.topK, topP: gen.topP, seed: gen.seed, onChoice: attempt.onChoice, greedyRun: SERVING_GREEDY_RUN,
    });
    const result = await generateFrom(source, promptIds, { maxTokens, stopIds, onToken });
    return { result, steps: source.timings.wallMs.length };
  }

  async run(gen: Generation, hooks: RunHooks = {}): Promise<Outcome> {
    this.running += 1;
    const queued = performance.now();
    try {
      const slot = await this.slots.acquire(hooks.signal);
      const queueMs = performance.now() - queued;
      try {
        return await this.decode(slot, gen, hooks, queueMs, queued);
      } finally {
        this.slots.release(slot);
      }
    } finally {
      this.running -= 1;
      if (this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  private async decode(slot: number, gen: Generation, hooks: RunHooks, queueMs: number, arrived: number): Promise<Outcome> {
    const { promptIds, maxTokens } = gen;
    const stopIds = stopTokenIds(this.tokenizer, this.cluster.config);
    const tokenIds: number[] = [];
    const utf8 = new TextDecoder();
    let chunk: number[] = [];
    let chunkText = '';
    let lastChunkAt: number | undefined;
    const spec: SpecRecord = { steps: 0, draftTokens: 0, acceptedPerDepth: new Array<number>(this.options.medusa?.tree.maxDepth ?? 0).fill(0) };
    // the tokens one step accepts arrive in one synchronous burst: send them as one chunk
    const flush = (): void => {
      if (chunk.length === 0) return;
      const ids = chunk;
      const text = chunkText;
      chunk = [];
      chunkText = '';
      const now = performance.now();
      if (lastChunkAt === undefined) this.metrics.firstToken(now - arrived);
      else this.metrics.nextTokens(now - lastChunkAt);
      lastChunkAt = now;
      this.metrics.tokens(ids.length);
      hooks.onTokens?.(ids, text, tokenIds);
    };
    // a caller's onTokens that throws from the microtask would take the process down: keep its
    // error and end this generation with it at the next token (or at the end)
    let hookFailure: unknown;
    const flushLater = (): void => {
      try {
        flush();
      } catch (err) {
        hookFailure ??= err;
      }
    };
    // the chosen token's log-probability, from the step it came from, until onToken takes it
    let chosen: TokenLogprob | undefined;
    const wanted = hooks.logprobs;
    const onChoice = wanted === undefined ? undefined : (ranks: Parameters<NonNullable<ClusterSampling['onChoice']>>[0], row: number, token: number): void => {
      chosen = tokenLogprob(ranks, row, token, wanted.top, this.cluster.options.topK, gen.temperature);
    };
    const onMedusaChoice = wanted === undefined ? undefined : (backend: ClusterMedusaBackend, row: number, token: number): void => {
      chosen = backend.logprob(row, token, wanted.top, gen.temperature);
    };
    const onToken = (token: number, prev: number): void => {
      if (hooks.signal?.aborted === true) throw new Stopped();
      tokenIds.push(token);
      if (chosen !== undefined) hooks.logprobs?.out.push(chosen);
      this.tokens += 1;
      if (hookFailure !== undefined) throw new HookFailed(hookFailure);
      if (chunk.length === 0) queueMicrotask(flushLater);
      chunk.push(token);
      chunkText += utf8.decode(this.tokenizer.decodePiece(prev, token), { stream: true });
    };
    const started = performance.now();
    let finishReason: FinishReason = 'cancelled';
    let steps = 0;
    for (let recoveries = 0; ; recoveries++) {
      // the committed tokens so far are the prompt of this attempt: after a restart they are prefilled into fresh KV caches
      const prompt = recoveries === 0 ? promptIds : [...promptIds, ...tokenIds];
      const attempt: Attempt = { promptIds: prompt, maxTokens: maxTokens - tokenIds.length, stopIds, onToken, onChoice, onMedusaChoice };
      try {
        const r = await this.decodeOnce(slot, gen, attempt);
        finishReason = r.result.finishReason;
        steps += r.steps;
        if (r.spec !== undefined) addSpec(spec, r.spec);
        break;
      } catch (err) {
        if (err instanceof Stopped) break;
        if (err instanceof HookFailed) throw err.cause;
        if (recoveries >= MAX_RECOVERIES) throw err;
        await this.cluster.recover(err);
        this.options.log?.(`generation on sequence ${slot}: the cluster restarted; going on from ${tokenIds.length} committed tokens`, { sequence: slot, attempt: recoveries + 2 });
      }
    }
    if (hookFailure !== undefined) throw hookFailure;
    flush();
    const wallMs = performance.now() - started;
    this.metrics.finished({ promptTokens: promptIds.length, finishReason, queueMs, e2eMs: performance.now() - arrived });
    if (this.options.medusa !== undefined) this.metrics.speculated(spec);
    return {
      promptTokenIds: [...promptIds], tokenIds, text: this.text(promptIds, tokenIds),
      finishReason,
      stats: {
        tokens: tokenIds.length, wallMs, tokPerS: wallMs > 0 ? tokenIds.length / (wallMs / 1000) : 0, queueMs, steps,
        tokensPerStep: steps > 0 ? tokenIds.length / steps : 0, seed: gen.seed, coordinator: this.options.address,
        specSteps: spec.steps, draftTokens: spec.draftTokens, acceptedPerDepth: [...spec.acceptedPerDepth],
      },
    };
  }
}
