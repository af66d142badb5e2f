// The durable job queue: BullMQ in Redis. Any number of coordinators consume one queue; a job
// lives in Redis with its request, progress (tokens so far) and result; a job whose
// coordinator dies keeps its lock only until the lock expires, after which BullMQ's stalled
// job check puts it back in the queue for another run (attempts counts them). A job completes
// once: only the run holding the lock can complete it. A cancellation is a key in Redis (so a
// job not yet running never starts) and a message on the queue's cancel channel (so the
// coordinator running it stops at its next step); a poll of the key covers a lost message.
import { randomUUID } from 'node:crypto';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Job, JobType } from 'bullmq';
import { Redis } from 'ioredis';
import * as grpc from '@grpc/grpc-js';
import { RpcError, type GenerateRequest__Output } from '@octoserve/wire';
import { JobCancelled, JobRefused, throttled } from './job-queue.js';
import { RedisOutageLog } from './redis-outage.js';
import type { JobCounts, JobOutput, JobPage, JobProcessor, JobQueue, JobRecord, JobResult, JobStateName } from './job-queue.js';

export const DEFAULT_QUEUE_NAME = 'octoserve-jobs';
const CANCELLED = 'cancelled';
const KEEP_SECONDS = 7 * 24 * 3600;
/** How often a running job checks its cancel key, in case the cancel message was lost (a Redis reconnect). */
const CANCEL_POLL_MS = 1_000;

interface JobData { request: GenerateRequest__Output }
type BullJob = Job<JobData, JobResult>;

/** The Bull job types a state can be found in, in the order ListJobs pages through them. */
const TYPES: readonly JobType[] = ['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'];
const TYPE_STATES: Record<string, readonly JobStateName[]> = {
  active: ['active'], waiting: ['waiting', 'cancelled'], prioritized: ['waiting', 'cancelled'], delayed: ['waiting', 'cancelled'],
  completed: ['completed'], failed: ['failed', 'cancelled'],
};

export interface BullQueueOptions {
  url: string;
  name?: string;
  /** How long a running job's lock lasts without renewal: a dead coordinator's jobs wait this long before another run (ms). */
  lockMs?: number;
  /** Deadline for reaching Redis at start (ms). */
  connectTimeoutMs?: number;
  log?: (line: string, fields?: Record<string, string | number>) => void;
}

/** Redis did not answer: UNAVAILABLE, with where it was looked for. */
export class QueueUnavailable extends RpcError {
  override name = 'QueueUnavailable';
  constructor(message: string) {
    super(grpc.status.UNAVAILABLE, message);
  }
}

