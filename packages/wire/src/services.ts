// The gRPC services of proto/octoserve/v1, loaded at run time with @grpc/proto-loader.
// Message and client types are generated from the same files by the build (src/gen).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as WorkerProto } from './gen/worker.js';
import type { ProtoGrpcType as InferenceProto } from './gen/inference.js';
import type { ProtoGrpcType as AdminProto } from './gen/admin.js';

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url));

/** How messages map to JS: camelCase fields, 64-bit integers as numbers, enums as names, defaults filled. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT],
};

const loaded = new Map<string, unknown>();

/** One .proto of octoserve/v1, loaded once. */
function load<T>(file: string): T {
  let proto = loaded.get(file);
  if (proto === undefined) {
    proto = grpc.loadPackageDefinition(protoLoader.loadSync(`octoserve/v1/${file}`, LOADER_OPTIONS));
    loaded.set(file, proto);
  }
  return proto as T;
}

/** octoserve.v1 Worker and Registry services (worker.proto). */
export function workerServices(): WorkerProto['octoserve']['v1'] {
  return load<WorkerProto>('worker.proto').octoserve.v1;
}

/** octoserve.v1 Inference service (inference.proto): Generate and the job API. */
export function inferenceServices(): InferenceProto['octoserve']['v1'] {
  return load<InferenceProto>('inference.proto').octoserve.v1;
}

/** octoserve.v1 Admin service (admin.proto). */
export function adminServices(): AdminProto['octoserve']['v1'] {
  return load<AdminProto>('admin.proto').octoserve.v1;
}

/** The client API's protos (Inference and Admin) as one package definition, for server reflection. */
export function publicPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(['octoserve/v1/inference.proto', 'octoserve/v1/admin.proto'], LOADER_OPTIONS);
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

/**
 * The public API's limits: a request larger than this is refused with RESOURCE_EXHAUSTED
 * before it is decoded. Replies (a whole context of tokens and text) stay well under it.
 */
export const PUBLIC_MAX_MESSAGE_BYTES = 1 << 20;

export const PUBLIC_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': PUBLIC_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': 16 << 20,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
};

export const PUBLIC_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 16 << 20,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
};
