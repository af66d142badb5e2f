// The one error type of this package. `code` says what kind of failure it was,
// so a caller can tell a dead peer (restart the world) from a bad call (fix the code).

export type CollectiveErrorCode =
  | 'INVALID_ARGUMENT'  // the call itself is wrong (length, root, option) on this rank
  | 'MISMATCH'          // ranks disagree: communicator id, world size, op, length, algorithm
  | 'PROTOCOL'          // a malformed, duplicated, out-of-order or truncated frame
  | 'PEER_LOST'         // a peer's connection broke or the peer closed the communicator
  | 'PEER_ABORTED'      // a peer gave up and told us why
  | 'DEADLINE'          // an operation or the world formation ran past its deadline
  | 'CLOSED';           // this communicator was closed

export class CollectiveError extends Error {
  override name = 'CollectiveError';
  constructor(readonly code: CollectiveErrorCode, message: string) {
    super(message);
  }
}

/** Formats an unknown thrown value for a message. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'details' in err) return String((err as { details: unknown }).details);
  return String(err);
}
