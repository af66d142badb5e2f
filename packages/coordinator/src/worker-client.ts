// Every coordinator → worker call goes through here: one client per rank, one
// long-lived step channel per rank, a deadline on every wait. Every call carries
// the cluster token (an interceptor puts it into the metadata), over mutual TLS
// when the cluster has certificates. The step channel is the socket fabric's link
// where the worker offers one (the collective links' records, token check and TLS,
// without HTTP/2 framing on each step), else the Steps stream.
import * as grpc from '@grpc/grpc-js';
import { LinkStatus, SocketConnection } from '@octoserve/collectives';
import { callUnary, COMMUNICATOR_METADATA, INTERNAL_CHANNEL_OPTIONS, internalChannelCredentials, internalClientOptions, RpcError, workerServices, type UnaryMethod } from '@octoserve/wire';
import type {
  HealthReply__Output, InternalSecurity, InitCommunicatorReply__Output, InitCommunicatorRequest, LoadShardReply__Output, LoadShardRequest,
  StepReply__Output, StepRequest, UploadShardMessage, WorkerClient,
} from '@octoserve/wire';

/** A failed call to one rank, with the rank and address in the message. */
export class WorkerCallError extends RpcError {
  override name = 'WorkerCallError';
  constructor(readonly rank: number, code: grpc.status, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** How steps reach one rank: the Steps stream or the socket fabric's step link. */
interface StepChannel {
  send(req: StepRequest): void;
  /** Ends it cleanly (the worker's lifeline ends with it). */
  end(): void;
  /** Breaks it off (the worker is gone or the cluster failed). */
  cancel(): void;
}

export class RankClient {
  private readonly client: WorkerClient;
  private channel: StepChannel | undefined;
  /** The worker's step link once steps are open on it ('' : the Steps stream). */
  stepAddress = '';
  private readonly waiting: { resolve: (r: StepReply__Output) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  /** Whether steps ask this rank for their spans (StepRequest.trace); then the times below are kept. */
  tracing = false;
  /** When the last step was sent and its reply arrived (performance.now()), while tracing. */
  traceSentAt = 0;
  traceRepliedAt = 0;

  constructor(readonly rank: number, readonly address: string, private readonly security: InternalSecurity = {}) {
    const { Worker } = workerServices();
    this.client = new Worker(address, internalChannelCredentials(security.tls), internalClientOptions(INTERNAL_CHANNEL_OPTIONS, security)) as unknown as WorkerClient;
  }

  private fail(what: string, err: unknown, address = this.address): WorkerCallError {
    const e = RpcError.from(err, grpc.status.UNAVAILABLE);
    return new WorkerCallError(this.rank, e.code, `rank ${this.rank} (${address}): ${what} failed: ${e.message}`, { cause: err });
  }

  private unary<Req, Res>(what: string, method: UnaryMethod<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
    return callUnary(method.bind(this.client), req, { deadlineMs: timeoutMs }).catch((err: unknown) => { throw this.fail(what, err); });
  }

  initCommunicator(req: InitCommunicatorRequest, timeoutMs: number): Promise<InitCommunicatorReply__Output> {
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

  /** A reply arrived: it answers the oldest step still waiting. */
  private replied(reply: StepReply__Output): void {
    if (this.tracing) this.traceRepliedAt = performance.now();
    this.waiting.shift()?.resolve(reply);
  }

  /**
   * Opens the step channel of communicator `communicatorId`, the workers' lifeline (they exit when
   * it ends): the step link at `stepAddress` when the worker offered one, else the Steps stream.
   * Replies arrive in request order.
   */
  openSteps(communicatorId: string, stepAddress = ''): void {
    this.stepAddress = stepAddress;
    this.channel = stepAddress === '' ? this.openStream(communicatorId) : this.openLink(communicatorId, stepAddress);
  }

  private openStream(communicatorId: string): StepChannel {
    const md = new grpc.Metadata();
    md.set(COMMUNICATOR_METADATA, communicatorId);
    const stream = this.client.Steps(md);
    stream.on('data', (reply: StepReply__Output) => this.replied(reply));
    stream.on('error', (err: grpc.ServiceError) => this.abort(this.fail('step stream', err)));
    stream.on('end', () => this.abort(new WorkerCallError(this.rank, grpc.status.UNAVAILABLE, `rank ${this.rank} (${this.address}): step stream closed`)));
    return { send: (req) => stream.write(req), end: () => stream.end(), cancel: () => stream.cancel() };
  }

  private openLink(communicatorId: string, address: string): StepChannel {
    const steps = workerServices().Worker.service.Steps;
    const link = new SocketConnection(address, {
      onMessage: (frame) => {
        let reply: StepReply__Output;
        try {
          reply = steps.responseDeserialize(frame) as StepReply__Output;
        } catch (err) {
          this.abort(this.fail('step link', new RpcError(grpc.status.INTERNAL, `a reply that does not decode (${(err as Error).message})`), address));
          link.drop();
          return;
        }
        this.replied(reply);
      },
      onStatus: (code, details) => this.abort(code === LinkStatus.OK
        ? new WorkerCallError(this.rank, grpc.status.UNAVAILABLE, `rank ${this.rank} (${address}): step link closed`)
        : this.fail('step link', new RpcError(code, details), address)),
    }, { clusterToken: this.security.clusterToken, tls: this.security.tls });
    link.write(Buffer.from(communicatorId, 'utf8'));
    return { send: (req) => link.write(steps.requestSerialize(req)), end: () => link.drop(), cancel: () => link.drop() };
  }

  private abort(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  /** Sends one step; resolves with this rank's reply. */
  step(req: StepRequest): Promise<StepReply__Output> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const channel = this.channel;
    if (channel === undefined) return Promise.reject(new Error(`rank ${this.rank}: step channel not open`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.tracing) { channel.send(req); return; }
      this.traceSentAt = performance.now();
      channel.send({ ...req, trace: true });
    });
  }

  /** Fails every pending and future step with `err` (e.g. the worker process exited). */
  kill(err: Error): void {
    this.abort(err);
    this.channel?.cancel();
  }

  close(): void {
    this.channel?.end();
    this.client.close();
  }
}
