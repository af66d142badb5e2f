// The shm fabric's all-reduce: the ranks of one host share a segment of memory (a file on
// /dev/shm mapped into every rank's process, @octoserve/shared-memory) and meet at barriers on
// one counter in it, each rank sleeping on the counter (futex) until the last one arrives and
// wakes them all. No message crosses a socket: one all-reduce of up to ONE_PHASE_MAX_BYTES is
// one copy in, one barrier, and a sum of every rank's slot in rank order, done by every rank
// (so every rank holds the same bits); larger pieces take two barriers, each rank summing its
// block of the piece once (reduce-scatter) and everyone copying the sum out.
//
// Layout (32-bit words; one 64-byte line per field a rank writes, so ranks do not share lines):
//   line 0:               magic, world size, communicator id hash, piece bytes (the creator writes them)
//   line 1:               the barrier counter
//   lines 2 .. 2+N-1:     per rank, the last barrier it reached (for deadline messages)
//   lines 2+N .. 2+3N-1:  per parity and rank, [op #, offset, count] of the piece in its slot
//   then 2 x N slots of piece bytes (parity p, rank r) and 2 result areas of piece bytes.
// Pieces alternate parity: a rank writes a slot of parity p again only after every rank passed
// the barrier of the piece between, so after every rank finished reading the slot.
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { arrive, createSegment, mapSegment, removeSegment, SEGMENT_DIR, sharedMemoryUnavailable, sumRows, waitUntil } from '@octoserve/shared-memory';
import { CollectiveError, describeError } from './errors.js';
import type { OpContext } from './op-context.js';
import { blockLength, blockStart } from './partition.js';

const MAGIC = 0x4f435348;
const LINE = 16;
const W_MAGIC = 0;
const W_WORLD = 1;
const W_ID = 2;
const W_PIECE = 3;
const W_COUNTER = LINE;
const ARRIVED = 2 * LINE;
/**
 * Pieces up to this many bytes are summed by every rank after one barrier; larger ones by blocks,
 * two barriers. 8 ranks on 2 cores, native sums, p50 us of two runs at 4 / 16 / 64 KiB: every
 * rank sums everything 79-69 / 106-92 / 350-328, by blocks 105-60 / 186-150 / 336-312.
 */
export const ONE_PHASE_MAX_BYTES = 16 * 1024;
/** How long one wait blocks the event loop before it lets sockets and timers run (a dead peer, the deadline). */
const SLICE_MS = 20;

/** What a segment is made for: this rank of a world, its pieces, and how its waits behave. */
export interface SegmentSpec {
  rank: number;
  world: number;
  /** The communicator id (its hash is checked by every rank that maps the segment). */
  id: string;
  pieceBytes: number;
  /** Wait phases (wait-spin.ts): poll, then yield the core between looks, then sleep. */
  spinUs: number;
  yieldUs: number;
  /** The world's failure, read between the slices of a long wait. */
  failed: () => CollectiveError | undefined;
}

export class SharedSegment {
  private readonly ctl: Int32Array;
  /** The slots and result areas as one array: slot (p, r) starts at (p * N + r) * P, result p at (2N + p) * P. */
  private readonly data: Float32Array;
  private readonly rank: number;
  private readonly world: number;
  private readonly pieceElems: number;
  private readonly headersAt: number;
  private barriers = 0;
  private parity = 0;

  private constructor(readonly byteLength: number, buffer: ArrayBuffer, private readonly spec: SegmentSpec) {
    this.rank = spec.rank;
    this.world = spec.world;
    this.pieceElems = spec.pieceBytes / 4;
    this.ctl = new Int32Array(buffer, 0, controlBytes(spec.world) / 4);
    this.headersAt = ARRIVED + spec.world * LINE;
    this.data = new Float32Array(buffer, controlBytes(spec.world), (2 * spec.world + 2) * this.pieceElems);
  }

  /** Bytes of a segment for `world` ranks and pieces of `pieceBytes`. */
  static bytes(world: number, pieceBytes: number): number {
    return controlBytes(world) + (2 * world + 2) * pieceBytes;
  }

