// Job states by their short names ('waiting') and back to the proto enum ('JOB_STATE_WAITING').
import type { JobState__Output } from '@octoserve/wire';

export const JOB_STATE_NAMES = ['waiting', 'active', 'completed', 'failed', 'cancelled'] as const;
export type JobStateName = (typeof JOB_STATE_NAMES)[number];

/** The states a job never leaves. */
export const FINISHED_JOB_STATES: readonly JobStateName[] = ['completed', 'failed', 'cancelled'];

const PREFIX = 'JOB_STATE_';

/** 'JOB_STATE_WAITING' -> 'waiting'; anything else (JOB_STATE_UNSPECIFIED, an unknown name) -> 'unspecified'. */
export function jobStateName(s: string): JobStateName | 'unspecified' {
  if (!s.startsWith(PREFIX)) return 'unspecified';
  const name = s.slice(PREFIX.length).toLowerCase();
  return (JOB_STATE_NAMES as readonly string[]).includes(name) ? (name as JobStateName) : 'unspecified';
}

/** 'waiting' -> 'JOB_STATE_WAITING'. */
export function jobStateEnum(n: JobStateName): JobState__Output {
  return `${PREFIX}${n.toUpperCase()}` as JobState__Output;
}

/** Whether a job in state `s` (either spelling) has finished: completed, failed or cancelled. */
export function isFinishedJobState(s: string): boolean {
  const name = s.startsWith(PREFIX) ? jobStateName(s) : s;
  return (FINISHED_JOB_STATES as readonly string[]).includes(name);
}
