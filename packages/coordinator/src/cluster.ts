// A coordinator's view of its workers: registration, communicator, shards, and
// one step at a time sent to every rank and merged.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { openCheckpoint, quantizationHaloSlices } from '@octoserve/model';
import type { ModelConfig, WeightFormat } from '@octoserve/model';
import { decodeStepReply, DEFAULT_MAX_SEQUENCES, guardRequests, INTERNAL_SERVER_OPTIONS, internalServerCredentials, isQuantizedSlice, readShardSlices, uint32View, workerServices } from '@octoserve/wire';
import type { InternalTls, HealthReply__Output, LoadShardRequest, RankRows, SequenceStep, ShardAssignment, StepReply__Output, UploadShardMessage } from '@octoserve/wire';
import { loadMedusaHeads, medusaShardSlices } from '@octoserve/medusa';
import type { MedusaHeads } from '@octoserve/medusa';
import { FABRIC_ENV, resolveFabric } from '@octoserve/collectives';
import type { Fabric, SpinSetting } from '@octoserve/collectives';
import { LocalWorkers } from './local-launcher.js';
import { Registry } from './registry.js';
import type { Registration } from './registry.js';
import { planShards } from './sharding.js';
import type { ShardPlan } from './sharding.js';
import { RankClient, WorkerCallError } from './worker-client.js';
import type { ClusterTracer, StepTracer } from './trace/cluster-tracer.js';
import { StepEmbedding } from './step-embedding.js';

export interface ClusterOptions {
  modelPath: string;
  tp: number;
  /** Where the Registry listens (default 127.0.0.1:0). */
  listen?: string;
  /** Start workers locally with this command (`octoserve worker`); omit to wait for remote workers. */
  workerCommand?: readonly string[];
  /** 'read': each worker reads its slices from modelPath; 'upload': the coordinator streams them. */
  loadMode?: 'read' | 'upload';
  maxTokensPerStep?: number;
  topK?: number;
  maxPicked?: number;
  maxSequences?: number;
  threads?: number;
  /** Most time one step may take on the slowest rank before the cluster fails (ms). */
  stepTimeoutMs?: number;
  /** Registration, communicator and shard loading (ms). */
  startTimeoutMs?: number;
  allReduceAlgorithm?: string;
  /** How long a rank waiting in an all-reduce polls before it sleeps: µs or 'auto' (default: each worker's own setting). */
  spinUs?: SpinSetting;
  /** The collective fabric every rank runs (default: $OCTOSERVE_FABRIC, else the default); local workers are started on it. */
  fabric?: Fabric;
  /** How the workers hold their matmul weights: 'f32' as read, or block-quantized 'q8' / 'q4' (unset: each worker's own --weights, else f32). */
  weights?: WeightFormat;
  /** Medusa heads the workers hold, vocabulary-parallel like the LM head. */
  medusa?: { path: string; topK: number };
  log?: (line: string) => void;
  /** Each rank's shard loaded (for progress). */
  onShardLoaded?: (rank: number, loaded: number) => void;
  /** The cluster failed (a worker exited or a step failed): it can no longer step. */
  onFailure?: (err: Error) => void;
  /**
   * The cluster's shared secret (newClusterToken()): the Registry admits only workers that
   * carry it, every call to a worker carries it, local workers get it through their environment.
   * Unset: open, any caller that reaches a port is served.
   */
  clusterToken?: string;
  /** Mutual TLS on the Registry and every call to a worker; local workers get it too. */
  tls?: InternalTls;
  /** Record every step into this trace (see Cluster.traceWith). */
  tracer?: ClusterTracer;
}

/**
 * A fresh cluster's first steps run cold: V8 has not compiled the step path and the all-reduce
 * yet, onnxruntime's sessions make their first runs. Measured on the stories110M shape at tp=2
 * (q4a8), steps 1-30 took 14-75 ms and the later ones 11.5-13. So the cluster pays these steps
 * when it starts, on a scratch sequence it then releases, instead of its first requests.
 */
export const WARMUP_STEPS = 32;
/** The scratch sequence of the warm-up steps (far above the ids the serving layer hands out). */
const WARMUP_SEQUENCE = 2 ** 40;