  /** Creates the segment file at `path` (rank 0) and maps it. */
  static create(path: string, spec: SegmentSpec): SharedSegment {
    const bytes = SharedSegment.bytes(spec.world, spec.pieceBytes);
    createSegment(path, bytes);
    const seg = new SharedSegment(bytes, mapSegment(path, bytes), spec);
    seg.ctl[W_WORLD] = spec.world;
    seg.ctl[W_ID] = idHash(spec.id);
    seg.ctl[W_PIECE] = spec.pieceBytes;
    Atomics.store(seg.ctl, W_MAGIC, MAGIC);
    return seg;
  }

  /** Maps the segment rank 0 created, checking it was made for this world. */
  static open(path: string, spec: SegmentSpec): SharedSegment {
    const bytes = SharedSegment.bytes(spec.world, spec.pieceBytes);
    const seg = new SharedSegment(bytes, mapSegment(path, bytes), spec);
    const c = seg.ctl;
    if (Atomics.load(c, W_MAGIC) !== MAGIC || c[W_WORLD] !== spec.world || c[W_ID] !== idHash(spec.id) || c[W_PIECE] !== spec.pieceBytes) {
      throw new CollectiveError('MISMATCH', `${path} was not made for communicator '${spec.id}' of ${spec.world} ranks with ${spec.pieceBytes}-byte pieces`);
    }
    return seg;
  }

  /**
   * Sums x across the ranks into out (may alias x); op `ctx.seq` on every rank. A piece that
   * every rank finds waiting allocates nothing here: the sums and the copy out are native calls
   * on the segment's one array, and only a long wait makes a promise.
   */
  async allReduce(ctx: OpContext, x: Float32Array, out: Float32Array): Promise<void> {
    const L = x.length;
    const N = this.world;
    const P = this.pieceElems;
    for (let o = 0; o < L; o += P) {
      const n = Math.min(P, L - o);
      const p = this.parity;
      this.data.set(n === L ? x : x.subarray(o, o + n), (p * N + this.rank) * P);
      this.post(ctx, o, n);
      if (!this.barrier()) await this.waitLong(ctx);
      this.checkHeaders(ctx, p, o, n);
      if (n * 4 <= ONE_PHASE_MAX_BYTES) {
        sumRows(this.data, p * N * P, P, N, out, o, n); // every slot, in rank order
        continue;
      }
      // this rank's block of the piece into the result area of parity p; after a second barrier everyone copies the whole sum
      const s = blockStart(n, N, this.rank);
      const result = (2 * N + p) * P;
      sumRows(this.data, p * N * P + s, P, N, this.data, result + s, blockLength(n, N, this.rank));
      if (!this.barrier()) await this.waitLong(ctx);
      sumRows(this.data, result, 0, 1, out, o, n);
    }
  }

  /** A barrier of every rank (op `ctx.seq`), through the segment. */
  async barrierOp(ctx: OpContext): Promise<void> {
    const p = this.parity;
    this.post(ctx, -1, 0);
    if (!this.barrier()) await this.waitLong(ctx);
    this.checkHeaders(ctx, p, -1, 0);
  }

  /**
   * Says, beside this rank's slot of the current parity, what it put there (elements [o, o+n)
   * of op ctx.seq; a barrier: o = -1), and moves to the other parity. After the barrier every
   * rank checks that all said the same (checkHeaders).
   */
  private post(ctx: OpContext, o: number, n: number): void {
    const p = this.parity;
    this.parity = p ^ 1;
    const h = this.headersAt + (p * this.world + this.rank) * LINE;
    this.ctl[h] = ctx.seq; this.ctl[h + 1] = o; this.ctl[h + 2] = n;
  }

  /** Arrives at the next barrier; true when every rank has (waiting up to one slice). */
  private barrier(): boolean {
    const b = ++this.barriers;
    const target = Math.imul(b, this.world);
    this.ctl[ARRIVED + this.rank * LINE] = b;
    arrive(this.ctl, W_COUNTER, target);
    return waitUntil(this.ctl, W_COUNTER, target, this.spec.spinUs, this.spec.yieldUs, SLICE_MS);
  }

  /** The barrier takes longer: between slices the event loop runs, so a lost peer or the deadline ends the wait. */
  private async waitLong(ctx: OpContext): Promise<void> {
    const b = this.barriers;
    const target = Math.imul(b, this.world);
    for (;;) {
      ctx.waitingOn = this.firstMissing(b);
      await new Promise<void>((resolve) => setImmediate(resolve));
      const failed = this.spec.failed();
      if (failed !== undefined) throw failed;
      if (waitUntil(this.ctl, W_COUNTER, target, 0, 0, SLICE_MS)) { ctx.waitingOn = -1; return; }
    }
  }

