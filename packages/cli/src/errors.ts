// How the CLI reports a failure: one line a person can act on; the stack only on request.

/** A mistake in what the user asked for (bad flag, missing file): exit code 2, no stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function formatError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const debug = process.env.OCTOSERVE_DEBUG === '1';
  return debug && err.stack !== undefined ? err.stack : err.message;
}
