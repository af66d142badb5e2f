export {
  workerServices, inferenceServices, adminServices, publicPackageDefinition, PROTO_ROOT, INTERNAL_CHANNEL_OPTIONS, INTERNAL_SERVER_OPTIONS,
  PUBLIC_MAX_MESSAGE_BYTES, PUBLIC_SERVER_OPTIONS, PUBLIC_CHANNEL_OPTIONS,
} from './services.js';
export { guardRequests, requestProblem, checkDecoded, invalidUtf8Field, REQUEST_PROBLEM, limitDetails, MAX_STATUS_DETAILS } from './request-guard.js';
export {
  CLUSTER_TOKEN_ENV, INTERNAL_TLS_ENV, CLUSTER_TOKEN_METADATA, tokenMatches, tokenRefusal, internalServerCredentials, internalChannelCredentials,
  sendClusterToken, requireClusterToken, internalServerOptions, internalClientOptions,
} from './internal-auth.js';
export type { InternalTls, InternalSecurity } from './internal-auth.js';
export type { WorkerClient, WorkerHandlers } from './gen/octoserve/v1/Worker.js';
export type { RegistryClient, RegistryHandlers } from './gen/octoserve/v1/Registry.js';
export type { StepRequest, StepRequest__Output } from './gen/octoserve/v1/StepRequest.js';
export type { StepReply, StepReply__Output } from './gen/octoserve/v1/StepReply.js';
export type { SequenceStep, SequenceStep__Output } from './gen/octoserve/v1/SequenceStep.js';
export type { LoadShardRequest, LoadShardRequest__Output } from './gen/octoserve/v1/LoadShardRequest.js';
export type { LoadShardReply, LoadShardReply__Output } from './gen/octoserve/v1/LoadShardReply.js';
export type { RegisterRequest, RegisterRequest__Output } from './gen/octoserve/v1/RegisterRequest.js';
export type { RegisterReply, RegisterReply__Output } from './gen/octoserve/v1/RegisterReply.js';
export type { InitCommunicatorRequest, InitCommunicatorRequest__Output } from './gen/octoserve/v1/InitCommunicatorRequest.js';
export type { InitCommunicatorReply, InitCommunicatorReply__Output } from './gen/octoserve/v1/InitCommunicatorReply.js';
export type { UploadShardMessage, UploadShardMessage__Output } from './gen/octoserve/v1/UploadShardMessage.js';
export type { TensorChunk, TensorChunk__Output } from './gen/octoserve/v1/TensorChunk.js';
export type { HealthReply, HealthReply__Output } from './gen/octoserve/v1/HealthReply.js';
export type { ReleaseRequest, ReleaseRequest__Output } from './gen/octoserve/v1/ReleaseRequest.js';
export type { InferenceClient, InferenceHandlers } from './gen/octoserve/v1/Inference.js';
export type { AdminClient, AdminHandlers } from './gen/octoserve/v1/Admin.js';
export type { GenerateRequest, GenerateRequest__Output } from './gen/octoserve/v1/GenerateRequest.js';
export type { GenerateEvent, GenerateEvent__Output } from './gen/octoserve/v1/GenerateEvent.js';
export type { TokenChunk, TokenChunk__Output } from './gen/octoserve/v1/TokenChunk.js';
export type { Completion, Completion__Output } from './gen/octoserve/v1/Completion.js';
export type { GenerationStats, GenerationStats__Output } from './gen/octoserve/v1/GenerationStats.js';
export type { Job, Job__Output } from './gen/octoserve/v1/Job.js';
export type { JobState, JobState__Output } from './gen/octoserve/v1/JobState.js';
export type { SubmitJobRequest, SubmitJobRequest__Output } from './gen/octoserve/v1/SubmitJobRequest.js';
export type { SubmitJobReply, SubmitJobReply__Output } from './gen/octoserve/v1/SubmitJobReply.js';
export type { GetJobRequest, GetJobRequest__Output } from './gen/octoserve/v1/GetJobRequest.js';
export type { WatchJobRequest, WatchJobRequest__Output } from './gen/octoserve/v1/WatchJobRequest.js';
export type { CancelJobRequest, CancelJobRequest__Output } from './gen/octoserve/v1/CancelJobRequest.js';
export type { ListJobsRequest, ListJobsRequest__Output } from './gen/octoserve/v1/ListJobsRequest.js';
export type { ListJobsReply, ListJobsReply__Output } from './gen/octoserve/v1/ListJobsReply.js';
export type { ClusterStatusRequest, ClusterStatusRequest__Output } from './gen/octoserve/v1/ClusterStatusRequest.js';
export type { ClusterStatusReply, ClusterStatusReply__Output } from './gen/octoserve/v1/ClusterStatusReply.js';
export type { ModelInfo, ModelInfo__Output } from './gen/octoserve/v1/ModelInfo.js';
export type { RankStatus, RankStatus__Output } from './gen/octoserve/v1/RankStatus.js';
export type { QueueStatus, QueueStatus__Output } from './gen/octoserve/v1/QueueStatus.js';
export type { DrainRequest, DrainRequest__Output } from './gen/octoserve/v1/DrainRequest.js';
export type { DrainReply, DrainReply__Output } from './gen/octoserve/v1/DrainReply.js';
export type { ResumeRequest, ResumeRequest__Output } from './gen/octoserve/v1/ResumeRequest.js';
export type { ResumeReply, ResumeReply__Output } from './gen/octoserve/v1/ResumeReply.js';
export type { ShutdownRequest, ShutdownRequest__Output } from './gen/octoserve/v1/ShutdownRequest.js';
export type { ShutdownReply, ShutdownReply__Output } from './gen/octoserve/v1/ShutdownReply.js';
export type { HealthRequest, HealthRequest__Output } from './gen/octoserve/v1/HealthRequest.js';
export { RpcError, statusName, isServiceError, unaryHandler, serverStreamingHandler, callUnary, type ToRpcError, type UnaryMethod, type CallUnaryOptions } from './rpc-error.js';
export {
  shardLayout, readShardSlices, rangeSize, isQuantizedSlice, QUANT_BLOCK_COLUMNS,
  type Range, type ShardAssignment, type ShardDims, type SliceSpec, type SliceBlock, type ShardSlice, type QuantizedSlice, type QuantizedRows, type AnyShardSlice, type BlockReader,
} from './shard-layout.js';
export { encodeStepReply, decodeStepReply, float32View, uint32View, type LocalStepRows, type RankRows, type StepReplyTimings } from './step-reply.js';
export { encodeSpans, decodeSpans, SPAN_KINDS, SPAN_FIELDS, type SpanKind, type StepSpan } from './step-reply.js';
export { COMMUNICATOR_METADATA, DEFAULT_MAX_SEQUENCES, MAX_GREEDY_TOKENS } from './defaults.js';
