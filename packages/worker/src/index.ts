export { startWorker, type WorkerOptions, type RunningWorker } from './worker-process.js';
export { serveWorker, COORDINATOR_LOST_EXIT } from './worker-main.js';
export { WorkerService } from './worker-service.js';
export { ShardRuntime, executionProviders, type AllReducer, type ShardWeights, type RuntimeOptions, type SequenceStep, type StepOutputs, type StepTimings } from './shard-runtime.js';
export { KvCache, KvCacheError, type KvShape } from './kv-cache.js';
export { assembleShard, segmentShape, ShardLoadError, type ShardAssignment, type Range } from './shard-loader.js';
export { buildAttentionSegment, buildFeedForwardSegment, buildHeadSegment, type SegmentShape, type LayerShardWeights, type HeadShardWeights } from './onnx/segments.js';
export { quantizeShard, shardWeightBytes } from './shard-quantize.js';
export { matrixBytes, type MatrixWeight, type QuantizedWeight } from './onnx/linear.js';
