// A coordinator in service: the Inference and Admin services on one gRPC port, a serving
// engine over the cluster, and the job queue consumed by it. Draining refuses new work and
// lets in-flight work finish; closing stops the port, the queue and the cluster.
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Tokenizer } from '@octoserve/model';
import type { MedusaTree } from '@octoserve/medusa';
import { PUBLIC_SERVER_OPTIONS, adminServices, guardRequests, inferenceServices, publicPackageDefinition } from '@octoserve/wire';
import type { ClusterStatusReply, DrainReply, ResumeReply, RankStatus } from '@octoserve/wire';
import type { ServedCluster } from '../cluster.js';
import { adminHandlers } from './admin-service.js';
import type { Administered } from './admin-service.js';
import { inferenceHandlers } from './inference-service.js';
import { JobCancelled, JobRefused } from './job-queue.js';
import type { JobQueue, JobRun, JobResult } from './job-queue.js';
import { RpcError } from '@octoserve/wire';
import { ServingEngine } from './serving-engine.js';
import { ServingMetrics } from '../metrics/serving-metrics.js';

/**
 * grpc.health.v1's names: '' is the process (SERVING until it closes: a liveness probe), the
 * Inference service takes new work (NOT_SERVING while draining, drained, or while the cluster
 * restarts after a fault: a readiness probe).
 */
const HEALTH_PROCESS = '';
const HEALTH_INFERENCE = 'octoserve.v1.Inference';

export interface ServeOptions {
  cluster: ServedCluster;
  tokenizer: Tokenizer;
  queue: JobQueue;
  /** Where the client API listens. */
  host: string;
  port: number;
  modelPath: string;
  medusa?: { tree: MedusaTree; name: string };
  /** Jobs this coordinator runs at once (default: the cluster's sequence slots). */
  jobConcurrency?: number;
  /** Interactive requests that may wait for a slot before more are refused (default 64). */
  maxWaiting?: number;
  /** Log lines; `fields` name what a line is about (job, attempt) for a structured log. */
  log?: (line: string, fields?: Record<string, string | number>) => void;
  /** Admin calls must carry this (`authorization: Bearer <token>`); `adminTokenHint` says where a person finds it. */
  adminToken: string;
  adminTokenHint: string;
  /** Serve the client API over TLS with this certificate chain and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  /** Called after a Shutdown RPC has been answered. */
  onShutdown?: () => void;
}

type ServingState = 'serving' | 'draining' | 'drained';

/** A job's default seed: from its id, so a job taken up again after a failure samples the same tokens. */
function seedOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
  return h % 2 ** 31;
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, credentials,
    (err, port) => (err ? reject(new Error(`cannot serve the client API on ${address}: ${err.message}`)) : resolve(port))));
}

export class CoordinatorServer implements Administered {
  private state: ServingState = 'serving';
  private readonly startedAt = performance.now();
  private closed = false;
  /** grpc.health.v1 on the client port. */
  readonly health = new HealthImplementation({ [HEALTH_PROCESS]: 'SERVING', [HEALTH_INFERENCE]: 'SERVING' });

  private constructor(
    readonly engine: ServingEngine,
    private readonly opts: ServeOptions,
    private readonly server: grpc.Server,
    readonly address: string,
  ) {}

