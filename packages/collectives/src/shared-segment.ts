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
/**
 * How long a wait that does not spin (more ranks than cores) keeps looking, giving its core to
 * any runnable process between looks, before it sleeps on the counter; $OCTOSERVE_SHM_YIELD_US
 * overrides. A sleeper costs a wakeup (the last rank to arrive wakes all); one that yields is
 * already running when the count is reached. stories110M shape, tp=4, q4a8, 128 tokens, two
 * runs each: 0 us 77.5 / 75.7 tok/s, 200 us 87.4 / 97.4, 1000 us 87.9 / 98.9.
 */
export const DEFAULT_YIELD_US = 500;
export const YIELD_ENV = 'OCTOSERVE_SHM_YIELD_US';

/** How long one wait blocks the event loop before it lets sockets and timers run (a dead peer, the deadline). */
const SLICE_MS = 20;

/** What a segment needs of the communicator: who failed and for what to wait. */
export interface SegmentHost {
  readonly failed: CollectiveError | undefined;
}

export class SharedSegment {
  private readonly ctl: Int32Array;
  private readonly slots: Float32Array[];   // [parity * N + rank]
  /** The slots and result areas as one array (slot (p, r) starts at (p * N + r) * pieceElems). */
  private readonly data: Float32Array;
  private readonly headersAt: number;
  private barriers = 0;
  private parity = 0;

  private constructor(
    private readonly buffer: ArrayBuffer,
    private readonly rank: number,
    private readonly world: number,
    readonly pieceElems: number,
    private readonly spinUs: number,
    private readonly yieldUs: number,
  ) {
    this.ctl = new Int32Array(buffer, 0, controlBytes(world) / 4);
    this.headersAt = ARRIVED + world * LINE;
    const base = controlBytes(world);
    const pieceBytes = pieceElems * 4;
    this.data = new Float32Array(buffer, base, (2 * world + 2) * pieceElems);
    this.slots = Array.from({ length: 2 * world }, (_, i) => new Float32Array(buffer, base + i * pieceBytes, pieceElems));
  }

  /** Bytes of a segment for `world` ranks and pieces of `pieceBytes`. */
  static bytes(world: number, pieceBytes: number): number {
    return controlBytes(world) + (2 * world + 2) * pieceBytes;
  }

  /** Creates the segment file at `path` (rank 0) and maps it. */
  static create(path: string, rank: number, world: number, id: string, pieceBytes: number, spinUs: number, yieldUs: number): SharedSegment {
    const bytes = SharedSegment.bytes(world, pieceBytes);
    createSegment(path, bytes);
    const seg = new SharedSegment(mapSegment(path, bytes), rank, world, pieceBytes / 4, spinUs, yieldUs);
    seg.ctl[W_WORLD] = world;
    seg.ctl[W_ID] = idHash(id);
    seg.ctl[W_PIECE] = pieceBytes;
    Atomics.store(seg.ctl, W_MAGIC, MAGIC);
    return seg;
  }

  /** Maps the segment rank 0 created, checking it was made for this world. */
  static open(path: string, rank: number, world: number, id: string, pieceBytes: number, spinUs: number, yieldUs: number): SharedSegment {
    const seg = new SharedSegment(mapSegment(path, SharedSegment.bytes(world, pieceBytes)), rank, world, pieceBytes / 4, spinUs, yieldUs);
    const c = seg.ctl;
    if (Atomics.load(c, W_MAGIC) !== MAGIC || c[W_WORLD] !== world || c[W_ID] !== idHash(id) || c[W_PIECE] !== pieceBytes) {
      throw new CollectiveError('MISMATCH', `${path} was not made for communicator '${id}' of ${world} ranks with ${pieceBytes}-byte pieces`);
    }
    return seg;
  }

  /** Removes the segment's file name (its memory lives on while ranks map it). */
  static unlink(path: string): void { removeSegment(path); }

  /**
   * Sums x across the ranks into out (may alias x); op `ctx.seq` on every rank. A piece that
   * every rank finds waiting allocates nothing here: the sums and the copy out are native calls
   * on the segment's one array, and only a long wait makes a promise.
   */
  async allReduce(ctx: OpContext, host: SegmentHost, x: Float32Array, out: Float32Array): Promise<void> {
    const L = x.length;
    const N = this.world;
    const P = this.pieceElems;
    for (let o = 0; o < L; o += P) {
      const n = Math.min(P, L - o);
      const p = this.parity;
      this.slots[p * N + this.rank]!.set(n === L ? x : x.subarray(o, o + n));
      this.post(ctx, o, n);
      if (!this.barrier()) await this.waitLong(ctx, host);
      this.checkHeaders(ctx, p, o, n);
      if (n * 4 <= ONE_PHASE_MAX_BYTES) {
        sumRows(this.data, p * N * P, P, N, out, o, n); // every slot, in rank order
        continue;
      }
      // this rank's block of the piece into the result area of parity p; after a second barrier everyone copies the whole sum
      const s = blockStart(n, N, this.rank);
      const result = (2 * N + p) * P;
      sumRows(this.data, p * N * P + s, P, N, this.data, result + s, blockLength(n, N, this.rank));
      if (!this.barrier()) await this.waitLong(ctx, host);
      sumRows(this.data, result, 0, 1, out, o, n);
    }
  }

