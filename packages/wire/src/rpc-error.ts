// The one error type at octoserve's RPC edges: a gRPC status code and a message a person can act
// on. Servers answer with `RpcError.from(err).toStatus()`; clients turn any failed call into an
// RpcError with `RpcError.from(err)`, so callers test `err.code`, never an error's name.
import * as grpc from '@grpc/grpc-js';
import { limitDetails } from './request-guard.js';

/** 'NOT_FOUND' for 5; `CODE_42` for a code grpc-js does not know. */
export function statusName(code: number): string {
  return (grpc.status as unknown as Record<number, string | undefined>)[code] ?? `CODE_${code}`;
}

/** A failed call as grpc-js reports it: an Error with a numeric code and the status text. */
export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number'
    && typeof (err as Partial<grpc.ServiceError>).details === 'string';
}

export class RpcError extends Error {
  override name = 'RpcError';

  constructor(readonly code: grpc.status, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  /**
   * `err` as an RpcError: itself if it is one, a failed call's own status, else `code` (INTERNAL
   * unless the caller knows better) with the error's message.
   */
  static from(err: unknown, code: grpc.status = grpc.status.INTERNAL): RpcError {
    if (err instanceof RpcError) return err;
    if (isServiceError(err)) return new RpcError(err.code, err.details !== '' ? err.details : err.message, { cause: err });
    return new RpcError(code, err instanceof Error ? err.message : String(err), { cause: err });
  }

  /** A request the server cannot take: INVALID_ARGUMENT with what is wrong. */
  static invalid(message: string): RpcError {
    return new RpcError(grpc.status.INVALID_ARGUMENT, message);
  }

  /** The status a server answers with (its text capped, so it always reaches the caller). */
  toStatus(): grpc.ServiceError {
    return Object.assign(new Error(this.message), { code: this.code, details: limitDetails(this.message), metadata: new grpc.Metadata() });
  }
}

/** What a server makes of a thrown value: RpcError.from, or a mapping of the service's own errors. */
export type ToRpcError = (err: unknown) => RpcError;

/** Answers a unary call from an async body; anything thrown becomes the call's status. */
export function unaryHandler<Req, Res>(body: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>, toError: ToRpcError = RpcError.from): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    // through a promise, so a synchronous throw in `body` is answered like a rejection
    Promise.resolve().then(() => body(call.request, call)).then((res) => callback(null, res), (err: unknown) => callback(toError(err).toStatus()));
  };
}

/** Runs a server-streaming call from an async body; a throw ends it with that status. */
export function serverStreamingHandler<Req, Res>(body: (req: Req, call: grpc.ServerWritableStream<Req, Res>) => Promise<void>, toError: ToRpcError = RpcError.from): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    Promise.resolve().then(() => body(call.request, call)).then(() => call.end(), (err: unknown) => {
      if (!call.cancelled) call.emit('error', toError(err).toStatus());
    });
  };
}

/** A unary method of a generated client, as `callUnary` invokes it. */
export type UnaryMethod<Req, Res> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

export interface CallUnaryOptions {
  /** The call's deadline, from now (ms). */
  deadlineMs: number;
  metadata?: grpc.Metadata;
  /** Cancels the call: it rejects with CANCELLED. */
  signal?: AbortSignal;
}

/** Calls a unary method with a deadline; a failure (or an empty reply) rejects with an RpcError. */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, options: CallUnaryOptions): Promise<Res> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    const cancelled = (): RpcError => new RpcError(grpc.status.CANCELLED, 'cancelled by the caller');
    if (signal?.aborted === true) { reject(cancelled()); return; }
    let aborted = false;
    let call: grpc.ClientUnaryCall | undefined;
    const onAbort = (): void => { aborted = true; call?.cancel(); };
    call = method(req, options.metadata ?? new grpc.Metadata(), { deadline: Date.now() + options.deadlineMs }, (err, res) => {
      signal?.removeEventListener('abort', onAbort);
      if (err !== null) reject(aborted ? cancelled() : RpcError.from(err));
      else if (res === undefined) reject(new RpcError(grpc.status.INTERNAL, 'the reply was empty'));
      else resolve(res);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
