// Errors of the HTTP API in OpenAI's envelope, {"error":{"message","type","param","code"}},
// with the status a client of the OpenAI API expects. The serving engine's refusals are
// RpcErrors: their gRPC code picks the HTTP status, their message is kept.
import { status } from '@grpc/grpc-js';
import { RpcError } from '@octoserve/wire';
import { coordinatorError } from '../serve/rpc-errors.js';

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error the HTTP API answers with as it is. */
export class HttpError extends Error {
  override name = 'HttpError';

  constructor(readonly statusCode: number, message: string, readonly param: string | null = null, readonly code: string | null = null) {
    super(message);
  }
}

export const badRequest = (message: string, param: string | null = null): HttpError => new HttpError(400, message, param, 'invalid_value');

/** OpenAI's error type for a status. */
function typeOf(statusCode: number): string {
  if (statusCode === 401) return 'authentication_error';
  if (statusCode === 404) return 'not_found_error';
  if (statusCode === 429) return 'rate_limit_exceeded';
  if (statusCode === 503) return 'service_unavailable';
  return statusCode >= 500 ? 'server_error' : 'invalid_request_error';
}

const STATUS_OF_CODE: Partial<Record<status, number>> = {
  [status.INVALID_ARGUMENT]: 400, [status.FAILED_PRECONDITION]: 400, [status.OUT_OF_RANGE]: 400, [status.NOT_FOUND]: 404,
  [status.UNAUTHENTICATED]: 401, [status.PERMISSION_DENIED]: 403, [status.RESOURCE_EXHAUSTED]: 429, [status.UNAVAILABLE]: 503,
  [status.DEADLINE_EXCEEDED]: 504, [status.CANCELLED]: 499, [status.UNIMPLEMENTED]: 501,
};

/** The status and envelope for anything thrown while answering. */
export function errorReply(err: unknown): { statusCode: number; body: ErrorBody } {
  if (err instanceof HttpError) return envelope(err.statusCode, err.message, err.param, err.code);
  // Fastify's own errors (body too large, malformed JSON, a timed-out body) carry their status
  const fst = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (!(err instanceof RpcError) && typeof fst.statusCode === 'number' && fst.statusCode >= 400 && fst.statusCode < 600) {
    return envelope(fst.statusCode, String(fst.message), null, typeof fst.code === 'string' ? fst.code : null);
  }
  const rpc = coordinatorError(err);
  const statusCode = STATUS_OF_CODE[rpc.code] ?? 500;
  return envelope(statusCode, rpc.message, null, statusCode === 500 ? 'internal_error' : null);
}

export function envelope(statusCode: number, message: string, param: string | null = null, code: string | null = null): { statusCode: number; body: ErrorBody } {
  return { statusCode, body: { error: { message, type: typeOf(statusCode), param, code } } };
}