  /** A barrier of every rank (op `ctx.seq`), through the segment. */
  async barrierOp(ctx: OpContext, host: SegmentHost): Promise<void> {
    const p = this.parity;
    this.post(ctx, -1, 0);
    if (!this.barrier()) await this.waitLong(ctx, host);
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
    return waitUntil(this.ctl, W_COUNTER, target, this.spinUs, this.yieldUs, SLICE_MS);
  }

  /** The barrier takes longer: between slices the event loop runs, so a lost peer or the deadline ends the wait. */
  private async waitLong(ctx: OpContext, host: SegmentHost): Promise<void> {
    const b = this.barriers;
    const target = Math.imul(b, this.world);
    for (;;) {
      ctx.waitingOn = this.firstMissing(b);
      await new Promise<void>((resolve) => setImmediate(resolve));
      const failed = host.failed;
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

  /** The mapping ends when the last view of it is collected; nothing else to release. */
  get byteLength(): number { return this.buffer.byteLength; }
}

/** The yield of a wait, µs: $OCTOSERVE_SHM_YIELD_US (whole µs up to 100 000) or DEFAULT_YIELD_US. */
export function yieldUsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[YIELD_ENV];
  if (v === undefined || v === '') return DEFAULT_YIELD_US;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 100_000) {
    throw new CollectiveError('INVALID_ARGUMENT', `${YIELD_ENV} takes whole microseconds 0..100000, got '${v}'`);
  }
  return n;
}

function pieceText(seq: number, o: number, n: number): string {
  return o < 0 ? `the barrier of op #${seq}` : `elements [${o}, ${o + n}) of op #${seq}`;
}

function controlBytes(world: number): number {
  const words = ARRIVED + 3 * world * LINE;
  return Math.ceil((words * 4) / 4096) * 4096;
}

/** What joinSegment needs of a formed world: its identity and two collectives over the mesh. */
export interface SegmentWorld {
  readonly rank: number;
  readonly worldSize: number;
  readonly communicatorId: string;
  broadcast(data: Float32Array, root: number): Promise<Float32Array>;
  allGather(input: Float32Array): Promise<Float32Array>;
}

export interface JoinOptions {
  pieceBytes: number;
  spinUs: number;
  yieldUs: number;
  /** Mutual TLS is configured: ranks talk only over TLS links, so no segment. */
  tls: boolean;
  log?: (line: string) => void;
}

/**
 * Rank 0 creates a segment file and tells the others its name over the mesh (whose links
 * checked the cluster token); every rank maps it and says whether it could; the file name goes
 * once all have answered, so no file outlives the world. Returns this rank's segment when every
 * rank mapped it, else undefined, after a log line that says which rank could not and why.
 */
export async function joinSegment(world: SegmentWorld, o: JoinOptions): Promise<SharedSegment | undefined> {
  const { rank, worldSize, communicatorId: id } = world;
  const name = new Float32Array(3); // [created, two random 24-bit numbers]
  const pathOf = (): string =>
    join(SEGMENT_DIR, `octoserve-${id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 48)}-${(name[1] as number).toString(16)}${(name[2] as number).toString(16)}`);
  let why = o.tls ? 'mutual TLS is configured, so ranks talk only over TLS links' : sharedMemoryUnavailable();
  let path: string | undefined;
  let seg: SharedSegment | undefined;
  let mapped: Float32Array;
  try {
    if (rank === 0 && why === undefined) {
      name[1] = randomInt(1 << 24); name[2] = randomInt(1 << 24);
      path = pathOf();
      try { seg = SharedSegment.create(path, 0, worldSize, id, o.pieceBytes, o.spinUs, o.yieldUs); name[0] = 1; } catch (err) { why = describeError(err); }
    }
    await world.broadcast(name, 0);
    if (rank !== 0 && why === undefined) {
      if (name[0] !== 1) why = 'rank 0 could not create the segment';
      else {
        path = pathOf();
        try { seg = SharedSegment.open(path, rank, worldSize, id, o.pieceBytes, o.spinUs, o.yieldUs); } catch (err) { why = describeError(err); }
      }
    }
    mapped = await world.allGather(Float32Array.of(seg !== undefined ? 1 : 0));
  } finally {
    // every rank has answered (or the world failed): the name goes either way
    if (rank === 0 && path !== undefined) SharedSegment.unlink(path);
  }
  const missing = [...mapped].flatMap((ok, r) => (ok === 1 ? [] : [r]));
  if (missing.length === 0 && seg !== undefined) {
    o.log?.(`rank ${rank}: all-reduce through shared memory (${(seg.byteLength / 2 ** 20).toFixed(1)} MiB segment, ${worldSize} ranks)`);
    return seg;
  }
  o.log?.(`rank ${rank}: the shm fabric falls back to socket messages: rank(s) ${missing.join(', ')} could not map the shared segment` +
    (why !== undefined ? ` (here: ${why})` : ''));
  return undefined;
}

/** FNV-1a of the communicator id: the segment names the world it was made for. */
function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h | 0;
}
