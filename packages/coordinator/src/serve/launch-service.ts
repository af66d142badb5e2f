// A coordinator in service on this host, start to stop: the workers started here (or awaited
// from elsewhere) under a supervisor that restarts the cluster after a fault, the job queue
// (Redis, else an in-process one), the client and admin APIs, the admin token where the CLI on
// this host finds it, and a clean stop on SIGINT/SIGTERM, a Shutdown call or `stop`.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { adminTokenFile } from '@octoserve/client';
import type { Fabric, SpinSetting } from '@octoserve/collectives';
import { DEFAULT_CHOICES_NAME, loadMedusa, treeLimits, type MedusaTree } from '@octoserve/medusa';
import { openModel, progressBar, type ProgressBar, type WeightFormat } from '@octoserve/model';
import type { InternalTls } from '@octoserve/wire';
import { Cluster, type ClusterOptions, type ServedCluster } from '../cluster.js';
import { newClusterToken } from '../registry.js';
import { openBullQueue } from './bull-queue.js';
import { CoordinatorServer } from './coordinator-server.js';
import type { JobQueue } from './job-queue.js';
import { MemoryJobQueue } from './memory-queue.js';
import { SupervisedCluster } from './supervised-cluster.js';
import type { FastifyInstance } from 'fastify';
import { HttpApi, type HttpServerOptions } from '../http/http-server.js';
import { metricsRoute } from '../metrics/metrics-route.js';
import type { ServingMetrics } from '../metrics/serving-metrics.js';
import { ChromeTrace } from '../trace/chrome-trace.js';
import { ClusterTracer } from '../trace/cluster-tracer.js';

/** The Redis tried when none is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const ADMIN_TOKEN_HINT = 'set $OCTOSERVE_ADMIN_TOKEN (a coordinator started without one writes it to ~/.config/octoserve/admin-token-PORT on its host)';

export interface LaunchServiceOptions {
  /** The model, as openModel takes it (default: $OCTOSERVE_MODEL, else stories260K, else synthetic). */
  model?: string | undefined;
  tokenizer?: string | undefined;
  /** Tensor-parallel degree. */
  tp: number;
  /** How to start a local worker; without it, wait for `tp` workers to register at `registry`. */
  workerCommand?: readonly string[] | undefined;
  /** host:port where workers register. */
  registry: string;
  loadMode?: 'read' | 'upload';
  /** Where the client API listens. */
  host: string;
  port: number;
  /** The job queue's Redis; without one, DEFAULT_REDIS_URL if it answers, else an in-process queue. */
  redisUrl?: string | undefined;
  queueName?: string | undefined;
  jobLockMs: number;
  jobConcurrency?: number | undefined;
  maxSequences: number;
  maxWaiting: number;
  medusa?: { dir: string; choices?: string | undefined } | undefined;
  /** The collective fabric of every rank (default: $OCTOSERVE_FABRIC, else the default). */
  fabric?: Fabric | undefined;
  /** How long a rank waiting in an all-reduce polls before it sleeps, µs or 'auto' (default: each worker's own). */
  spinUs?: SpinSetting | undefined;
  /** How every worker holds its matmul weights (default: each worker's own --weights, else f32). */
  weights?: WeightFormat | undefined;
  startTimeoutMs: number;
  stepTimeoutMs: number;
  /** The token Admin calls must carry; without one a random one is written to adminTokenFile(port) and removed at stop. */
  adminToken?: string | undefined;
  /** TLS of the client API. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** The cluster's shared secret (default: a new one for local workers; none for workers from elsewhere). */
  clusterToken?: string | undefined;
  /** Mutual TLS on the internal links. */
  internalTls?: InternalTls | undefined;
  /** Once serving, stream a story for `prompt` to stdout (`maxTokens`, or until position 256). */
  demo?: { prompt: string; maxTokens?: number | undefined } | undefined;
  /** The workers' and the coordinator's log lines (default: none). */
  log?: (line: string) => void;
  /** What the service says about itself: starting, serving, stopping (default: stderr, `octoserve: ` first); `fields` name what a line is about. */
  say?: (line: string, fields?: Record<string, string | number>) => void;
  /** Where the shards' progress bar is drawn (default stderr). */
  progress?: { write(s: string): unknown; isTTY?: boolean };
  /** Stop on SIGINT and SIGTERM (default true). */
  handleSignals?: boolean;
  /** Stops the service when aborted. */
  signal?: AbortSignal;
  /** Called once the client API serves, with its address. */
  onServing?: (address: string) => void;
  /** The HTTP API (OpenAI-compatible, /health) on --host:httpPort (0 picks a free port); none without it. */
  httpPort?: number | undefined;
  /** When httpPort is a default, not asked for: if it is taken, serve HTTP on a free port instead (and say so). */
  httpPortDefault?: boolean;
  /** Requests to the HTTP API's /v1 routes must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
  /** More routes on the HTTP server (e.g. GET /metrics), registered before it listens. */
  httpRoutes?: HttpServerOptions['extraRoutes'];
  /** The version /version reports. */
  version?: string | undefined;
  /**
   * Write Chrome traces of the cluster's steps into `dir`: trace-000001.json with the first
   * `steps` steps (default TRACE_FILE_STEPS), the next file with the next ones, the rest at stop.
   */
  trace?: { dir: string; steps?: number | undefined } | undefined;
}