/** Connects to Redis (failing at once if it does not answer) and opens the queue. */
export async function openBullQueue(opts: BullQueueOptions): Promise<BullJobQueue> {
  const connectTimeout = opts.connectTimeoutMs ?? 5_000;
  const redis = new Redis(opts.url, { maxRetriesPerRequest: null, connectTimeout, lazyConnect: true, retryStrategy: (n) => Math.min(n * 200, 2_000) });
  // until it is up, a failure to connect is reported by the connect below, not logged
  const quiet = (): void => {};
  redis.on('error', quiet);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${connectTimeout} ms`)), connectTimeout); }),
    ]);
  } catch (err) {
    redis.disconnect();
    throw new QueueUnavailable(`cannot reach Redis at ${opts.url} (${(err as Error).message.replace(/\.$/, '')})`);
  } finally {
    // once Redis answered, the deadline must not keep the process alive
    clearTimeout(timer);
  }
  redis.off('error', quiet);
  return new BullJobQueue(redis, opts);
}

export class BullJobQueue implements JobQueue {
  readonly durable = true;
  readonly backend: string;
  private readonly queue: Queue<JobData, JobResult>;
  private worker: Worker<JobData, JobResult> | undefined;
  /** The consumer's own connection (BullMQ leaves connections it was given open). */
  private workerRedis: Redis | undefined;
  /** Subscribed to the cancel channel while consuming. */
  private cancelRedis: Redis | undefined;
  /** The jobs running here, by id: aborting one stops it at its next step. */
  private readonly running = new Map<string, AbortController>();
  private readonly name: string;
  private readonly outage: RedisOutageLog;

  constructor(private readonly redis: Redis, private readonly opts: BullQueueOptions) {
    this.name = opts.name ?? DEFAULT_QUEUE_NAME;
    this.backend = opts.url.replace(/\/\/[^@/]*@/, '//');  // no password in status output
    this.outage = new RedisOutageLog(this.backend, opts.log ?? (() => {}));
    this.outage.watch(redis);
    this.queue = new Queue<JobData, JobResult>(this.name, { connection: redis });
    this.queue.on('error', (err) => this.outage.failed(err));
  }

  get runningHere(): number { return this.running.size; }

  private cancelKey(id: string): string { return `${this.name}:cancelled:${id}`; }
  private get cancelChannel(): string { return `${this.name}:cancel`; }

  async submit(request: GenerateRequest__Output, jobId?: string): Promise<string> {
    const job = await this.queue.add('generate', { request }, {
      jobId: jobId ?? randomUUID(), attempts: 5, backoff: { type: 'fixed', delay: 1_000 },
      removeOnComplete: { age: KEEP_SECONDS, count: 10_000 }, removeOnFail: { age: KEEP_SECONDS, count: 10_000 },
    });
    return job.id as string;
  }

  /** A job as the API shows it; `bullState` was read before the job's data. */
  private record(job: BullJob, bullState: string, cancelled: boolean): JobRecord {
    const out = (job.returnvalue ?? job.progress ?? {}) as Partial<JobResult>;
    let state: JobStateName;
    if (bullState === 'completed') state = 'completed';
    else if (bullState === 'active') state = 'active';
    else if (bullState === 'failed') state = job.failedReason === CANCELLED ? 'cancelled' : 'failed';
    else state = cancelled ? 'cancelled' : 'waiting';
    return {
      id: job.id as string, state, request: job.data.request,
      promptTokenIds: out.promptTokenIds ?? [], tokenIds: out.tokenIds ?? [], text: out.text ?? '',
      finishReason: state === 'cancelled' ? CANCELLED : job.returnvalue?.finishReason ?? '',
      error: state === 'failed' ? job.failedReason ?? '' : '',
      attempts: job.attemptsStarted ?? 0, createdMs: job.timestamp, startedMs: job.processedOn ?? 0,
      finishedMs: state === 'cancelled' && job.finishedOn === undefined ? 0 : job.finishedOn ?? 0,
      stats: job.returnvalue?.stats,
    };
  }

  async get(id: string): Promise<JobRecord | undefined> {
    // the state first, then the job: its data is then at least as new as the state (a job read
    // first could complete before its state is read, and show as completed without its result)
    const state = await this.queue.getJobState(id);
    const job = await this.queue.getJob(id) as BullJob | undefined;
    if (job === undefined || state === 'unknown') return undefined;
    return this.record(job, state, (await this.redis.exists(this.cancelKey(id))) === 1);
  }

  async list(states: readonly JobStateName[], pageToken: string, pageSize: number): Promise<JobPage> {
    const wanted = (s: JobStateName): boolean => states.length === 0 || states.includes(s);
    const [startType, startOffset] = pageToken === '' ? [0, 0] : pageToken.split(':').map(Number) as [number, number];
    const jobs: JobRecord[] = [];
    for (let t = startType; t < TYPES.length; t++) {
      const type = TYPES[t] as JobType;
      if (!(TYPE_STATES[type] ?? []).some(wanted)) continue;
      let offset = t === startType ? startOffset : 0;
      while (jobs.length < pageSize) {
        const batch = await this.queue.getJobs(type, offset, offset + pageSize - jobs.length - 1, false) as BullJob[];
        if (batch.length === 0) break;
        const cancelled = await this.redis.mget(batch.map((j) => this.cancelKey(j.id as string)));
        for (const [i, job] of batch.entries()) {
          const rec = this.record(job, type, cancelled[i] !== null);
          if (wanted(rec.state)) jobs.push(rec);
        }
        offset += batch.length;
      }
      if (jobs.length >= pageSize) return { jobs, next: `${t}:${offset}` };
    }
    return { jobs, next: undefined };
  }

  async cancel(id: string): Promise<JobRecord | undefined> {
    const job = await this.queue.getJob(id);
    if (job === undefined) return undefined;
    await this.redis.set(this.cancelKey(id), '1', 'EX', KEEP_SECONDS);
    // every consuming coordinator, this one included, hears it on the channel (consume)
    await this.redis.publish(this.cancelChannel, id);
    return this.get(id);
  }

  async counts(): Promise<JobCounts> {
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), active: c.active ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
  }

  consume(processor: JobProcessor, concurrency: number): void {
    const lockDuration = this.opts.lockMs ?? 30_000;
    this.workerRedis = this.redis.duplicate();
    this.outage.watch(this.workerRedis);
    this.worker = new Worker<JobData, JobResult>(this.name, (job) => this.process(processor, job as BullJob), {
      connection: this.workerRedis, concurrency, lockDuration, stalledInterval: Math.max(500, Math.floor(lockDuration / 2)), maxStalledCount: 5,
    });
    this.worker.on('error', (err) => this.outage.failed(err));
    this.cancelRedis = this.redis.duplicate();
    this.outage.watch(this.cancelRedis);
    this.cancelRedis.on('message', (_channel: string, id: string) => this.running.get(id)?.abort());
    this.cancelRedis.subscribe(this.cancelChannel).catch((err: unknown) => this.outage.failed(err as Error));
    this.worker.on('completed', (job) => this.opts.log?.(`job ${job.id}: completed (${job.returnvalue?.tokenIds.length ?? 0} tokens, attempt ${job.attemptsStarted})`,
      { job: job.id ?? '', attempt: job.attemptsStarted }));
    this.worker.on('stalled', (id) => this.opts.log?.(`jobs: job ${id} stalled (its coordinator stopped renewing its lock); it goes back in the queue`, { job: id }));
  }

  private async process(processor: JobProcessor, job: BullJob): Promise<JobResult> {
    const id = job.id as string;
    const key = this.cancelKey(id);
    if ((await this.redis.exists(key)) === 1) throw new UnrecoverableError(CANCELLED);
    const abort = new AbortController();
    this.running.set(id, abort);
    const poll = setInterval(() => {
      this.redis.exists(key).then((n) => { if (n === 1) abort.abort(); }, () => {});
    }, CANCEL_POLL_MS);
    const progress = throttled((out: JobOutput) => { job.updateProgress(out).catch(() => {}); });
    try {
      return await processor({ id, request: job.data.request, attempt: job.attemptsStarted, signal: abort.signal, progress });
    } catch (err) {
      if (err instanceof JobCancelled) {
        await job.updateProgress(err.output);
        throw new UnrecoverableError(CANCELLED);
      }
      if (err instanceof JobRefused) throw new UnrecoverableError(err.message);
      throw err;
    } finally {
      clearInterval(poll);
      this.running.delete(id);
    }
  }

  async pause(): Promise<void> {
    await this.worker?.pause();
  }

  resume(): void {
    this.worker?.resume();
  }

  /** Stops taking jobs without waiting: jobs running here keep their lock until it expires, then run elsewhere. */
  async close(): Promise<void> {
    await this.worker?.close(true);
    await this.queue.close();
    this.workerRedis?.disconnect();
    this.cancelRedis?.disconnect();
    this.redis.disconnect();
  }
}