/** A step's merged view: every rank's rows plus the per-rank timings. */
export interface ClusterStep {
  ranks: RankRows[];
  computeMs: number[];      // per rank: onnxruntime
  allReduceMs: number[];    // per rank: waiting in all-reduce
  workerMs: number[];       // per rank: the whole step on the worker
  allReduces: number;
  /** What each all-reduce of the step ran (rank 0's report; every rank runs the same) and the bytes it carried. */
  allReduceAlgorithm: string;
  allReduceBytes: number;
  wallMs: number;
  /** Steps the ranks ran for this request: 1, or more when they chose tokens themselves (`greedy`). */
  steps: number;
  /** With `greedy`: the tokens the ranks chose (every rank the same), in order. */
  greedyIds?: Uint32Array;
}

/** A step's greedy run on the ranks (StepRequest.greedy_tokens): up to `tokens` tokens chosen there, ending after a stop id. */
export interface GreedyRun {
  tokens: number;
  stopIds: readonly number[];
}

/** What the decode loops need of a cluster: its model, its limits, and steps. */
export interface StepRunner {
  readonly config: ModelConfig;
  readonly options: Cluster['options'];
  /** One step; with `greedy`, a runner that can have the ranks choose the tokens (its answer then has greedyIds), else it ignores it. */
  step(sequences: SequenceStep[], pickedIds?: Uint32Array, greedy?: GreedyRun): Promise<ClusterStep>;
  /** Where the decode loops record their own spans (merging, verification) when the steps are traced. */
  readonly tracer?: StepTracer | undefined;
}

/** What serving needs of a cluster: steps, its ranks' health, and a way back after a failure. */
export interface ServedCluster extends StepRunner {
  readonly tp: number;
  readonly registrations: Registration[];
  health(timeoutMs: number): Promise<(HealthReply__Output | Error)[]>;
  /** After a failed step: resolves once the cluster can step again, or rejects (with `err` when it never will). */
  recover(err: unknown): Promise<void>;
  close(): Promise<void>;
}

export class ClusterError extends Error {
  override name = 'ClusterError';
}

function bind(server: grpc.Server, address: string, tls: InternalTls | undefined): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, internalServerCredentials(tls),
    (err, port) => (err ? reject(new ClusterError(`cannot listen on ${address}: ${err.message}`)) : resolve(port))));
}

const CHUNK_BYTES = 1 << 20;
/** How long a failure waits for a local worker's exit report, the most telling reason. */
const EXIT_REPORT_MS = 250;

function* chain<T>(...parts: Iterable<T>[]): Generator<T> {
  for (const p of parts) yield* p;
}

/** The UploadShard messages of one rank: the load request, then its slices in 1 MiB chunks. */
function* uploadMessages(modelPath: string, shard: ShardAssignment, load: LoadShardRequest, heads: MedusaHeads | undefined): Generator<UploadShardMessage> {
  yield { load };
  const ckpt = openCheckpoint(modelPath);
  try {
    // unless f32 is asked for (empty: the worker's own --weights), a rank also gets the columns
    // completing the boundary blocks of its wo and w2 slices (at most 31 on each side)
    const halos = load.weights === 'f32' ? [] : quantizationHaloSlices(ckpt, shard);
    const slices = chain(readShardSlices(ckpt, shard), heads === undefined ? [] : medusaShardSlices(heads, shard.vocab), halos);
    for (const slice of slices) {
      // a weight stored block-quantized goes as stored: its codes, then its scales
      const quantized = isQuantizedSlice(slice) ? { bits: slice.q.bits, padLeft: slice.padLeft, padRight: slice.padRight } : {};
      const bytes = isQuantizedSlice(slice)
        ? Buffer.concat([slice.q.packed, new Uint8Array(slice.q.scales.buffer, slice.q.scales.byteOffset, slice.q.scales.byteLength)])
        : Buffer.from(slice.data.buffer, slice.data.byteOffset, slice.data.byteLength);
      for (let offset = 0; offset < bytes.length || offset === 0; offset += CHUNK_BYTES) {
        yield { tensor: { name: slice.name, shape: slice.shape, offset, data: bytes.subarray(offset, offset + CHUNK_BYTES), ...quantized } };
        if (bytes.length === 0) break;
      }
    }
  } finally {
    ckpt.close();
  }
}

