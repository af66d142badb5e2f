// The client's one error: the RPC edge's RpcError with the cluster's address, in one line a
// person can act on.
import * as grpc from '@grpc/grpc-js';
import { RpcError, statusName } from '@octoserve/wire';

/** What to do when the cluster does not answer at all. */
const NOT_ANSWERING_HINT = 'is `octoserve launch` running? set --cluster or $OCTOSERVE_CLUSTER';

/**
 * A failed call to the cluster. `message` is `${codeName}: ${details} (${address})`; the address
 * is left off when `details` already names it.
 */
export class OctoserveError extends RpcError {
  override name = 'OctoserveError';
  /** The code's name, e.g. 'INVALID_ARGUMENT'. */
  readonly codeName: string;
  readonly details: string;
  /** The cluster address the call went to. */
  readonly address: string;

  constructor(code: number, details: string, address: string) {
    const codeName = statusName(code);
    const oneLine = details.replace(/\s+/g, ' ').trim() || '(no details)';
    super(code, `${codeName}: ${oneLine}${oneLine.includes(address) ? '' : ` (${address})`}`);
    this.codeName = codeName;
    this.details = oneLine;
    this.address = address;
  }
}

/** The cluster at `address` never answered: `cause` is why the connection failed, if known. */
export function notAnswering(code: number, address: string, cause: string): OctoserveError {
  return new OctoserveError(code, `the cluster at ${address} is not answering (${cause}): ${NOT_ANSWERING_HINT}`, address);
}

/** The short reason inside grpc-js's "No connection established. Last error: Error: connect ECONNREFUSED ..." */
function connectCause(code: number, details: string): string {
  const errno = /\b(E[A-Z]{3,})\b/.exec(details);
  if (errno !== null) return errno[1]!;
  if (/name resolution failed/i.test(details)) return 'name resolution failed';
  if (code === grpc.status.DEADLINE_EXCEEDED) return 'no connection before the deadline';
  return details.replace(/\s+/g, ' ').trim() || 'no connection';
}

/**
 * Any failure of a call as an OctoserveError. `connected` tells whether the channel was
 * connected when the call failed: UNAVAILABLE or DEADLINE_EXCEEDED without a connection means
 * nothing answers at the address, and the message says so instead of grpc-js's wording.
 */
export function toOctoserveError(err: unknown, address: string, connected: boolean): OctoserveError {
  if (err instanceof OctoserveError) return err;
  const { code, message } = RpcError.from(err, grpc.status.UNKNOWN);
  if (!connected && (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED)) {
    return notAnswering(code, address, connectCause(code, message));
  }
  return new OctoserveError(code, message, address);
}

export { statusName };
