// The job queue when there is no Redis: jobs live in this process and are lost with it.
// Same behaviour as the durable queue otherwise: FIFO, a bounded number running at once,
// progress and results kept with the job, cancellation, paging.
import { randomUUID } from 'node:crypto';
import type { GenerateRequest__Output } from '@octoserve/wire';
import { JobCancelled, throttled } from './job-queue.js';
import type { JobCounts, JobPage, JobProcessor, JobQueue, JobRecord, JobStateName } from './job-queue.js';

/** Finished jobs kept for GetJob and ListJobs; the oldest go first. */
const KEEP_FINISHED = 10_000;

export class MemoryJobQueue implements JobQueue {
  readonly durable = false;
  readonly backend = 'in-process';
  private readonly jobs = new Map<string, JobRecord>();
  private readonly waiting: string[] = [];
  private readonly running = new Map<string, AbortController>();
  private processor: JobProcessor | undefined;
  private concurrency = 0;
  private paused = false;
  private idle: (() => void)[] = [];

  constructor(private readonly log: (line: string, fields?: Record<string, string | number>) => void = () => {}) {}

  get runningHere(): number { return this.running.size; }

  submit(request: GenerateRequest__Output, jobId?: string): Promise<string> {
    if (jobId !== undefined && this.jobs.has(jobId)) return Promise.resolve(jobId);
    const id = jobId ?? randomUUID();
    this.jobs.set(id, {
      id, state: 'waiting', request, promptTokenIds: [], tokenIds: [], text: '', finishReason: '', error: '',
      attempts: 0, createdMs: Date.now(), startedMs: 0, finishedMs: 0, stats: undefined,
    });
    this.waiting.push(id);
    this.pump();
    return Promise.resolve(id);
  }

  get(id: string): Promise<JobRecord | undefined> {
    const job = this.jobs.get(id);
    return Promise.resolve(job === undefined ? undefined : { ...job });
  }

  list(states: readonly JobStateName[], pageToken: string, pageSize: number): Promise<JobPage> {
    const offset = pageToken === '' ? 0 : Number(pageToken.split(':').pop());
    const all = [...this.jobs.values()].reverse().filter((j) => states.length === 0 || states.includes(j.state));
    const jobs = all.slice(offset, offset + pageSize).map((j) => ({ ...j }));
    return Promise.resolve({ jobs, next: offset + pageSize < all.length ? `0:${offset + pageSize}` : undefined });
  }

  cancel(id: string): Promise<JobRecord | undefined> {
    const job = this.jobs.get(id);
    if (job === undefined) return Promise.resolve(undefined);
    if (job.state === 'waiting') {
      this.waiting.splice(this.waiting.indexOf(id), 1);
      Object.assign(job, { state: 'cancelled', finishReason: 'cancelled', finishedMs: Date.now() });
    }
    this.running.get(id)?.abort();
    return this.get(id);
  }

  counts(): Promise<JobCounts> {
    const c: JobCounts = { waiting: 0, active: 0, completed: 0, failed: 0 };
    for (const j of this.jobs.values()) if (j.state !== 'cancelled') c[j.state] += 1;
    return Promise.resolve(c);
  }

  consume(processor: JobProcessor, concurrency: number): void {
    this.processor = processor;
    this.concurrency = concurrency;
    this.pump();
  }

  private pump(): void {
    while (this.processor !== undefined && !this.paused && this.running.size < this.concurrency && this.waiting.length > 0) {
      void this.run(this.processor, this.waiting.shift() as string);
    }
  }

  private async run(processor: JobProcessor, id: string): Promise<void> {
    const job = this.jobs.get(id) as JobRecord;
    const abort = new AbortController();
    this.running.set(id, abort);
    Object.assign(job, { state: 'active', attempts: job.attempts + 1, startedMs: job.startedMs || Date.now() });
    const progress = throttled((out) => Object.assign(job, out));
    try {
      const result = await processor({ id, request: job.request, attempt: job.attempts, signal: abort.signal, progress });
      Object.assign(job, result, { state: 'completed' });
      this.log(`job ${id}: completed (${result.tokenIds.length} tokens, attempt ${job.attempts})`, { job: id, attempt: job.attempts });
    } catch (err) {
      if (err instanceof JobCancelled) Object.assign(job, err.output, { state: 'cancelled', finishReason: 'cancelled' });
      else Object.assign(job, { state: 'failed', error: (err as Error).message });
    } finally {
      job.finishedMs = Date.now();
      this.running.delete(id);
      this.forgetOldest();
      if (this.running.size === 0) for (const resolve of this.idle.splice(0)) resolve();
      this.pump();
    }
  }

  private forgetOldest(): void {
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= KEEP_FINISHED) return;
      if (j.state !== 'waiting' && j.state !== 'active') this.jobs.delete(id);
    }
  }

  pause(): Promise<void> {
    this.paused = true;
    return this.running.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  async close(): Promise<void> {
    this.paused = true;
    for (const abort of this.running.values()) abort.abort();
    await this.pause();
  }
}