/** The tokens the ranks chose in a greedy run: the same on every rank, or the cluster is broken. */
function agreedGreedyIds(stepId: number, replies: readonly StepReply__Output[]): Uint32Array {
  const first = replies[0]!.greedyIds;
  for (const [r, reply] of replies.entries()) {
    if (!reply.greedyIds.equals(first)) {
      throw new ClusterError(`step ${stepId}: rank ${r} chose other tokens than rank 0 in its greedy run (${reply.greedyIds.length / 4} against ${first.length / 4}): the ranks disagree`);
    }
  }
  if (first.length === 0) throw new ClusterError(`step ${stepId}: a greedy run answered no token`);
  return uint32View(first);
}

export class Cluster implements ServedCluster {
  private stepId = 0;
  private failure: Error | undefined;
  /** Why the cluster failed, once the exit report of a local worker (the most telling reason) had a moment to arrive. */
  private reason: Promise<Error> | undefined;
  /** A local worker's exit: the most telling reason a step failed. */
  private exitError: ClusterError | undefined;
  private traced: ClusterTracer | undefined;

  private constructor(
    readonly config: ModelConfig,
    readonly plan: ShardPlan,
    readonly options: Required<Pick<ClusterOptions, 'topK' | 'maxPicked' | 'maxTokensPerStep' | 'stepTimeoutMs' | 'maxSequences'>> & { medusaHeads: number; medusaTopK: number },
    private readonly server: grpc.Server,
    private readonly clients: RankClient[],
    readonly registrations: Registration[],
    private readonly workers: LocalWorkers | undefined,
    private readonly onFailure: (err: Error) => void,
    private readonly embedding: StepEmbedding,
  ) {}

