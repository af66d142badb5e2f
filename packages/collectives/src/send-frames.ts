// The buffers of large outgoing DATA frames, reused once nothing reads them any more. A fresh
// buffer per large frame is external memory, which V8 answers with mark-compact collections: in
// an 8-rank 256 KiB star all-reduce about a fifth of all CPU went to marking and sweeping.
//
// A frame has holders: the operation that encoded it (it may read its own payload until it
// ends) and every link write that has not completed. A link that cannot say when its write is
// done (the gRPC fabric) never releases its hold, so its frames are simply left to the
// collector, as before: a frame whose release is lost is garbage, never reused early.
import { FreeBuffers } from './free-buffers.js';

/** One pooled buffer and its holders; `done` (made once) releases one hold. */
export class PooledFrame {
  holds = 0;
  readonly done = (): void => { this.release(); };

  constructor(readonly raw: Buffer, private readonly pool: SendFramePool) {}

  hold(): void { this.holds += 1; }

  release(): void {
    this.holds -= 1;
    if (this.holds === 0) this.pool.give(this);
  }
}

export class SendFramePool {
  private readonly free = new FreeBuffers<PooledFrame>((f) => f.raw.length);

  /** A frame buffer of at least `bytes`, held once by the caller. */
  take(bytes: number): PooledFrame {
    const f = this.free.take(bytes) ?? new PooledFrame(Buffer.allocUnsafeSlow(bytes), this);
    f.hold();
    return f;
  }

  give(f: PooledFrame): void {
    this.free.give(f);
  }
}
