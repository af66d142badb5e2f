// OctoserveClient: the Inference and Admin services of a running cluster on one channel, with
// deadlines on every call, idle timeouts on streams, AbortSignals, and OctoserveError for failures.
import * as grpc from '@grpc/grpc-js';
import {
  adminServices, callUnary, inferenceServices, PUBLIC_CHANNEL_OPTIONS, type UnaryMethod,
  type AdminClient, type ClusterStatusReply__Output, type Completion__Output, type DrainReply__Output, type GenerateEvent__Output,
  type GenerateRequest, type InferenceClient, type Job__Output, type ListJobsReply__Output, type ListJobsRequest, type ResumeReply__Output,
  type SubmitJobReply__Output, type SubmitJobRequest, type TokenChunk__Output,
} from '@octoserve/wire';
import { findAdminToken } from './admin-token.js';
import { notAnswering, OctoserveError, toOctoserveError } from './errors.js';
import { jobStateEnum, type JobStateName } from './job-state.js';
import { serverStream } from './stream.js';

export const DEFAULT_ADDRESS = '127.0.0.1:50051';
export const DEFAULT_DEADLINE_MS = 30_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/** How long the server waits for a drain when the request does not say (admin.proto). */
const SERVER_DRAIN_TIMEOUT_MS = 600_000;

export interface ClientOptions {
  /** host:port of a coordinator. Default: $OCTOSERVE_CLUSTER, else 127.0.0.1:50051. */
  address?: string;
  /** Deadline of unary calls (default 30000). */
  deadlineMs?: number;
  /** Streams fail with DEADLINE_EXCEEDED when no message arrives for this long (default 120000). */
  idleTimeoutMs?: number;
  /** Default: insecure. */
  credentials?: grpc.ChannelCredentials;
  /** Sent with every call. */
  metadata?: Record<string, string>;
  /** Sent with Admin calls. Default: $OCTOSERVE_ADMIN_TOKEN, else the token file of a coordinator on this machine (see adminTokenFile). */
  adminToken?: string;
}

export interface CallOptions {
  /** Unary calls: this call's deadline. Streams: a deadline for the whole stream (default: none, only the idle timeout). */
  deadlineMs?: number;
  /** Aborting cancels the call; it then fails with CANCELLED. */
  signal?: AbortSignal;
}

export interface StreamCallOptions extends CallOptions {
  /** This stream's idle timeout (default: the client's). */
  idleTimeoutMs?: number;
}

export interface ListJobsOptions {
  /** Empty or absent: every state. */
  states?: JobStateName[];
  /** Default 50 (the server's), at most 1000. */
  pageSize?: number;
  /** The previous page's nextPageToken. */
  pageToken?: string;
}


export class OctoserveClient {
  readonly address: string;
  private readonly deadlineMs: number;
  private readonly idleTimeoutMs: number;
  private readonly metadata: Record<string, string>;
  private readonly adminToken: string | undefined;
  private readonly inference: InferenceClient;
  private readonly admin: AdminClient;

  constructor(options: ClientOptions = {}) {
    this.address = options.address ?? (process.env.OCTOSERVE_CLUSTER || DEFAULT_ADDRESS);
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.metadata = options.metadata ?? {};
    this.adminToken = options.adminToken ?? findAdminToken(this.address);
    const credentials = options.credentials ?? grpc.credentials.createInsecure();
    this.inference = new (inferenceServices().Inference)(this.address, credentials, PUBLIC_CHANNEL_OPTIONS);
    // the Admin stub rides the Inference stub's channel: one connection per client
    this.admin = new (adminServices().Admin)(this.address, credentials, { ...PUBLIC_CHANNEL_OPTIONS, channelOverride: this.inference.getChannel() });
  }

  // ---- Inference: interactive generation

  /** The Generate stream: token chunks, then one 'done' event. Leaving the loop early cancels the call. */
  generate(request: GenerateRequest, opts: StreamCallOptions = {}): AsyncIterable<GenerateEvent__Output> {
    return this.stream((md, o) => this.inference.generate(request, md, o), opts);
  }

  /** Generate to the end: the Completion; `onTokens` sees each chunk as it arrives. */
  async complete(request: GenerateRequest, opts: StreamCallOptions & { onTokens?: (chunk: TokenChunk__Output) => void } = {}): Promise<Completion__Output> {
    for await (const event of this.generate(request, opts)) {
      if (event.event === 'tokens' && event.tokens) opts.onTokens?.(event.tokens);
      else if (event.event === 'done' && event.done) return event.done;
    }
    throw new OctoserveError(grpc.status.INTERNAL, 'the Generate stream ended without its final message', this.address);
  }

  // ---- Inference: jobs

  /** Queues a job; resolves to its id. Submitting the same `jobId` again returns the existing job's id. */
  async submitJob(request: GenerateRequest, opts: CallOptions & { jobId?: string } = {}): Promise<string> {
    const reply = await this.unary<SubmitJobRequest, SubmitJobReply__Output>((r, md, o, cb) => this.inference.submitJob(r, md, o, cb), { request, jobId: opts.jobId ?? '' }, opts);
    return reply.id;
  }

