// The unused buffers of a pool, found by size: the receive side's record pool
// (length-prefixed.ts) and the send side's frame pool (send-frames.ts) both keep theirs here.

/** Buffers at least this long are pooled on either side (shorter ones are cheap to allocate). */
export const POOL_MIN_BYTES = 64 * 1024;
/** The most bytes a pool keeps unused (past it, a returned buffer is left to the collector). */
const MAX_FREE_BYTES = 64 * 1024 * 1024;

/** Unused items of a pool, each `bytes(item)` long; taking one allocates nothing. */
export class FreeBuffers<T> {
  private readonly items: T[] = [];
  private freeBytes = 0;

  constructor(private readonly bytes: (item: T) => number) {}

  /** An unused item at least `need` bytes long, removed from the list; undefined if there is none. */
  take(need: number): T | undefined {
    const items = this.items;
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i] as T;
      const n = this.bytes(item);
      if (n < need) continue;
      items[i] = items[items.length - 1] as T;
      items.pop();
      this.freeBytes -= n;
      return item;
    }
    return undefined;
  }

  /** Keeps `item` for a later take, unless the list already holds its most. */
  give(item: T): void {
    const n = this.bytes(item);
    if (this.freeBytes + n > MAX_FREE_BYTES) return;
    this.items.push(item);
    this.freeBytes += n;
  }
}
