// What a coordinator serves at GET /metrics (Prometheus text, prom-client): vLLM's request and
// speculative-decoding metrics under the `octoserve:` prefix, so dashboards built for vLLM port
// by a rename, and octoserve's own: per-rank step compute and all-reduce time, cluster restarts,
// jobs by state.
//
// Every counter is what the responses report: generation tokens as they are streamed, prompt
// tokens and finish reasons once per request, drafts and accepted drafts from the Medusa loop's
// own counts. Each coordinator has its own registry (no module globals): two in one process,
// as in tests, do not mix their numbers.
//
// Not here: all-reduce time by algorithm and size class. A worker's StepReply carries its
// all-reduce time and count per step, not which algorithm ran or on how many bytes, so the
// coordinator has nothing to split it by.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterStep } from '../cluster.js';

const PREFIX = 'octoserve:';

/** Seconds, from a few ms (one token on a small model) to minutes (a long generation). */
const REQUEST_SECONDS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640];
/** Seconds between two steps' tokens. */
const TOKEN_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5];
/** Seconds of one step's part on one rank. */
/** One all-reduce: from tens of microseconds (a few KiB through shared memory) to a slow fabric's tens of ms. */
const ALLREDUCE_SECONDS = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
const STEP_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What the gauges read when scraped. */
export interface MetricsSources {
  /** Generations holding a sequence slot, and those waiting for one. */
  running(): number;
  waiting(): number;
  /** Cluster restarts since start (a supervised cluster's count; 0 for a plain one). */
  restarts(): number;
  /** Jobs in the queue by state; undefined when the queue does not answer. */
  jobCounts(): Promise<Record<string, number> | undefined>;
}

/** One finished request, as its response reports it. */
export interface RequestRecord {
  promptTokens: number;
  finishReason: string;
  queueMs: number;
  /** From arrival to the end. */
  e2eMs: number;
}

/** Medusa's counts for one request: tree steps, draft tokens verified, steps accepted to depth d + 1. */
export interface SpecRecord {
  steps: number;
  draftTokens: number;
  acceptedPerDepth: readonly number[];
}

/** `bytes` rounded up to a power of two, as a label: 256B, 4KiB, 1MiB. */
export function sizeClass(bytes: number): string {
  const p = 2 ** Math.ceil(Math.log2(Math.max(1, bytes)));
  if (p < 1024) return `${p}B`;
  if (p < 1024 * 1024) return `${p / 1024}KiB`;
  return `${p / (1024 * 1024)}MiB`;
}

export class ServingMetrics {
  readonly registry = new Registry();
  private readonly promptTokens: Counter;
  private readonly generationTokens: Counter;
  private readonly success: Counter<'finished_reason'>;
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;
  private readonly queueTime: Histogram;
  private readonly drafts: Counter;
  private readonly draftTokens: Counter;
  private readonly accepted: Counter;
  private readonly acceptedPerPos: Counter<'position'>;
  private readonly stepCompute: Histogram<'rank'>;
  private readonly stepAllReduce: Histogram<'rank'>;
  private readonly stepWorker: Histogram<'rank'>;
  private readonly steps: Counter;
  private readonly allReduceTime: Histogram<'algorithm' | 'size_class'>;
  private readonly allReduceCalls: Counter<'algorithm' | 'size_class'>;
  /** The labelled children a step observes, made once per rank and per (algorithm, size). */
  private readonly rankChildren: { compute: Histogram.Internal<'rank'>; allReduce: Histogram.Internal<'rank'>; worker: Histogram.Internal<'rank'> }[] = [];
  private readonly allReduceChildren = new Map<string, Map<number, { time: Histogram.Internal<'algorithm' | 'size_class'>; calls: Counter.Internal }>>();
  private sources: MetricsSources | undefined;

