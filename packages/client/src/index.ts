// @octoserve/client: a typed client of a running octoserve cluster (inference.proto and admin.proto).
export {
  OctoserveClient, DEFAULT_ADDRESS, DEFAULT_DEADLINE_MS, DEFAULT_IDLE_TIMEOUT_MS,
  type ClientOptions, type CallOptions, type StreamCallOptions, type ListJobsOptions,
} from './client.js';
export { OctoserveError, statusName } from './errors.js';
export { jobStateName, jobStateEnum, isFinishedJobState, JOB_STATE_NAMES, FINISHED_JOB_STATES, type JobStateName } from './job-state.js';
export type {
  GenerateRequest, GenerateEvent__Output, TokenChunk__Output, Completion__Output, GenerationStats__Output, Job__Output,
  ClusterStatusReply__Output, RankStatus__Output, QueueStatus__Output, ModelInfo__Output, DrainReply__Output, ResumeReply__Output,
} from '@octoserve/wire';
export { adminTokenFile, findAdminToken } from './admin-token.js';
