// Every coordinator → worker call goes through here: one client per rank, one
// long-lived step stream per rank, a deadline on every wait. Every call carries
// the cluster token (an interceptor puts it into the metadata), over mutual TLS
// when the cluster has certificates.
import * as grpc from '@grpc/grpc-js';
import { callUnary, COMMUNICATOR_METADATA, INTERNAL_CHANNEL_OPTIONS, internalChannelCredentials, internalClientOptions, RpcError, workerServices, type UnaryMethod } from '@octoserve/wire';
import type {
  HealthReply__Output, InternalSecurity, InitCommunicatorRequest, LoadShardReply__Output, LoadShardRequest,
  StepReply__Output, StepRequest, UploadShardMessage, WorkerClient,
} from '@octoserve/wire';

/** A failed call to one rank, with the rank and address in the message. */
export class WorkerCallError extends RpcError {
  override name = 'WorkerCallError';
  constructor(readonly rank: number, code: grpc.status, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class RankClient {
  private readonly client: WorkerClient;
  private stream: grpc.ClientDuplexStream<StepRequest, StepReply__Output> | undefined;
  private readonly waiting: { resolve: (r: StepReply__Output) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  /** Whether steps ask this rank for their spans (StepRequest.trace); then the times below are kept. */
  tracing = false;
  /** When the last step was sent and its reply arrived (performance.now()), while tracing. */
  traceSentAt = 0;
  traceRepliedAt = 0;

  constructor(readonly rank: number, readonly address: string, security: InternalSecurity = {}) {
    const { Worker } = workerServices();
    this.client = new Worker(address, internalChannelCredentials(security.tls), internalClientOptions(INTERNAL_CHANNEL_OPTIONS, security)) as unknown as WorkerClient;
  }

  private fail(what: string, err: unknown): WorkerCallError {
    const e = RpcError.from(err, grpc.status.UNAVAILABLE);
    return new WorkerCallError(this.rank, e.code, `rank ${this.rank} (${this.address}): ${what} failed: ${e.message}`, { cause: err });
  }

  private unary<Req, Res>(what: string, method: UnaryMethod<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
    return callUnary(method.bind(this.client), req, { deadlineMs: timeoutMs }).catch((err: unknown) => { throw this.fail(what, err); });
  }

  initCommunicator(req: InitCommunicatorRequest, timeoutMs: number): Promise<unknown> {
    return this.unary('InitCommunicator', this.client.InitCommunicator, req, timeoutMs);
  }

  loadShard(req: LoadShardRequest, timeoutMs: number): Promise<LoadShardReply__Output> {
    return this.unary('LoadShard', this.client.LoadShard, req, timeoutMs);
  }

  /** Streams the shard's slices (already cut for this rank) to a worker that cannot read the checkpoint. */
  uploadShard(messages: Iterable<UploadShardMessage>, timeoutMs: number): Promise<LoadShardReply__Output> {
    return new Promise((resolve, reject) => {
      const call = this.client.UploadShard({ deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) reject(this.fail('UploadShard', err));
        else resolve(res as LoadShardReply__Output);
      });
      void (async () => {
        for (const m of messages) {
          if (!call.write(m)) await new Promise((r) => call.once('drain', r));
        }
        call.end();
      })().catch((err: unknown) => { call.cancel(); reject(this.fail('UploadShard', err as Error)); });
    });
  }

  health(timeoutMs: number): Promise<HealthReply__Output> {
    return this.unary('Health', this.client.Health, {}, timeoutMs);
  }

  release(sequenceIds: number[], timeoutMs: number): Promise<unknown> {
    return this.unary('Release', this.client.Release, { sequenceIds }, timeoutMs);
  }

  /** Opens the long-lived step stream; replies arrive in request order. */
  /** Opens the step stream of communicator `communicatorId`: the workers' lifeline (they exit when it ends). */
  openSteps(communicatorId: string): void {
    const md = new grpc.Metadata();
    md.set(COMMUNICATOR_METADATA, communicatorId);
    const stream = this.client.Steps(md);
    stream.on('data', (reply: StepReply__Output) => {
      if (this.tracing) this.traceRepliedAt = performance.now();
      this.waiting.shift()?.resolve(reply);
    });
    stream.on('error', (err: grpc.ServiceError) => this.abort(this.fail('step stream', err)));
    stream.on('end', () => this.abort(new WorkerCallError(this.rank, grpc.status.UNAVAILABLE, `rank ${this.rank} (${this.address}): step stream closed`)));
    this.stream = stream;
  }

  private abort(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  /** Sends one step; resolves with this rank's reply. */
  step(req: StepRequest): Promise<StepReply__Output> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const stream = this.stream;
    if (stream === undefined) return Promise.reject(new Error(`rank ${this.rank}: step stream not open`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.tracing) { stream.write(req); return; }
      this.traceSentAt = performance.now();
      stream.write({ ...req, trace: true });
    });
  }

  /** Fails every pending and future step with `err` (e.g. the worker process exited). */
  kill(err: Error): void {
    this.abort(err);
    this.stream?.cancel();
  }

  close(): void {
    this.stream?.end();
    this.client.close();
  }
}