  get tp(): number { return this.plan.tp; }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const log = opts.log ?? (() => {});
    const ckpt = openCheckpoint(opts.modelPath);
    const config = ckpt.config;
    // the one copy of the token embedding: each step's rows go to the ranks in the request
    let table: Float32Array;
    try {
      table = ckpt.read('tok_embeddings');
    } finally {
      ckpt.close();
    }
    const plan = planShards(config, opts.tp);
    const heads = opts.medusa === undefined ? undefined
      : loadMedusaHeads(opts.medusa.path, { baseVocab: config.vocabSize, baseDim: config.dim, log });
    const startTimeout = opts.startTimeoutMs ?? 60_000;
    const security = { clusterToken: opts.clusterToken ?? '', tls: opts.tls };
    const fabric = resolveFabric(opts.fabric);
    const registry = new Registry(opts.tp, security.clusterToken, log);
    const server = new grpc.Server(INTERNAL_SERVER_OPTIONS);
    server.addService(guardRequests(workerServices().Registry.service, 'octoserve/v1/worker.proto', 'octoserve.v1.Registry'), registry.handlers() as unknown as grpc.UntypedServiceImplementation);
    const listen = opts.listen ?? '127.0.0.1:0';
    const port = await bind(server, listen, opts.tls);
    const registryAddress = `${listen.slice(0, listen.lastIndexOf(':'))}:${port}`;
    let earlyExit: ClusterError | undefined;
    let cluster: Cluster | undefined;
    let rejectStart: (err: Error) => void = () => {};
    const exited = new Promise<never>((_, reject) => { rejectStart = reject; });
    exited.catch(() => {}); // observed through Promise.race below
    const workers = opts.workerCommand === undefined ? undefined : new LocalWorkers({
      workerCommand: opts.workerCommand, worldSize: opts.tp, registryAddress, threads: opts.threads, log, ...security, env: { [FABRIC_ENV]: fabric },
      onExit: (_rank, description) => {
        earlyExit ??= new ClusterError(description);
        rejectStart(earlyExit);
        cluster?.workerExited(earlyExit);
      },
    });
    const clients: RankClient[] = [];
    try {
      log(`coordinator: waiting for ${opts.tp} workers on ${registryAddress}`);
      const regs = await Promise.race([registry.waitForAll(startTimeout), exited]);
      for (const r of regs) clients.push(new RankClient(r.rank, r.address, security));
      const communicatorId = randomUUID();
      const peers = regs.map((r) => r.collectiveAddress);
      const inits = await Promise.race([exited, Promise.all(clients.map((c) => c.initCommunicator({
        communicatorId, rank: c.rank, peerAddresses: peers, deadlineMs: 30_000, algorithm: opts.allReduceAlgorithm ?? '', fabric, spinUs: opts.spinUs === undefined ? '' : String(opts.spinUs),
      }, startTimeout)))]);
      const options = {
        topK: opts.topK ?? 64, maxPicked: opts.maxPicked ?? 1, maxTokensPerStep: opts.maxTokensPerStep ?? 64,
        stepTimeoutMs: opts.stepTimeoutMs ?? 5_000, maxSequences: opts.maxSequences ?? DEFAULT_MAX_SEQUENCES,
      };
      const t0 = performance.now();
      let loaded = 0;
      await Promise.race([exited, Promise.all(clients.map((c) => {
        const shard = plan.ranks[c.rank] as ShardAssignment;
        const load: LoadShardRequest = {
          modelPath: opts.loadMode === 'upload' ? '' : opts.modelPath, configJson: JSON.stringify(config),
          shard, maxTokensPerStep: options.maxTokensPerStep, topK: options.topK,
          maxPicked: options.maxPicked, maxSequences: options.maxSequences, threads: opts.threads ?? 1,
          medusaPath: opts.loadMode === 'upload' ? '' : opts.medusa?.path ?? '', medusaHeads: heads?.numHeads ?? 0,
          medusaLayers: heads?.numLayers ?? 0, medusaTopK: opts.medusa?.topK ?? 0, weights: opts.weights ?? '',
        };
        const loading = opts.loadMode === 'upload'
          ? c.uploadShard(uploadMessages(opts.modelPath, shard, load, heads), startTimeout)
          : c.loadShard(load, startTimeout);
        return loading.then((reply) => { opts.onShardLoaded?.(c.rank, ++loaded); return reply; });
      }))]);
      log(`coordinator: ${opts.tp} shards loaded in ${(performance.now() - t0).toFixed(0)} ms`);
      const links = inits.filter((r) => r.stepAddress !== '').length;
      for (const [i, c] of clients.entries()) c.openSteps(communicatorId, inits[i]?.stepAddress ?? '');
      log(`coordinator: steps go to ${links === opts.tp ? 'every rank over its socket step link' : links === 0 ? 'every rank over its gRPC Steps stream' : `${links} ranks over socket step links, the rest over gRPC`}`);
      cluster = new Cluster(config, plan, { ...options, medusaHeads: heads?.numHeads ?? 0, medusaTopK: opts.medusa?.topK ?? 0 }, server, clients, regs, workers, opts.onFailure ?? (() => {}),
        new StepEmbedding(table, config.dim, options.maxTokensPerStep));
      if (earlyExit !== undefined) cluster.workerExited(earlyExit);
      await Promise.race([exited, cluster.warmUp(WARMUP_STEPS, log)]);
      if (opts.tracer !== undefined) cluster.traceWith(opts.tracer);
      return cluster;
    } catch (err) {
      for (const c of clients) c.close();
      await workers?.close();
      server.forceShutdown();
      throw err;
    }
  }

  /** Runs `steps` single-token steps of a scratch sequence, then releases it (see WARMUP_STEPS). */
  private async warmUp(steps: number, log: (line: string) => void): Promise<void> {
    const n = Math.min(steps, this.config.maxSeqLen);
    if (n <= 0) return;
    const t0 = performance.now();
    for (let p = 0; p < n; p++) {
      await this.step([{ sequenceId: WARMUP_SEQUENCE, tokens: [this.config.bosId], positions: [p], keepAll: p > 0, reset: p === 0 }]);
    }
    await this.release([WARMUP_SEQUENCE]);
    log(`coordinator: warmed up with ${n} steps in ${(performance.now() - t0).toFixed(0)} ms`);
  }

  /** Records every following step (each rank's spans, the round trip) into `tracer`; undefined stops. */
  traceWith(tracer: ClusterTracer | undefined): void {
    this.traced = tracer;
    for (const c of this.clients) c.tracing = tracer !== undefined;
  }

  get tracer(): ClusterTracer | undefined { return this.traced; }

  /** A local worker process exited: the cluster fails with that as the reason. */
  workerExited(err: ClusterError): void {
    this.exitError ??= err;
    this.fail(err);
  }

  /** Fails the cluster: pending and later steps reject with `err`. */
  fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    for (const c of this.clients) c.kill(err);
    // a dropped stream is usually a dead worker: give its exit report a moment to name the cause
    const wait = this.workers !== undefined && this.exitError === undefined ? EXIT_REPORT_MS : 0;
    this.reason = new Promise((resolve) => setTimeout(() => resolve(this.exitError ?? err), wait));
    void this.reason.then(this.onFailure);
  }

  /**
   * Sends one step to every rank and waits (with the step deadline, for a greedy run's steps
   * together: a hung rank is noticed as soon as without a run) for all replies.
   */
  async step(sequences: SequenceStep[], pickedIds?: Uint32Array, greedy?: GreedyRun): Promise<ClusterStep> {
    if (this.failure !== undefined) throw this.failure;
    const stepId = ++this.stepId;
    const t0 = performance.now();
    const x = this.embedding.rows(sequences);
    const req = {
      stepId, sequences, x, pickedIds: pickedIds === undefined ? Buffer.alloc(0) : Buffer.from(pickedIds.buffer, pickedIds.byteOffset, pickedIds.byteLength),
      greedyTokens: greedy?.tokens ?? 0, stopIds: [...(greedy?.stopIds ?? [])],
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ClusterError(`step ${stepId} got no answer from every rank within ${this.options.stepTimeoutMs} ms`)), this.options.stepTimeoutMs);
    });
    try {
      const replies = await Promise.race([Promise.all(this.clients.map((c) => c.step(req))), deadline]);
      this.traced?.step(stepId, t0, performance.now(), replies, this.clients);
      const greedyIds = greedy === undefined ? undefined : agreedGreedyIds(stepId, replies);
      return {
        ranks: replies.map(decodeStepReply), computeMs: replies.map((r) => r.computeMs), allReduceMs: replies.map((r) => r.allreduceMs), workerMs: replies.map((r) => r.stepMs),
        allReduces: replies[0]?.allreduces ?? 0, allReduceAlgorithm: replies[0]?.allreduceAlgorithm ?? '', allReduceBytes: replies[0]?.allreduceBytes ?? 0,
        wallMs: performance.now() - t0, steps: greedyIds?.length ?? 1, ...(greedyIds === undefined ? {} : { greedyIds }),
      };
    } catch (err) {
      const e = this.failure ?? (err instanceof WorkerCallError || err instanceof ClusterError ? err : new ClusterError(String(err)));
      this.fail(e);
      throw await (this.reason as Promise<Error>);
    } finally {
      clearTimeout(timer);
      this.embedding.done(x);
    }
  }

  /** Each rank's step link ('' where steps go over its gRPC Steps stream). */
  get stepAddresses(): string[] {
    return this.clients.map((c) => c.stepAddress);
  }

  /** Each rank's health, or why it did not answer within `timeoutMs`. */
  health(timeoutMs: number): Promise<(HealthReply__Output | Error)[]> {
    return Promise.all(this.clients.map((c) => c.health(timeoutMs).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
  }

  /** Why the cluster can no longer step, once it has failed. */
  get failed(): Error | undefined { return this.failure; }

  /** A plain cluster does not come back: recovering rethrows. */
  recover(err: unknown): Promise<void> {
    return Promise.reject(err);
  }

  release(sequenceIds: number[]): Promise<unknown> {
    return Promise.all(this.clients.map((c) => c.release(sequenceIds, this.options.stepTimeoutMs)));
  }

  get workerPids(): number[] {
    return this.workers?.pids ?? this.registrations.map((r) => r.pid);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await this.workers?.close();
    this.server.forceShutdown();
  }
}
