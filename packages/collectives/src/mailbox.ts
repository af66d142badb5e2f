// Frames received from one peer, in arrival order, with the ordering rule of
// the protocol: within an operation, indexes 0, 1, 2, … without gaps; a new
// operation (higher seq) starts again at index 0. Anything else is refused.
import type { Frame } from './frame-codec.js';
import { CollectiveError } from './errors.js';
import { WaitSpin } from './wait-spin.js';

export class Mailbox {
  private queue: Frame[] = [];
  private head = 0;
  private lastSeq = 0;
  private lastIndex = -1;
  private resolveWaiter: ((f: Frame) => void) | undefined;
  private rejectWaiter: ((e: Error) => void) | undefined;
  private waitingSeq = 0;
  /** Why no more frames will come (peer closed or lost); set once. */
  private endReason: CollectiveError | undefined;

  constructor(private readonly peerName: string) {}

  /**
   * Accepts a frame that arrived from the peer. `finishedSeq` is the last
   * operation this rank completed. Returns an error instead of throwing so the
   * caller can abort the communicator.
   */
  push(f: Frame, finishedSeq: number): CollectiveError | undefined {
    const inOrder = f.seq === this.lastSeq ? f.index === this.lastIndex + 1 : f.seq > this.lastSeq && f.index === 0;
    if (!inOrder) {
      const what = f.seq === this.lastSeq && f.index <= this.lastIndex ? 'a duplicated' : 'an out-of-order';
      return new CollectiveError('PROTOCOL',
        `${this.peerName} sent ${what} frame (op #${f.seq}, frame ${f.index}) after (op #${this.lastSeq}, frame ${this.lastIndex})`);
    }
    if (f.seq <= finishedSeq) {
      return new CollectiveError('PROTOCOL',
        `${this.peerName} sent frame ${f.index} of op #${f.seq}, which this rank already finished: an extra frame`);
    }
    this.lastSeq = f.seq;
    this.lastIndex = f.index;
    const resolve = this.resolveWaiter;
    if (resolve !== undefined && this.head === this.queue.length) {
      if (f.seq !== this.waitingSeq) return this.movedOn(f.seq, this.waitingSeq);
      this.resolveWaiter = undefined;
      this.rejectWaiter = undefined;
      resolve(f);
      return undefined;
    }
    this.queue.push(f);
    return undefined;
  }

  private movedOn(got: number, want: number): CollectiveError {
    return new CollectiveError('MISMATCH',
      `${this.peerName} sent op #${got} while this rank still expects frames of op #${want}: the ranks disagree about op #${want} (different calls, lengths or algorithms)`);
  }

  /** The next frame of operation `seq`, now or when it arrives (polling for up to `spinUs` first: wait-spin.ts). */
  next(seq: number, spinUs = 0): Frame | Promise<Frame> {
    if (this.head < this.queue.length) {
      const f = this.queue[this.head] as Frame;
      if (f.seq !== seq) throw this.movedOn(f.seq, seq);
      this.queue[this.head++] = undefined as unknown as Frame;
      if (this.head === this.queue.length) { this.queue.length = 0; this.head = 0; }
      return f;
    }
    if (this.endReason !== undefined) throw this.endReason;
    if (this.resolveWaiter !== undefined) throw new CollectiveError('INVALID_ARGUMENT', `two receives wait on ${this.peerName} at once`);
    this.waitingSeq = seq;
    const p = new Promise<Frame>((resolve, reject) => {
      this.resolveWaiter = resolve;
      this.rejectWaiter = reject;
    });
    this.spin.start(spinUs);
    return p;
  }

  private readonly spin = new WaitSpin(() => this.resolveWaiter !== undefined);

  /** True when a frame of operation `seq` is still queued (the peer sent more than expected). */
  hasLeftover(seq: number): boolean {
    return this.head < this.queue.length && (this.queue[this.head] as Frame).seq === seq;
  }

  /** No more frames will arrive; a pending or later receive on an empty queue fails with `reason`. */
  end(reason: CollectiveError): void {
    if (this.endReason === undefined) this.endReason = reason;
    this.failWaiter(reason);
  }

  /** Fails a pending receive (the communicator is aborting). */
  failWaiter(err: Error): void {
    const reject = this.rejectWaiter;
    this.resolveWaiter = undefined;
    this.rejectWaiter = undefined;
    if (reject !== undefined) reject(err);
  }
}