/** Steps per trace file of a serving coordinator (about 20 MB of JSON at tp 8 on a 5-layer model). */
export const TRACE_FILE_STEPS = 1000;

/** A rolling trace into `dir`: one numbered file per `steps` steps; flush() writes the rest. */
function rollingTrace(dir: string, steps: number, meta: Record<string, unknown>, say: (line: string) => void): { trace: ChromeTrace; flush: () => void } {
  mkdirSync(dir, { recursive: true });
  let files = 0;
  const write = (doc: ReturnType<ChromeTrace['drain']>): void => {
    const path = join(dir, `trace-${String(++files).padStart(6, '0')}.json`);
    writeFileSync(path, JSON.stringify(doc) + '\n');
    say(`trace: ${path} (${doc.traceEvents.length} events)`);
  };
  const trace = new ChromeTrace(meta, { steps, write });
  return { trace, flush: () => write(trace.drain()) };
}

const sayOnStderr = (line: string): void => { process.stderr.write(`octoserve: ${line}\n`); };

/** The Redis queue asked for; without one, the default Redis if it answers, else an in-process queue. */
export async function openJobQueue(url: string | undefined, name: string | undefined, lockMs: number,
  say: (line: string, fields?: Record<string, string | number>) => void): Promise<JobQueue> {
  if (url !== undefined) return openBullQueue({ url, name, lockMs, log: say });
  try {
    return await openBullQueue({ url: DEFAULT_REDIS_URL, name, lockMs, log: say, connectTimeoutMs: 1_000 });
  } catch (err) {
    say(`${(err as Error).message}: jobs are kept in this process and lost if it stops (give --redis URL for durable jobs)`);
    return new MemoryJobQueue(say);
  }
}

/** Writes a generated admin token where the CLI on this host looks for it (user-only); returns its path. */
function writeAdminToken(port: number, token: string): string {
  const file = adminTokenFile(port);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return file;
}

/** Positions the demo's story runs to by default: llama2.c's run.c tells its stories with `-n 256`. */
const DEMO_POSITIONS = 256;

/**
 * Streams one greedy generation to stdout, as `octoserve generate` prints it: `maxTokens`, or by
 * default until position 256 (run.c's `-n 256`: prompt and story together make 257 tokens).
 */
