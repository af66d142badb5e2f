// The sequences the workers hold at once (their KV caches) as a pool of ids. A generation
// takes one for its whole run; when all are taken, requests wait in arrival order, and past
// a bound on waiting requests the next one is refused instead of the line growing forever.
import { status } from '@grpc/grpc-js';
import { RpcError } from '@octoserve/wire';

interface Waiter {
  resolve: (id: number) => void;
  reject: (err: Error) => void;
}

export class SequenceSlots {
  private readonly free: number[];
  private readonly waiters: Waiter[] = [];

  /** Ids 1..count; at most `maxWaiting` requests wait for one. */
  constructor(readonly count: number, readonly maxWaiting: number) {
    this.free = Array.from({ length: count }, (_, i) => count - i);
  }

  get active(): number { return this.count - this.free.length; }
  get waiting(): number { return this.waiters.length; }

  /** A free sequence id; waits for one (until `signal` aborts) or refuses with RESOURCE_EXHAUSTED. */
  acquire(signal?: AbortSignal): Promise<number> {
    const id = this.free.pop();
    if (id !== undefined) return Promise.resolve(id);
    if (this.waiters.length >= this.maxWaiting) {
      return Promise.reject(new RpcError(status.RESOURCE_EXHAUSTED,
        `all ${this.count} sequence slots are busy and ${this.waiters.length} requests are already waiting; retry later or submit a job instead`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) { this.waiters.splice(i, 1); reject(new RpcError(status.CANCELLED, 'cancelled while waiting for a sequence slot')); }
      }, { once: true });
    });
  }

  release(id: number): void {
    const next = this.waiters.shift();
    if (next !== undefined) next.resolve(id);
    else this.free.push(id);
  }
}
