export { planShards, splitEvenly, ShardingError } from './sharding.js';
export type { ShardPlan, RankShard, Range, ShardableShape } from './sharding.js';