async function demo(server: CoordinatorServer, prompt: string, maxTokens: number | undefined, say: (line: string) => void): Promise<void> {
  const checked = server.engine.check({ prompt, promptTokenIds: [], topK: 0, maxTokens: maxTokens ?? 1 }, 0);
  const gen = maxTokens !== undefined ? checked : { ...checked, maxTokens: Math.max(1, DEMO_POSITIONS + 1 - checked.promptIds.length) };
  process.stdout.write(prompt);
  const out = await server.engine.run(gen, { onTokens: (_ids, text) => { process.stdout.write(text); } });
  process.stdout.write('\n');
  say(`demo: ${out.tokenIds.length} tokens at ${out.stats.tokPerS.toFixed(1)} tok/s (finish: ${out.finishReason})`);
}

/**
 * Runs the service until it is stopped; resolves with the exit code: 0 when asked to stop, 1
 * when the cluster could not be brought back after a fault. Start failures reject.
 */
export async function serveCluster(options: LaunchServiceOptions): Promise<number> {
  const say = options.say ?? sayOnStderr;
  const log = options.log ?? (() => {});
  const { tp, workerCommand, registry } = options;
  const local = workerCommand !== undefined;
  const clusterToken = options.clusterToken ?? (local ? newClusterToken() : undefined);
  if (clusterToken === undefined) say('workers are not authenticated: give the coordinator and every worker the same --cluster-token-file');
  const adminToken = options.adminToken ?? randomBytes(24).toString('base64url');

  const model = await openModel({ model: options.model, tokenizer: options.tokenizer });
  const modelPath = model.checkpoint.path;
  let tree: MedusaTree | undefined;
  try {
    tree = options.medusa === undefined ? undefined : loadMedusa(model.checkpoint.config, options.medusa).tree;
  } finally {
    model.checkpoint.close();
  }
  const queue = await openJobQueue(options.redisUrl, options.queueName, options.jobLockMs, say);
  // HTTP listens from the start, so /health says "loading" until the cluster serves
  // GET /metrics answers 503 until the serving engine (and its metrics) exists
  let metrics: ServingMetrics | undefined;
  const routes = (app: FastifyInstance): void => {
    metricsRoute(() => metrics)(app);
    options.httpRoutes?.(app);
  };
  const startHttp = (port: number): Promise<HttpApi> => HttpApi.start({
    host: options.host, port, modelPath, apiKey: options.apiKey, version: options.version ?? 'unknown', extraRoutes: routes,
  });
  const httpPort = options.httpPort;
  const http = httpPort === undefined ? undefined : await startHttp(httpPort).catch((err: Error) => {
    if (options.httpPortDefault !== true || !/EADDRINUSE/.test(err.message)) throw err;
    say(`port ${httpPort} is taken: the HTTP API serves on a free port instead (give --http-port to choose)`);
    return startHttp(0);
  }).catch(async (err: unknown) => { await queue.close(); throw err; });

  let stopping = false;
  let server: CoordinatorServer | undefined;
  let exitCode = 0;
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => { finished = resolve; });
  const stop = (why: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    say(`stopping (${why})`);
    void Promise.all([http?.close(), server?.close()]).finally(finished);
  };

  say(local ? `starting ${tp} workers for ${modelPath}` : `waiting for ${tp} workers to register at ${registry}`);
  // the first load shows a bar; a restart after a fault logs its own line
  let bar: ProgressBar | undefined = progressBar('shards loaded', tp, options.progress === undefined ? {} : { stream: options.progress });
  const medusa = options.medusa;
  const tracing = options.trace === undefined ? undefined
    : rollingTrace(options.trace.dir, options.trace.steps ?? TRACE_FILE_STEPS, { model: modelPath, tp }, say);
  const clusterOptions: ClusterOptions = {
    modelPath, tp, listen: registry, workerCommand, loadMode: options.loadMode ?? 'read', log, maxSequences: options.maxSequences,
    startTimeoutMs: options.startTimeoutMs, stepTimeoutMs: options.stepTimeoutMs, clusterToken,
    ...(options.internalTls === undefined ? {} : { tls: options.internalTls }),
    ...(options.fabric === undefined ? {} : { fabric: options.fabric }),
    ...(options.spinUs === undefined ? {} : { spinUs: options.spinUs }),
    ...(options.weights === undefined ? {} : { weights: options.weights }),
    onShardLoaded: (_rank, loaded) => bar?.update(loaded),
    ...(tracing === undefined ? {} : { tracer: new ClusterTracer(tracing.trace, `coordinator tp=${tp}`, tp) }),
    ...(tree === undefined || medusa === undefined ? {} : (() => {
      const { topK, maxPicked } = treeLimits(tree);
      return { medusa: { path: medusa.dir, topK }, maxPicked };
    })()),
  };
  let cluster: ServedCluster;
  try {
    // a fault restarts the cluster: local workers are started again here; workers elsewhere exit
    // when their coordinator's step stream ends, and register again once their supervisor restarts them
    cluster = await SupervisedCluster.start({
      start: (onFailure) => Cluster.start({ ...clusterOptions, onFailure }), log: say,
      onGiveUp: (err) => stop(`${err.message}; running jobs go back to the queue`, 1),
    });
  } catch (err) {
    await queue.close();
    await http?.close();
    throw err;
  }
  bar.done();
  bar = undefined;

  const onSignal = (signal: string): void => {
    if (stopping) { say(`${signal} again: exiting now`); process.exit(130); }
    stop(signal, 0);
  };
  const onSigint = (): void => onSignal('SIGINT');
  const onSigterm = (): void => onSignal('SIGTERM');
  if (options.handleSignals !== false) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }
  const onAbort = (): void => stop('asked to stop', 0);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    server = await CoordinatorServer.start({
      cluster, tokenizer: model.tokenizer, queue, host: options.host, port: options.port, modelPath,
      jobConcurrency: options.jobConcurrency ?? options.maxSequences, maxWaiting: options.maxWaiting, log: say,
      adminToken, adminTokenHint: ADMIN_TOKEN_HINT, ...(options.tls === undefined ? {} : { tls: options.tls }),
      onShutdown: () => stop('asked to shut down', 0),
      ...(tree === undefined ? {} : { medusa: { tree, name: medusa?.choices ?? DEFAULT_CHOICES_NAME } }),
    });
  } catch (err) {
    await queue.close();
    await cluster.close();
    await http?.close();
    throw err;
  }
  if (options.signal?.aborted === true) onAbort();
  const served = server;
  metrics = served.engine.metrics;
  http?.attach({ engine: served.engine, refusing: () => served.refusing() });
  if (http !== undefined) say(`HTTP API (OpenAI-compatible) on ${http.address}${options.apiKey === undefined ? '' : ', API key required'}`);
  const address = server.address;
  const servedPort = Number(address.slice(address.lastIndexOf(':') + 1));
  const writtenToken = options.adminToken === undefined ? writeAdminToken(servedPort, adminToken) : undefined;
  if (writtenToken !== undefined) say(`admin token in ${writtenToken} (for status, drain, resume, shutdown)`);
  const queueText = queue.durable ? `jobs in ${queue.backend}` : 'jobs in this process';
  say(`serving on ${address} (tp ${tp}${options.tls === undefined ? '' : ', TLS'}, ${queueText}${tree === undefined ? '' : ', Medusa'}); Ctrl-C stops`);
  options.onServing?.(address);
  if (options.demo !== undefined && !stopping) {
    await demo(server, options.demo.prompt, options.demo.maxTokens, say).catch((err: unknown) => { if (!stopping) say(`demo failed: ${(err as Error).message}`); });
    if (!stopping) say(`still serving on ${address}: try \`octoserve generate --cluster ${address} --prompt '...'\` or \`octoserve status --cluster ${address}\``);
  }
  await done;
  tracing?.flush();
  if (writtenToken !== undefined) rmSync(writtenToken, { force: true });
  process.removeListener('SIGINT', onSigint);
  process.removeListener('SIGTERM', onSigterm);
  options.signal?.removeEventListener('abort', onAbort);
  say('stopped');
  return exitCode;
}
