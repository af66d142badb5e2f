// The Inference service: Generate runs here and streams; the job calls go to the job queue.
import * as grpc from '@grpc/grpc-js';
import type {
  CancelJobRequest__Output, Completion, GenerateEvent, GenerateRequest__Output, GetJobRequest__Output, InferenceHandlers, Job,
  ListJobsReply, ListJobsRequest__Output, SubmitJobReply, SubmitJobRequest__Output, WatchJobRequest__Output,
} from '@octoserve/wire';
import { JOB_ID_PATTERN, JOB_STATES } from './job-queue.js';
import type { JobQueue, JobRecord, JobStateName } from './job-queue.js';
import { checkDecoded, RpcError } from '@octoserve/wire';
import { invalid } from './request.js';
import type { Outcome, ServingEngine } from './serving-engine.js';
import { streaming, unary } from './rpc-errors.js';

const WATCH_POLL_MS = 100;
/** A watch re-sends the job this often even when nothing changed, so clients see it is alive. */
const WATCH_HEARTBEAT_MS = 10_000;
const MAX_PAGE = 1000;

export interface ServiceState {
  /** Why new work is refused (draining), or undefined while serving. */
  refusing(): string | undefined;
}

export function jobMessage(j: JobRecord): Job {
  return {
    id: j.id, state: `JOB_STATE_${j.state.toUpperCase()}` as Job['state'], request: j.request, promptTokenIds: j.promptTokenIds,
    tokenIds: j.tokenIds, text: j.text, finishReason: j.finishReason, error: j.error, attempts: j.attempts,
    createdMs: j.createdMs, startedMs: j.startedMs, finishedMs: j.finishedMs, ...(j.stats === undefined ? {} : { stats: j.stats }),
  };
}

export function completionMessage(o: Outcome): Completion {
  return { promptTokenIds: o.promptTokenIds, tokenIds: o.tokenIds, text: o.text, finishReason: o.finishReason, stats: o.stats };
}

function checkId(id: string): string {
  if (id === '') throw invalid('the job id is empty');
  if (!JOB_ID_PATTERN.test(id)) throw invalid(`'${id.slice(0, 80)}' is not a job id (letters, digits, '-' and '_', at most 64)`);
  return id;
}

async function findJob(queue: JobQueue, id: string): Promise<JobRecord> {
  const job = await queue.get(checkId(id));
  if (job === undefined) throw new RpcError(grpc.status.NOT_FOUND, `no job '${id}'`);
  return job;
}

const finished = (s: JobStateName): boolean => s === 'completed' || s === 'failed' || s === 'cancelled';

function stateOf(name: string): JobStateName {
  const state = name.replace(/^JOB_STATE_/, '').toLowerCase() as JobStateName;
  if (!JOB_STATES.includes(state)) throw invalid(`unknown job state '${name}' (use ${JOB_STATES.join(', ')})`);
  return state;
}

export function inferenceHandlers(engine: ServingEngine, queue: JobQueue, state: ServiceState): InferenceHandlers {
  const refuseIfDraining = (): void => {
    const why = state.refusing();
    if (why !== undefined) throw new RpcError(grpc.status.UNAVAILABLE, why);
  };
  const seedFromClock = (): number => Date.now() % 2 ** 31;

  return {
    Generate: streaming<GenerateRequest__Output, GenerateEvent>(async (req, call) => {
      checkDecoded(req);
      refuseIfDraining();
      const gen = engine.check(req, seedFromClock());
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      const outcome = await engine.run(gen, {
        signal: abort.signal,
        onTokens: (tokenIds, text) => { call.write({ tokens: { tokenIds, text } }); },
      });
      if (!call.cancelled) call.write({ done: completionMessage(outcome) });
    }),

    SubmitJob: unary<SubmitJobRequest__Output, SubmitJobReply>(async (req) => {
      checkDecoded(req);
      refuseIfDraining();
      if (req.request === null) throw invalid('request is missing: a job needs a GenerateRequest');
      engine.check(req.request, 0); // refuse now what could never run
      const jobId = req.jobId === '' ? undefined : checkId(req.jobId);
      return { id: await queue.submit(req.request, jobId) };
    }),

    GetJob: unary<GetJobRequest__Output, Job>(async (req) => {
      checkDecoded(req);
      return jobMessage(await findJob(queue, req.id));
    }),

    WatchJob: streaming<WatchJobRequest__Output, Job>(async (req, call) => {
      checkDecoded(req);
      let job = await findJob(queue, req.id);
      call.write(jobMessage(job));
      let sent = performance.now();
      while (!finished(job.state) && !call.cancelled) {
        await new Promise((r) => setTimeout(r, WATCH_POLL_MS));
        const now = await queue.get(job.id);
        if (now === undefined) throw new RpcError(grpc.status.NOT_FOUND, `job '${job.id}' was removed`);
        const changed = now.state !== job.state || now.tokenIds.length !== job.tokenIds.length || now.attempts !== job.attempts;
        job = now;
        if (changed || performance.now() - sent > WATCH_HEARTBEAT_MS) {
          call.write(jobMessage(job));
          sent = performance.now();
        }
      }
    }),

    CancelJob: unary<CancelJobRequest__Output, Job>(async (req) => {
      checkDecoded(req);
      const job = await queue.cancel(checkId(req.id));
      if (job === undefined) throw new RpcError(grpc.status.NOT_FOUND, `no job '${req.id}'`);
      return jobMessage(job);
    }),

    ListJobs: unary<ListJobsRequest__Output, ListJobsReply>(async (req) => {
      checkDecoded(req);
      const states = req.states.map((s) => stateOf(String(s)));
      const pageSize = req.pageSize === 0 ? 50 : req.pageSize;
      if (pageSize > MAX_PAGE) throw invalid(`page_size must be at most ${MAX_PAGE}, got ${pageSize}`);
      if (req.pageToken !== '' && !/^\d+(:\d+)?$/.test(req.pageToken)) throw invalid(`'${req.pageToken.slice(0, 80)}' is not a page token from ListJobs`);
      const page = await queue.list(states, req.pageToken, pageSize);
      return { jobs: page.jobs.map(jobMessage), nextPageToken: page.next ?? '' };
    }),
  };
}
