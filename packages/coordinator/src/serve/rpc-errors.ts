// Errors as gRPC statuses: a refusal keeps its code; a failed cluster or anything unexpected
// becomes a status whose text says what happened, never a dropped call.
import * as grpc from '@grpc/grpc-js';
import { limitDetails } from '@octoserve/wire';
import { ClusterError } from '../cluster.js';
import { WorkerCallError } from '../worker-client.js';
import { RequestError } from './request.js';
import { QueueUnavailable } from './bull-queue.js';

export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const s = statusOf(err);
  return { ...s, details: limitDetails(s.details ?? '') };
}

function statusOf(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof RequestError) return { code: err.code, details: err.message };
  if (err instanceof ClusterError || err instanceof WorkerCallError) return { code: grpc.status.UNAVAILABLE, details: `the cluster failed: ${err.message}` };
  if (err instanceof QueueUnavailable) return { code: grpc.status.UNAVAILABLE, details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  if (/ECONNREFUSED|Connection is closed|ETIMEDOUT/.test(message)) return { code: grpc.status.UNAVAILABLE, details: `the job queue is unreachable: ${message}` };
  return { code: grpc.status.INTERNAL, details: message };
}

/** Answers a unary call from an async body; any throw becomes the call's status. */
export function unary<Req, Res>(body: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    // through a promise, so a synchronous throw in `body` is answered like a rejection
    Promise.resolve().then(() => body(call.request, call)).then((res) => callback(null, res), (err: unknown) => callback(toStatus(err) as grpc.ServiceError));
  };
}

/** Runs a server-streaming call from an async body; a throw ends it with that status. */
export function streaming<Req, Res>(body: (req: Req, call: grpc.ServerWritableStream<Req, Res>) => Promise<void>): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    Promise.resolve().then(() => body(call.request, call)).then(() => call.end(), (err: unknown) => {
      if (!call.cancelled) call.emit('error', toStatus(err));
    });
  };
}