  private firstMissing(b: number): number {
    for (let r = 0; r < this.world; r++) if (((this.ctl[ARRIVED + r * LINE] as number) - b | 0) < 0) return r;
    return -1;
  }

  private checkHeaders(ctx: OpContext, p: number, o: number, n: number): void {
    for (let q = 0; q < this.world; q++) {
      const h = this.headersAt + (p * this.world + q) * LINE;
      const c = this.ctl;
      if (c[h] !== ctx.seq || c[h + 1] !== o || c[h + 2] !== n) {
        throw new CollectiveError('MISMATCH', `rank ${q} is at ${pieceText(c[h] as number, c[h + 1] as number, c[h + 2] as number)} in the shared segment, ` +
          `rank ${this.rank} at ${pieceText(ctx.seq, o, n)}: every rank must make the same calls in the same order with the same algorithm`);
      }
    }
  }
}

function pieceText(seq: number, o: number, n: number): string {
  return o < 0 ? `the barrier of op #${seq}` : `elements [${o}, ${o + n}) of op #${seq}`;
}

function controlBytes(world: number): number {
  const words = ARRIVED + 3 * world * LINE;
  return Math.ceil((words * 4) / 4096) * 4096;
}

/** What joinSegment needs of a formed world: two collectives over its mesh. */
export interface SegmentWorld {
  broadcast(data: Float32Array, root: number): Promise<Float32Array>;
  allGather(input: Float32Array): Promise<Float32Array>;
}

/**
 * Rank 0 creates a segment file and tells the others its name over the mesh (whose links
 * checked the cluster token); every rank maps it and says whether it could; the file name goes
 * once all have answered, so no file outlives the world. Returns this rank's segment when every
 * rank mapped it, else undefined, after a log line that says which rank could not and why.
 */
export async function joinSegment(world: SegmentWorld, spec: SegmentSpec, tls: boolean, log?: (line: string) => void): Promise<SharedSegment | undefined> {
  const { rank, world: worldSize, id } = spec;
  const name = new Float32Array(3); // [created, two random 24-bit numbers]
  const pathOf = (): string =>
    join(SEGMENT_DIR, `octoserve-${id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 48)}-${(name[1] as number).toString(16)}${(name[2] as number).toString(16)}`);
  let why = tls ? 'mutual TLS is configured, so ranks talk only over TLS links' : sharedMemoryUnavailable();
  let path: string | undefined;
  let seg: SharedSegment | undefined;
  let mapped: Float32Array;
  try {
    if (rank === 0 && why === undefined) {
      name[1] = randomInt(1 << 24); name[2] = randomInt(1 << 24);
      path = pathOf();
      try { seg = SharedSegment.create(path, spec); name[0] = 1; } catch (err) { why = describeError(err); }
    }
    await world.broadcast(name, 0);
    if (rank !== 0 && why === undefined) {
      if (name[0] !== 1) why = 'rank 0 could not create the segment';
      else {
        path = pathOf();
        try { seg = SharedSegment.open(path, spec); } catch (err) { why = describeError(err); }
      }
    }
    mapped = await world.allGather(Float32Array.of(seg !== undefined ? 1 : 0));
  } finally {
    // every rank has answered (or the world failed): the name goes either way
    if (rank === 0 && path !== undefined) removeSegment(path);
  }
  const missing = [...mapped].flatMap((ok, r) => (ok === 1 ? [] : [r]));
  if (missing.length === 0 && seg !== undefined) {
    log?.(`rank ${rank}: all-reduce through shared memory (${(seg.byteLength / 2 ** 20).toFixed(1)} MiB segment, ${worldSize} ranks)`);
    return seg;
  }
  log?.(`rank ${rank}: the shm fabric falls back to socket messages: rank(s) ${missing.join(', ')} could not map the shared segment` +
    (why !== undefined ? ` (here: ${why})` : ''));
  return undefined;
}

/** FNV-1a of the communicator id: the segment names the world it was made for. */
function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h | 0;
}