  getJob(id: string, opts: CallOptions = {}): Promise<Job__Output> {
    return this.unary((r, md, o, cb) => this.inference.getJob(r, md, o, cb), { id }, opts);
  }

  /** The job now, then at every change; the loop ends when the job has finished. */
  watchJob(id: string, opts: StreamCallOptions = {}): AsyncIterable<Job__Output> {
    return this.stream((md, o) => this.inference.watchJob({ id }, md, o), opts);
  }

  /** A waiting job never runs; an active one stops at its next token. Resolves to the job as left. */
  cancelJob(id: string, opts: CallOptions = {}): Promise<Job__Output> {
    return this.unary((r, md, o, cb) => this.inference.cancelJob(r, md, o, cb), { id }, opts);
  }

  /** Jobs newest first; `nextPageToken` is empty on the last page. */
  async listJobs(req: ListJobsOptions = {}, opts: CallOptions = {}): Promise<{ jobs: Job__Output[]; nextPageToken: string }> {
    const request = { states: (req.states ?? []).map(jobStateEnum), pageSize: req.pageSize ?? 0, pageToken: req.pageToken ?? '' };
    const reply = await this.unary<ListJobsRequest, ListJobsReply__Output>((r, md, o, cb) => this.inference.listJobs(r, md, o, cb), request, opts);
    return { jobs: reply.jobs, nextPageToken: reply.nextPageToken };
  }

  // ---- Admin

  clusterStatus(opts: CallOptions = {}): Promise<ClusterStatusReply__Output> {
    return this.unary((r, md, o, cb) => this.admin.clusterStatus(r, this.withAdminToken(md), o, cb), {}, opts);
  }

  /**
   * Stop taking new work. With `wait`, resolves once in-flight work has finished or after
   * `timeoutMs` (the server's default: 600000); the call's deadline covers that wait.
   */
  drain(req: { wait?: boolean; timeoutMs?: number } = {}, opts: CallOptions = {}): Promise<DrainReply__Output> {
    const wait = req.wait ?? false;
    const timeoutMs = req.timeoutMs ?? 0;
    const waitMs = wait ? (timeoutMs > 0 ? timeoutMs : SERVER_DRAIN_TIMEOUT_MS) : 0;
    return this.unary((r, md, o, cb) => this.admin.drain(r, this.withAdminToken(md), o, cb), { wait, timeoutMs }, opts, waitMs);
  }

  resume(opts: CallOptions = {}): Promise<ResumeReply__Output> {
    return this.unary((r, md, o, cb) => this.admin.resume(r, this.withAdminToken(md), o, cb), {}, opts);
  }

  /** Drains, then stops the coordinator and its workers; the deadline covers the server's default drain. */
  async shutdown(opts: CallOptions = {}): Promise<void> {
    await this.unary((r, md, o, cb) => this.admin.shutdown(r, this.withAdminToken(md), o, cb), {}, opts, SERVER_DRAIN_TIMEOUT_MS);
  }

  // ---- The channel

  /** Resolves once the channel is connected; rejects with UNAVAILABLE when it is not within `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.inference.waitForReady(Date.now() + timeoutMs, (err) => {
        if (err === undefined) resolve();
        else reject(notAnswering(grpc.status.UNAVAILABLE, this.address, `no connection within ${timeoutMs} ms`));
      });
    });
  }

  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void {
    this.inference.close();
  }

  // ---- How calls are made

  private callMetadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.metadata)) md.set(k, v);
    return md;
  }

  private withAdminToken(md: grpc.Metadata): grpc.Metadata {
    if (this.adminToken !== undefined) md.set('authorization', `Bearer ${this.adminToken}`);
    return md;
  }

  private connected(): boolean {
    return this.inference.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  }

  private toError = (err: unknown): OctoserveError => toOctoserveError(err, this.address, this.connected());

  private cancelled = (): OctoserveError => new OctoserveError(grpc.status.CANCELLED, 'cancelled by the caller', this.address);

  /** One unary call: deadline `opts.deadlineMs` (or the client's) plus `extraMs`, cancelled by `opts.signal`. */
  private unary<Req, Res>(invoke: UnaryMethod<Req, Res>, req: Req, opts: CallOptions, extraMs = 0): Promise<Res> {
    return callUnary(invoke, req, { deadlineMs: (opts.deadlineMs ?? this.deadlineMs) + extraMs, metadata: this.callMetadata(), signal: opts.signal })
      .catch((err: unknown) => { throw this.toError(err); });
  }

  /** One server stream, with the idle timeout and (when asked) an overall deadline. */
  private stream<T>(start: (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<T>, opts: StreamCallOptions): AsyncIterable<T> {
    const idleTimeoutMs = opts.idleTimeoutMs ?? this.idleTimeoutMs;
    return serverStream(() => start(this.callMetadata(), opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs }), {
      idleTimeoutMs,
      signal: opts.signal,
      idleError: () => new OctoserveError(grpc.status.DEADLINE_EXCEEDED, `no message from the cluster for ${idleTimeoutMs} ms`, this.address),
      abortError: this.cancelled,
      toError: this.toError,
    });
  }
}
