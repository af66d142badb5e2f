// Splits a byte stream into records of [flag u8][length u32 BE][body]: the
// gRPC message prefix, also the record prefix of the socket fabric. A record
// wholly inside one chunk is delivered as a view of it (no copy); one that
// spans chunks is copied once into a buffer of its final size, placed 5 bytes
// into an 8-aligned allocation, where it would sit after its prefix:
// frame-codec pads DATA headers so the payload is then 4-byte aligned.
import { FreeBuffers, POOL_MIN_BYTES } from './free-buffers.js';

export const RECORD_PREFIX_BYTES = 5;

/** Receives each record; returns false to stop deframing (the owner closed the stream). */
export type RecordSink = (flag: number, body: Buffer) => boolean;

/** The flag a sink gets (with an empty body) for a record longer than the Deframer's limit; nothing follows it. */
export const OVERSIZED = -1;

/**
 * The buffers of large records, reused once the frame they carry has been consumed
 * (releaseRecord). A fresh ArrayBuffer per large record is external memory, which V8 answers with
 * mark-compact collections (2 ranks in a 1 MiB ring all-reduce: ~25% of their CPU in major GC);
 * with buffers reused an all-reduce of 256 KiB to 4 MiB takes 20-27% less CPU. The pool knows its
 * own buffers (a WeakSet), so releasing a view of anything else, or a record that was never
 * released, is harmless.
 */
class RecordPool {
  private readonly owned = new WeakSet<ArrayBuffer>();
  private readonly free = new FreeBuffers<ArrayBuffer>((ab) => ab.byteLength);

  take(len: number): Buffer {
    const ab = this.free.take(len + RECORD_PREFIX_BYTES);
    if (ab !== undefined) return Buffer.from(ab, RECORD_PREFIX_BYTES, len);
    const fresh = Buffer.allocUnsafeSlow(len + RECORD_PREFIX_BYTES);
    this.owned.add(fresh.buffer as ArrayBuffer);
    return fresh.subarray(RECORD_PREFIX_BYTES);
  }

  give(ab: ArrayBuffer): void {
    if (this.owned.has(ab)) this.free.give(ab);
  }
}

const pool = new RecordPool();

function recordBuffer(len: number): Buffer {
  if (len >= POOL_MIN_BYTES) return pool.take(len);
  return Buffer.allocUnsafe(len + RECORD_PREFIX_BYTES).subarray(RECORD_PREFIX_BYTES);
}

/**
 * Hands the record that `view` is part of back for reuse, once nothing reads it any more (the
 * receive that consumed its frame). Views of other memory (read slabs, gRPC messages) are ignored.
 * Releasing a record twice, or one still in use, would corrupt a later record: call it once, last.
 */
export function releaseRecord(view: Uint8Array): void {
  pool.give(view.buffer as ArrayBuffer);
}

const EMPTY = Buffer.alloc(0);

export class Deframer {
  private readonly prefix = Buffer.alloc(RECORD_PREFIX_BYTES); // a prefix split across chunks
  private prefixFill = 0;
  private partial: Buffer | undefined;   // a record split across chunks, being filled
  private partialFlag = 0;
  private partialFill = 0;

  /** Longest record accepted; a longer one is reported as OVERSIZED (its bytes are never buffered). */
  maxBytes = Infinity;
  private stopped = false;

  constructor(private readonly sink: RecordSink) {}

  private oversized(len: number): boolean {
    if (len <= this.maxBytes) return false;
    this.stopped = true;
    this.sink(OVERSIZED, EMPTY);
    return true;
  }

  /**
   * Where the next bytes of the record being filled belong, when at least
   * `min` of it are still missing: a reader may read straight into it and
   * call filled(). Undefined otherwise (read into a chunk and push it).
   */
  fillTarget(min: number): Buffer | undefined {
    const p = this.partial;
    if (p === undefined || this.stopped || p.length - this.partialFill < min) return undefined;
    return p.subarray(this.partialFill);
  }

  /** `n` bytes were read straight into the buffer fillTarget() returned. */
  filled(n: number): void {
    const p = this.partial as Buffer;
    this.partialFill += n;
    if (this.partialFill < p.length) return;
    this.partial = undefined;
    if (!this.sink(this.partialFlag, p)) this.stopped = true;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let at = 0;
    while (at < chunk.length) {
      if (this.partial !== undefined) {
        const n = Math.min(chunk.length - at, this.partial.length - this.partialFill);
        chunk.copy(this.partial, this.partialFill, at, at + n);
        this.partialFill += n;
        at += n;
        if (this.partialFill < this.partial.length) return;
        const body = this.partial;
        this.partial = undefined;
        if (!this.sink(this.partialFlag, body)) return;
        continue;
      }
      if (this.prefixFill > 0 || chunk.length - at < RECORD_PREFIX_BYTES) {
        const n = Math.min(RECORD_PREFIX_BYTES - this.prefixFill, chunk.length - at);
        chunk.copy(this.prefix, this.prefixFill, at, at + n);
        this.prefixFill += n;
        at += n;
        if (this.prefixFill < RECORD_PREFIX_BYTES) return;
        this.prefixFill = 0;
        const len = this.prefix.readUInt32BE(1);
        if (this.oversized(len)) return;
        if (len === 0) { if (!this.sink(this.prefix[0] as number, EMPTY)) return; continue; }
        this.partialFlag = this.prefix[0] as number;
        this.partial = recordBuffer(len);
        this.partialFill = 0;
        continue;
      }
      // A whole prefix in this chunk; a whole record too, most of the time (no copy then).
      const flag = chunk[at] as number;
      const len = chunk.readUInt32BE(at + 1);
      if (this.oversized(len)) return;
      at += RECORD_PREFIX_BYTES;
      if (chunk.length - at >= len) {
        const body = chunk.subarray(at, at + len);
        at += len;
        if (!this.sink(flag, body)) return;
      } else {
        this.partialFlag = flag;
        this.partial = recordBuffer(len);
        this.partialFill = 0;
      }
    }
  }
}