  constructor() {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
      new Counter({ name: PREFIX + name, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: L[] = []): Histogram<L> =>
      new Histogram({ name: PREFIX + name, help, buckets, labelNames, registers });
    const self = (): MetricsSources | undefined => this.sources;

    new Gauge({ name: `${PREFIX}num_requests_running`, help: 'Generations holding a sequence slot.', registers,
      collect() { this.set(self()?.running() ?? 0); } });
    new Gauge({ name: `${PREFIX}num_requests_waiting`, help: 'Generations waiting for a sequence slot.', registers,
      collect() { this.set(self()?.waiting() ?? 0); } });
    this.ttft = histogram('time_to_first_token_seconds', 'From arrival to the first generated token.', REQUEST_SECONDS);
    this.itl = histogram('inter_token_latency_seconds', 'Between the tokens of two successive steps of one generation.', TOKEN_SECONDS);
    this.e2e = histogram('e2e_request_latency_seconds', 'From arrival to the end of a generation.', REQUEST_SECONDS);
    this.queueTime = histogram('request_queue_time_seconds', 'Waiting for a sequence slot.', REQUEST_SECONDS);
    this.promptTokens = counter('prompt_tokens_total', 'Prompt tokens of the generations run.');
    this.generationTokens = counter('generation_tokens_total', 'Tokens generated.');
    this.success = counter('request_success_total', 'Generations finished, by finish reason (length, stop, cancelled).', ['finished_reason']);
    this.drafts = counter('spec_decode_num_drafts_total', 'Medusa tree steps (each verifies one tree of drafts).');
    this.draftTokens = counter('spec_decode_num_draft_tokens_total', 'Draft tokens verified (tree nodes other than the root, over all steps).');
    this.accepted = counter('spec_decode_num_accepted_tokens_total', 'Draft tokens accepted.');
    this.acceptedPerPos = counter('spec_decode_num_accepted_tokens_per_pos_total', 'Tree steps whose accepted path reached depth position + 1.', ['position']);
    this.steps = counter('cluster_steps_total', 'Steps the cluster ran (one step carries the rows of every batched generation).');
    this.stepCompute = histogram('step_compute_seconds', "One step's onnxruntime time on a rank.", STEP_SECONDS, ['rank']);
    this.stepAllReduce = histogram('step_allreduce_seconds', "One step's time waiting in all-reduce on a rank.", STEP_SECONDS, ['rank']);
    this.stepWorker = histogram('step_worker_seconds', "One step's whole time on a rank's worker.", STEP_SECONDS, ['rank']);
    this.allReduceTime = histogram('allreduce_seconds', "One all-reduce on a rank (a step's all-reduce time over its count), by the algorithm it ran and its size class (bytes rounded up to a power of two).",
      ALLREDUCE_SECONDS, ['algorithm', 'size_class']);
    this.allReduceCalls = counter('allreduce_calls_total', 'All-reduces the cluster ran (one call spans every rank), by algorithm and size class.', ['algorithm', 'size_class']);
    const restarts = new Counter({ name: `${PREFIX}cluster_restarts_total`, help: 'Times the cluster was restarted after a fault.', registers,
      collect() {
        // the supervisor keeps the count: mirror it
        this.reset();
        this.inc(self()?.restarts() ?? 0);
      } });
    void restarts;
    new Gauge({ name: `${PREFIX}jobs`, help: 'Jobs in the queue by state.', labelNames: ['state'], registers,
      async collect() {
        const counts = await self()?.jobCounts();
        this.reset();
        if (counts !== undefined) for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      } });
  }

  /** Where the gauges read from: set once the engine and the queue exist. */
  readFrom(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** A generation's first token arrived `sinceArrivalMs` after the request. */
  firstToken(sinceArrivalMs: number): void {
    this.ttft.observe(sinceArrivalMs / 1000);
  }

  /** A step's tokens arrived, `sincePreviousMs` after the previous step's. */
  nextTokens(sincePreviousMs: number): void {
    this.itl.observe(sincePreviousMs / 1000);
  }

  tokens(n: number): void {
    this.generationTokens.inc(n);
  }

  finished(r: RequestRecord): void {
    this.promptTokens.inc(r.promptTokens);
    this.success.inc({ finished_reason: r.finishReason });
    this.queueTime.observe(r.queueMs / 1000);
    this.e2e.observe(r.e2eMs / 1000);
  }

  speculated(s: SpecRecord): void {
    this.drafts.inc(s.steps);
    this.draftTokens.inc(s.draftTokens);
    let accepted = 0;
    s.acceptedPerDepth.forEach((n, position) => {
      accepted += n;
      this.acceptedPerPos.inc({ position: String(position) }, n);
    });
    this.accepted.inc(accepted);
  }

  /** One cluster step's timings, per rank, as the workers reported them. */
  /** Counts a step request: a greedy run's steps each observed with the run's mean. */
  step(step: ClusterStep): void {
    const n = step.steps;
    this.steps.inc(n);
    const calls = step.allReduces;
    const byAlgorithm = calls > 0 ? this.allReduceChild(step.allReduceAlgorithm || 'unknown', step.allReduceBytes) : undefined;
    byAlgorithm?.calls.inc(calls * n);
    for (let r = 0; r < step.workerMs.length; r++) {
      const rank = this.rankChildren[r] ?? this.rankChild(r);
      const allReduceMs = (step.allReduceMs[r] ?? 0) / n;
      for (let k = 0; k < n; k++) {
        rank.worker.observe((step.workerMs[r] ?? 0) / n / 1000);
        rank.compute.observe((step.computeMs[r] ?? 0) / n / 1000);
        rank.allReduce.observe(allReduceMs / 1000);
        byAlgorithm?.time.observe(allReduceMs / calls / 1000);
      }
    }
  }

  private rankChild(r: number): ServingMetrics['rankChildren'][number] {
    const labels = { rank: String(r) };
    const child = { compute: this.stepCompute.labels(labels), allReduce: this.stepAllReduce.labels(labels), worker: this.stepWorker.labels(labels) };
    this.rankChildren[r] = child;
    return child;
  }

  private allReduceChild(algorithm: string, bytes: number): { time: Histogram.Internal<'algorithm' | 'size_class'>; calls: Counter.Internal } {
    let sizes = this.allReduceChildren.get(algorithm);
    if (sizes === undefined) this.allReduceChildren.set(algorithm, sizes = new Map());
    let child = sizes.get(bytes);
    if (child === undefined) {
      const labels = { algorithm, size_class: sizeClass(bytes) };
      child = { time: this.allReduceTime.labels(labels), calls: this.allReduceCalls.labels(labels) };
      sizes.set(bytes, child);
    }
    return child;
  }

  /** The Prometheus text exposition and its content type, for GET /metrics. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
