// How long-running commands (launch, worker) end: once they have stopped what they started,
// the process exits even if a peer still holds a socket open to it.

/** Exits with `code` after `graceMs` unless the process has ended by itself before. */
export function exitAfterStop(code: number, graceMs = 1_000): number {
  setTimeout(() => process.exit(code), graceMs).unref();
  return code;
}
