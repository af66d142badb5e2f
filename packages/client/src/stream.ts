// A grpc-js server stream as an async iterable: started when iteration starts, failed by an idle
// timeout that every message resets, cancelled by an AbortSignal or by leaving the loop early.
import type * as grpc from '@grpc/grpc-js';
import type { OctoserveError } from './errors.js';

export interface StreamControl {
  /** Fail when no message arrives for this long (the wait for the first one included). */
  idleTimeoutMs: number;
  signal?: AbortSignal | undefined;
  /** The error when the idle timeout fires. */
  idleError(): OctoserveError;
  /** The error when `signal` aborts. */
  abortError(): OctoserveError;
  /** Any other failure of the call. */
  toError(err: unknown): OctoserveError;
}

/**
 * Yields the messages of the call `start()` makes. The loop ends when the server ends the
 * stream with OK and throws an OctoserveError otherwise (after the messages that came first).
 */
export async function* serverStream<T>(start: () => grpc.ClientReadableStream<T>, ctl: StreamControl): AsyncGenerator<T, void, undefined> {
  if (ctl.signal?.aborted === true) throw ctl.abortError();
  const call = start();
  const queue: T[] = [];
  let ended = false;
  let failure: OctoserveError | undefined;
  // why we cancelled the call ourselves, if we did: this, not grpc-js's CANCELLED, is the error
  let cancelledFor: OctoserveError | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => { const w = wake; wake = undefined; w?.(); };

  const cancel = (why: OctoserveError): void => {
    if (cancelledFor !== undefined || ended) return;
    cancelledFor = why;
    call.cancel();
  };
  let idle: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => cancel(ctl.idleError()), ctl.idleTimeoutMs);
  };
  const onAbort = (): void => cancel(ctl.abortError());

  call.on('data', (message: T) => { queue.push(message); armIdle(); notify(); });
  // grpc-js emits 'error' (a non-OK status) before 'end'; this listener also keeps the error
  // of a call cancelled after the loop was left from being thrown as an unhandled event
  call.on('error', (err: unknown) => { failure = cancelledFor ?? ctl.toError(err); notify(); });
  call.on('end', () => { ended = true; clearTimeout(idle); notify(); });
  ctl.signal?.addEventListener('abort', onAbort, { once: true });
  armIdle();

  try {
    for (;;) {
      if (queue.length > 0) {
        yield queue.shift() as T;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => { wake = resolve; });
    }
  } finally {
    clearTimeout(idle);
    ctl.signal?.removeEventListener('abort', onAbort);
    // left the loop before the server ended the stream: stop the call on the server too
    if (!ended && failure === undefined) cancel(ctl.abortError());
  }
}