  static async start(opts: ServeOptions): Promise<CoordinatorServer> {
    const server = new grpc.Server(PUBLIC_SERVER_OPTIONS);
    const credentials = opts.tls === undefined ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(null, [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }], false);
    const port = await bind(server, `${opts.host}:${opts.port}`, credentials);
    const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? hostname() : opts.host;
    const address = `${shownHost}:${port}`;
    const metrics = new ServingMetrics();
    const engine = new ServingEngine(opts.cluster, opts.tokenizer, { medusa: opts.medusa, maxWaiting: opts.maxWaiting ?? 64, address, log: opts.log, metrics });
    const coordinator = new CoordinatorServer(engine, opts, server, address);
    metrics.readFrom({
      running: () => engine.slots.active, waiting: () => engine.slots.waiting,
      restarts: () => { const c = opts.cluster as { restarts?: unknown }; return typeof c.restarts === 'number' ? c.restarts : 0; },
      jobCounts: async () => {
        // a queue that does not answer (Redis down) leaves the jobs gauge empty; the outage is logged where it is noticed
        const counts = await opts.queue.counts().catch(() => undefined);
        return counts === undefined ? undefined : { ...counts };
      },
    });
    coordinator.health.addToServer(server);
    // a cluster restarting after a fault takes no new work: not ready, though alive
    const supervised = opts.cluster as { watchRecovery?: (watcher: (recovering: boolean) => void) => void };
    supervised.watchRecovery?.((recovering) => {
      if (coordinator.state === 'serving' && !coordinator.closed) coordinator.health.setStatus(HEALTH_INFERENCE, recovering ? 'NOT_SERVING' : 'SERVING');
    });
    new ReflectionService(publicPackageDefinition()).addToServer(server);
    const state = { refusing: () => coordinator.refusing() };
    server.addService(guardRequests(inferenceServices().Inference.service, 'octoserve/v1/inference.proto', 'octoserve.v1.Inference'),
      inferenceHandlers(engine, opts.queue, state) as unknown as grpc.UntypedServiceImplementation);
    server.addService(guardRequests(adminServices().Admin.service, 'octoserve/v1/admin.proto', 'octoserve.v1.Admin'),
      adminHandlers(coordinator, opts.adminToken, opts.adminTokenHint) as unknown as grpc.UntypedServiceImplementation);
    opts.queue.consume((run) => coordinator.runJob(run), opts.jobConcurrency ?? opts.cluster.options.maxSequences);
    return coordinator;
  }

  private get log(): NonNullable<ServeOptions['log']> { return this.opts.log ?? (() => {}); }

  /** The Prometheus text of GET /metrics. */
  metricsText(): Promise<{ contentType: string; body: string }> {
    return this.engine.metrics.text();
  }


  refusing(): string | undefined {
    return this.state === 'serving' ? undefined
      : `the coordinator at ${this.address} is ${this.state}: it accepts no new work until \`octoserve resume\``;
  }

  private async runJob(run: JobRun): Promise<JobResult> {
    let gen;
    try {
      gen = this.engine.check(run.request, seedOf(run.id));
    } catch (err) {
      if (err instanceof RpcError) throw new JobRefused(err.message);
      throw err;
    }
    const about = { job: run.id, attempt: run.attempt };
    this.log(`job ${run.id}: started (attempt ${run.attempt})`, about);
    const outcome = await this.engine.run(gen, {
      signal: run.signal,
      onTokens: (_ids, _text, all) => run.progress(() => ({ promptTokenIds: gen.promptIds, tokenIds: [...all], text: this.engine.text(gen.promptIds, all) })),
    });
    if (outcome.finishReason === 'cancelled') {
      this.log(`job ${run.id}: cancelled after ${outcome.tokenIds.length} tokens`, about);
      throw new JobCancelled(outcome);
    }
    this.log(`job ${run.id}: generated ${outcome.tokenIds.length} tokens (${outcome.finishReason}, attempt ${run.attempt})`, about);
    return outcome;
  }

  async status(): Promise<ClusterStatusReply> {
    const { cluster, queue } = this.opts;
    const { config } = cluster;
    const [health, counts] = await Promise.all([cluster.health(2_000), queue.counts().catch(() => undefined)]);
    const ranks: RankStatus[] = cluster.registrations.map((reg, r) => {
      const h = health[r];
      const t = this.engine.recent.rank(r);
      const ok = h !== undefined && !(h instanceof Error);
      return {
        rank: r, host: reg.host, pid: reg.pid, device: reg.device,
        state: ok ? h.state : `unreachable: ${(h as Error | undefined)?.message ?? 'no answer'}`,
        rssBytes: ok ? h.rssBytes : 0, weightBytes: ok ? h.weightBytes : 0, lastStepMs: ok ? h.lastStepMs : 0,
        stepMsP50: t.stepP50, stepMsP99: t.stepP99, computeMsP50: t.computeP50, allreduceMsP50: t.allReduceP50,
      };
    });
    const medusa = this.opts.medusa;
    return {
      state: this.state, address: this.address, tp: cluster.tp, ranks, maxSequences: cluster.options.maxSequences,
      model: {
        path: this.opts.modelPath, vocabSize: config.vocabSize, context: config.maxSeqLen,
        architecture: `llama: ${config.nLayers} layers, dim ${config.dim}, ${config.nHeads} heads / ${config.nKvHeads} kv heads, hidden ${config.hiddenDim}`,
        medusaHeads: cluster.options.medusaHeads, medusaTree: medusa === undefined ? '' : `${medusa.name} (${medusa.tree.nodeCount} nodes)`,
      },
      queue: {
        generateActive: this.engine.slots.active, generateWaiting: this.engine.slots.waiting, jobsRunningHere: queue.runningHere,
        jobsWaiting: counts?.waiting ?? 0, jobsActive: counts?.active ?? 0, jobsCompleted: counts?.completed ?? 0, jobsFailed: counts?.failed ?? 0,
        durable: queue.durable, backend: counts === undefined ? `${queue.backend} (not answering)` : queue.backend,
      },
      steps: this.engine.recent.steps, tokens: this.engine.tokens, uptimeS: (performance.now() - this.startedAt) / 1000,
      allreduce: process.env.OCTOSERVE_ALLREDUCE_ALGO ?? 'auto',
    };
  }

  async drain(wait: boolean, timeoutMs: number): Promise<DrainReply> {
    if (this.state === 'serving') {
      this.state = 'draining';
      this.health.setStatus(HEALTH_INFERENCE, 'NOT_SERVING');
      this.log(`coordinator: draining (${this.engine.inFlight} in flight)`);
    }
    const settled = (async () => {
      await this.opts.queue.pause();
      await this.engine.whenIdle();
      if (this.state === 'draining') {
        this.state = 'drained';
        this.log('coordinator: drained');
      }
    })();
    if (wait) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise((r) => { timer = setTimeout(r, timeoutMs); })]);
      clearTimeout(timer);
    }
    return { state: this.state, inFlight: this.engine.inFlight };
  }

  resume(): ResumeReply {
    if (this.state !== 'serving') {
      this.state = 'serving';
      this.health.setStatus(HEALTH_INFERENCE, 'SERVING');
      this.opts.queue.resume();
      this.log('coordinator: serving again');
    }
    return { state: this.state };
  }

  async shutdown(): Promise<void> {
    await this.drain(true, 600_000);
    setImmediate(() => this.opts.onShutdown?.());
  }

  /** Stops the client API (open calls end), the queue consumer, and the cluster. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const name of [HEALTH_PROCESS, HEALTH_INFERENCE]) this.health.setStatus(name, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.server.forceShutdown(); resolve(); }, 2_000);
      this.server.tryShutdown(() => { clearTimeout(timer); resolve(); });
    });
    await this.opts.queue.close();
    await this.opts.cluster.close();
  }
}
