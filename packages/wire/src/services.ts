// The gRPC services of proto/octoserve/v1, loaded at run time with @grpc/proto-loader.
// Message and client types are generated from the same files by the build (src/gen).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as WorkerProto } from './gen/worker.js';

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));

/** How messages map to JS: camelCase fields, 64-bit integers as numbers, enums as names, defaults filled. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT],
};

let workerProto: WorkerProto | undefined;

/** octoserve.v1 Worker and Registry services (worker.proto). */
export function workerServices(): WorkerProto['octoserve']['v1'] {
  workerProto ??= grpc.loadPackageDefinition(protoLoader.loadSync('octoserve/v1/worker.proto', LOADER_OPTIONS)) as unknown as WorkerProto;
  return workerProto.octoserve.v1;
}

/**
 * grpc-js options for octoserve's own channels: no message size limits on
 * internal links (shard uploads carry large tensors), retries off (steps are
 * not idempotent), keepalive so a dead peer is noticed while a stream is idle.
 */
export const INTERNAL_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  'grpc.enable_retries': 0,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};

export const INTERNAL_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
};
