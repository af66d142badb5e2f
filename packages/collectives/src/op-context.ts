// What an algorithm sees of the communicator during one operation: send a
// chunk of a Float32Array to a peer (encoded and copied at once, so the
// caller may overwrite its array right after), and receive the next chunk
// from a peer with every field checked against what this rank expects.
import { CollectiveError } from './errors.js';
import { allocDataFrame, dataFrameBytes, OpCode, WireDtype } from './frame-codec.js';
import type { DataHeader, Frame } from './frame-codec.js';
import { releaseRecord } from './length-prefixed.js';
import type { Mesh } from './mesh.js';
import { applyPayload, bytesPerElement, encodeElements, roundTripInPlace, wireFormatName } from './wire-dtype.js';
import type { Scratch } from './wire-dtype.js';
import { SPIN_MAX_BYTES } from './wait-spin.js';
import { POOL_MIN_BYTES } from './free-buffers.js';
import { SendFramePool } from './send-frames.js';
import type { PooledFrame } from './send-frames.js';

const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(OpCode).map(([k, v]) => [v, k.toLowerCase().replaceAll('_', '-')]));

export function opName(op: number): string {
  return OP_NAMES[op] ?? `op ${op}`;
}

/** An encoded chunk: the frame to write and a view of its payload (for using one's own contribution). */
export interface EncodedChunk {
  frame: Buffer;
  payload: Buffer;
  /** The pooled buffer under the frame, when it is a large one. */
  pooled: PooledFrame | undefined;
}

export class OpContext {
  seq = 0;
  op: OpCode = OpCode.BARRIER;
  /** Elements in the operation's vector (checked on receive). */
  total = 0;
  dtype: WireDtype = WireDtype.F32;
  /** True when values lose bits on the wire (bf16/f16): senders must round their own copies too. */
  lossy = false;
  /** How long this operation's receives poll before they sleep, µs: 0 above SPIN_MAX_BYTES. */
  private waitSpinUs = 0;
  /** The peer a receive is waiting on (-1: none), for deadline messages. */
  waitingOn = -1;
  private readonly nextIndex: Int32Array;  // [worldSize] next frame index to each peer
  private readonly header: DataHeader;
  private readonly frames = new SendFramePool();
  /** The pooled frames this operation encoded: it holds them until the next one starts. */
  private readonly held: PooledFrame[] = [];

  constructor(
    private readonly mesh: Mesh,
    readonly rank: number,
    readonly worldSize: number,
    readonly chunkElems: number,     // elements per frame at most
    readonly scratch: Scratch,
    readonly peers: readonly number[], // every rank but this one, in rank order
    private readonly spinUs = 0,       // how long a receive that has to wait polls first (wait-spin.ts)
  ) {
    this.nextIndex = new Int32Array(worldSize);
    this.header = { seq: 0, index: 0, op: this.op, step: 0, offset: 0, count: 0, dtype: this.dtype, total: 0 };
  }

  /** Prepares this context for operation `seq` (one context serves every operation in turn). */
  reset(seq: number, op: OpCode, total: number, dtype: WireDtype): void {
    this.seq = seq;
    this.op = op;
    this.total = total;
    this.dtype = dtype;
    this.lossy = dtype !== WireDtype.F32;
    this.waitingOn = -1;
    this.waitSpinUs = total * 4 <= SPIN_MAX_BYTES ? this.spinUs : 0;
    this.nextIndex.fill(0);
    for (const f of this.held) f.release();
    this.held.length = 0;
    const h = this.header;
    h.seq = seq; h.op = op; h.total = total; h.dtype = dtype;
  }

  /** Encodes src[at, at+count) as the elements [offset, offset+count) of `step`. */
  encode(step: number, src: Float32Array, at: number, offset: number, count: number, index: number): EncodedChunk {
    const h = this.header;
    h.index = index; h.step = step; h.offset = offset; h.count = count;
    const bytes = count * bytesPerElement(this.dtype);
    let pooled: PooledFrame | undefined;
    if (bytes >= POOL_MIN_BYTES) {
      pooled = this.frames.take(dataFrameBytes(bytes));
      this.held.push(pooled);
    }
    const { frame, payloadAt } = allocDataFrame(h, bytes, pooled?.raw);
    encodeElements(this.dtype, frame, payloadAt, src, at, count);
    return { frame, payload: frame.subarray(payloadAt, payloadAt + bytes), pooled };
  }

