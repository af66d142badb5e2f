// The coordinator's errors as RPC statuses: a refusal (an RpcError) keeps its code; a failed
// cluster or an unreachable job queue is UNAVAILABLE with what happened; anything else INTERNAL.
import * as grpc from '@grpc/grpc-js';
import { RpcError, serverStreamingHandler, unaryHandler } from '@octoserve/wire';
import { ClusterError } from '../cluster.js';
import { WorkerCallError } from '../worker-client.js';
import { isConnectionError } from './redis-outage.js';

/** What a client of the coordinator is told about `err`. */
export function coordinatorError(err: unknown): RpcError {
  if (err instanceof ClusterError || err instanceof WorkerCallError) return new RpcError(grpc.status.UNAVAILABLE, `the cluster failed: ${err.message}`, { cause: err });
  if (err instanceof RpcError) return err;
  if (err instanceof Error && isConnectionError(err)) return new RpcError(grpc.status.UNAVAILABLE, `the job queue is unreachable: ${err.message}`, { cause: err });
  return RpcError.from(err);
}

/** A unary handler of the coordinator's services. */
export function unary<Req, Res>(body: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return unaryHandler(body, coordinatorError);
}

/** A server-streaming handler of the coordinator's services. */
export function streaming<Req, Res>(body: (req: Req, call: grpc.ServerWritableStream<Req, Res>) => Promise<void>): grpc.handleServerStreamingCall<Req, Res> {
  return serverStreamingHandler(body, coordinatorError);
}
