// How the `jobs` commands show a job: its JSON object, its few lines of text, its row in a list.
import { jobStateName, type Job__Output } from '@octoserve/client';
import { snakeJson } from './cluster-flags.js';
import { formatFields, formatTable, truncate, type Cell } from './table.js';

/** The most tokens a job generates when its request does not say (inference.proto). */
export const DEFAULT_MAX_TOKENS = 256;

/** A job under inference.proto's field names, its state as a short name (waiting, active, ...). */
export function jobJson(job: Job__Output): Record<string, unknown> {
  return {
    id: job.id,
    state: jobStateName(job.state),
    request: snakeJson(job.request),
    prompt_token_ids: job.promptTokenIds,
    token_ids: job.tokenIds,
    text: job.text,
    finish_reason: job.finishReason,
    error: job.error,
    attempts: job.attempts,
    created_ms: job.createdMs,
    started_ms: job.startedMs,
    finished_ms: job.finishedMs,
    stats: snakeJson(job.stats),
  };
}

/** Unix ms as '2023-11-14T22:13:20Z' (UTC); '-' for 0 (not yet). */
export function formatTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

/** 'completed (length)', 'failed', 'active', ... */
export function stateText(job: Job__Output): string {
  const state = jobStateName(job.state);
  return job.finishReason !== '' && state !== 'failed' ? `${state} (${job.finishReason})` : state;
}

/** One line on how a finished job ended, e.g. 'completed (length): 200 tokens in 3.10 s, 64.5 tok/s'. */
export function finishSummary(job: Job__Output): string {
  const tokens = `${job.tokenIds.length} token${job.tokenIds.length === 1 ? '' : 's'}`;
  if (jobStateName(job.state) === 'failed') return `failed after ${tokens}: ${truncate(job.error || '(no error given)', 200)}`;
  const s = job.stats;
  const speed = s === null || s.wallMs === 0 ? '' : ` in ${(s.wallMs / 1000).toFixed(2)} s, ${s.tokPerS.toFixed(1)} tok/s`;
  const attempts = job.attempts > 1 ? ` (${job.attempts} attempts)` : '';
  return `${stateText(job)}: ${tokens}${speed}${attempts}`;
}

/** `jobs get`'s text: the job's fields, then its text (prompt + generated). */
export function formatJob(job: Job__Output): string {
  const since = (from: number, to: number, what: string): string => (from > 0 && to > 0 ? ` (${what} ${((to - from) / 1000).toFixed(1)} s)` : '');
  const s = job.stats;
  const fields: [string, Cell][] = [
    ['id', job.id],
    ['state', stateText(job)],
    ['attempts', job.attempts],
    ['created', formatTime(job.createdMs)],
    ['started', formatTime(job.startedMs) + since(job.createdMs, job.startedMs, 'waited')],
    ['finished', formatTime(job.finishedMs) + since(job.startedMs, job.finishedMs, 'ran')],
    ['tokens', `${job.tokenIds.length} generated, prompt ${job.promptTokenIds.length}`],
  ];
  if (s !== null) {
    fields.push(['stats', `${s.tokPerS.toFixed(1)} tok/s, ${s.wallMs.toFixed(1)} ms on the cluster, queue ${s.queueMs.toFixed(1)} ms, ` +
      `${s.steps} steps (${s.tokensPerStep.toFixed(2)} tokens/step), seed ${s.seed}, coordinator ${s.coordinator || '?'}`]);
  }
  if (job.error !== '') fields.push(['error', job.error.replace(/\s+/g, ' ')]);
  return `${formatFields(fields)}\n${job.text}\n`;
}

/** `jobs list`'s table. */
export function formatJobList(jobs: readonly Job__Output[]): string {
  return formatTable(
    ['id', 'state', 'attempts', 'tokens', 'created', 'finish / error'],
    jobs.map((j) => [j.id, jobStateName(j.state), j.attempts, j.tokenIds.length, formatTime(j.createdMs), truncate(j.error || j.finishReason, 48)]),
  );
}