  /** Queues a chunk's frame to `peer`; a pooled frame stays held until the link has written it. */
  private queue(peer: number, chunk: EncodedChunk): void {
    const p = chunk.pooled;
    p?.hold();
    this.mesh.send(peer, chunk.frame, p?.done);
  }

  /** Sends one chunk (one frame) to `peer`. */
  send(peer: number, step: number, src: Float32Array, at: number, offset: number, count: number): EncodedChunk {
    const chunk = this.encode(step, src, at, offset, count, this.nextIndex[peer] as number);
    this.nextIndex[peer] = (this.nextIndex[peer] as number) + 1;
    this.queue(peer, chunk);
    return chunk;
  }

  /**
   * Sends the same chunk to every peer in `peers` (encoded once when their
   * frame counters agree, which they do in the algorithms that use this).
   */
  sendToAll(peers: readonly number[], step: number, src: Float32Array, at: number, offset: number, count: number): EncodedChunk | undefined {
    let shared: EncodedChunk | undefined;
    let sharedIndex = -1;
    for (const peer of peers) {
      const index = this.nextIndex[peer] as number;
      if (shared === undefined || index !== sharedIndex) {
        shared = this.encode(step, src, at, offset, count, index);
        sharedIndex = index;
      }
      this.nextIndex[peer] = index + 1;
      this.queue(peer, shared);
    }
    return shared;
  }

  /**
   * Receives the next frame from `peer`, which must carry elements
   * [offset, offset+count) of `step`, and copies (add = false) or adds
   * (add = true, dst = dst + frame) them into dst[at, at+count).
   */
  async recv(peer: number, step: number, offset: number, count: number, dst: Float32Array, at: number, add: boolean): Promise<void> {
    this.waitingOn = peer;
    const f = await this.mesh.next(peer, this.seq, this.waitSpinUs);
    this.waitingOn = -1;
    this.check(peer, f, step, offset, count);
    applyPayload(add, dst, at, f.payload, f.dtype, count, this.scratch);
    // the frame is consumed: a large record's buffer goes back to the socket fabric's pool
    releaseRecord(f.payload);
  }

  /** Applies one of this rank's own encoded chunks the way a receiver would (lossy wire formats). */
  applyOwn(chunk: EncodedChunk, count: number, dst: Float32Array, at: number, add: boolean): void {
    applyPayload(add, dst, at, chunk.payload, this.dtype, count, this.scratch);
  }

  /** Rounds a[at, at+n) through the wire format, as every receiver of it will see it. */
  roundOwn(a: Float32Array, at: number, n: number): void {
    roundTripInPlace(this.dtype, a, at, n);
  }

  private check(peer: number, f: Frame, step: number, offset: number, count: number): void {
    const who = this.mesh.peerName(peer);
    if (f.op !== this.op) {
      throw new CollectiveError('MISMATCH', `${who} runs ${opName(f.op)} as op #${this.seq}, this rank runs ${opName(this.op)}: ` +
        'every rank must make the same calls in the same order with the same algorithm (check OCTOSERVE_ALLREDUCE_ALGO on every rank)');
    }
    if (f.total !== this.total) {
      throw new CollectiveError('MISMATCH', `${who} called ${opName(this.op)} (op #${this.seq}) with ${f.total} elements, this rank with ${this.total}`);
    }
    if (f.dtype !== this.dtype) {
      throw new CollectiveError('MISMATCH', `${who} sends ${wireFormatName(f.dtype)} on the wire in op #${this.seq}, this rank expects ${wireFormatName(this.dtype)}`);
    }
    if (f.step !== step || f.offset !== offset || f.count !== count) {
      throw new CollectiveError('MISMATCH', `${who} sent elements [${f.offset}, ${f.offset + f.count}) of step ${f.step} in op #${this.seq}; ` +
        `this rank expected [${offset}, ${offset + count}) of step ${step} (do the ranks use the same chunk size?)`);
    }
    const want = count * bytesPerElement(f.dtype);
    if (f.payload.length !== want) {
      throw new CollectiveError('PROTOCOL', `truncated payload from ${who}: frame ${f.index} of op #${this.seq} carries ${f.payload.length} bytes ` +
        `for ${count} ${wireFormatName(f.dtype)} elements (${want} bytes)`);
    }
  }
}
