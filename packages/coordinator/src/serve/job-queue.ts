// The job queue as the serving layer sees it, whichever store holds it: BullMQ in Redis
// (durable, shared by every coordinator consuming it) or this process's memory.
import type { GenerateRequest__Output, GenerationStats__Output as GenerationStats } from '@octoserve/wire';

export type JobStateName = 'waiting' | 'active' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobStateName[] = ['waiting', 'active', 'completed', 'failed', 'cancelled'];

/** What a job has produced so far (its progress) or in all (its result). */
export interface JobOutput {
  promptTokenIds: number[];
  tokenIds: number[];
  text: string;
}

export interface JobResult extends JobOutput {
  finishReason: string;
  stats: GenerationStats;
}

export interface JobRecord extends JobOutput {
  id: string;
  state: JobStateName;
  request: GenerateRequest__Output;
  finishReason: string;
  error: string;
  attempts: number;
  createdMs: number;
  startedMs: number;
  finishedMs: number;
  stats: GenerationStats | undefined;
}

/** One run of a job, as its processor sees it. */
export interface JobRun {
  id: string;
  request: GenerateRequest__Output;
  attempt: number;
  /** Aborted when the job is cancelled (or this coordinator stops). */
  signal: AbortSignal;
  /** Records what the job has produced so far; `output` runs only when it is stored (at most every PROGRESS_EVERY_MS). */
  progress(output: () => JobOutput): void;
}

/** Runs one job; resolves with its result; a JobCancelled rejection records it as cancelled. */
export type JobProcessor = (run: JobRun) => Promise<JobResult>;

/** A processor's way to say the job was cancelled, with what it had produced. */
export class JobCancelled extends Error {
  override name = 'JobCancelled';
  constructor(readonly output: JobOutput) {
    super('cancelled');
  }
}

/** A processor's way to say the job can never succeed (its request is invalid): no retry. */
export class JobRefused extends Error {
  override name = 'JobRefused';
}

export interface JobCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
}

export interface JobPage {
  jobs: JobRecord[];
  /** Where the next page starts; undefined after the last. */
  next: string | undefined;
}

export const PROGRESS_EVERY_MS = 100;

export interface JobQueue {
  readonly durable: boolean;
  /** "redis://host:port" or "in-process". */
  readonly backend: string;
  /** Jobs this process is running now. */
  readonly runningHere: number;
  /** Queues a job; with `jobId`, a job that already has that id is returned instead. */
  submit(request: GenerateRequest__Output, jobId?: string): Promise<string>;
  get(id: string): Promise<JobRecord | undefined>;
  list(states: readonly JobStateName[], pageToken: string, pageSize: number): Promise<JobPage>;
  /** Marks the job cancelled: a waiting one never runs, an active one stops soon. Undefined: no such job. */
  cancel(id: string): Promise<JobRecord | undefined>;
  counts(): Promise<JobCounts>;
  /** Starts taking jobs, up to `concurrency` at once. */
  consume(processor: JobProcessor, concurrency: number): void;
  /** Takes no more jobs; resolves once the ones running here have finished. */
  pause(): Promise<void>;
  resume(): void;
  close(): Promise<void>;
}

/** A progress recorder that stores at most every PROGRESS_EVERY_MS (the result or cancellation stores the rest). */
export function throttled(store: (output: JobOutput) => void): JobRun['progress'] {
  let last = 0;
  return (output) => {
    const now = performance.now();
    if (now - last < PROGRESS_EVERY_MS) return;
    last = now;
    store(output());
  };
}

/** A job id a client may choose: letters, digits, '-' and '_', 1 to 64 of them. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
