// A Communicator is one rank's handle on a world of N ranks: created from
// (rank, world size, peer addresses, communicator id), it forms the full mesh
// of links (gRPC streams or framed sockets, see fabric.ts; on the shm fabric also a segment of the
// host's shared memory) and runs collectives on Float32Arrays, one at a time, in call order (every
// rank must make the same calls in the same order). Its options are communicator-options.ts.
//
// Every operation has a deadline. Any failure (a lost or aborting peer, a
// mismatch, a bad frame, a deadline) aborts the communicator: the pending
// operation rejects, peers get an ABORT naming the reason, and every later
// call rejects with the same error.
import { ringAllGather, ringAllReduce, ringReduceScatter } from './algorithms/ring.js';
import { oneShotAllReduce } from './algorithms/one-shot.js';
import { twoShotAllReduce } from './algorithms/two-shot.js';
import { starAllReduce } from './algorithms/star.js';
import { treeAllReduce } from './algorithms/tree.js';
import { doublingAllReduce } from './algorithms/doubling.js';
import { directAllGather, directReduceScatter } from './algorithms/direct.js';
import { barrier, broadcast, gather } from './algorithms/rooted.js';
import { otherRanks } from './algorithms/kernels.js';
import { algorithmFromEnv, ALGORITHM_ENV, pickAlgorithm, rulesFor } from './auto-select.js';
import type { AllReduceAlgorithm, AllReduceAlgorithmName, AutoRule } from './auto-select.js';
import { AUTO_TABLES } from './auto-table.js';
import { checkOptions, DEFAULT_CHUNK_BYTES, DEFAULT_DEADLINE_MS, invalid } from './communicator-options.js';
import type { AllGatherOptions, AllReduceOptions, CommunicatorOptions, OpOptions, ReduceScatterOptions, ScatterGatherAlgorithm } from './communicator-options.js';
import { CollectiveError, describeError } from './errors.js';
import { OpCode } from './frame-codec.js';
import { Mesh } from './mesh.js';
import { OpContext, opName } from './op-context.js';
import { OpDeadline } from './op-deadline.js';
import { blockLength, blockStart } from './partition.js';
import { parseFabric, resolveFabric } from './fabric.js';
import type { Fabric } from './fabric.js';
import { Endpoint } from './transport.js';
import { joinSegment } from './shared-segment.js';
import type { SharedSegment } from './shared-segment.js';
import { resolveSpinUs, resolveYieldUs, SPIN_MAX_BYTES } from './wait-spin.js';
import { Scratch, wireDtypeOf } from './wire-dtype.js';
import type { WireFormat } from './wire-dtype.js';

export class Communicator {
  readonly rank: number;
  readonly worldSize: number;
  readonly communicatorId: string;
  /** This rank's collective address. */
  readonly address: string;
  /** The data plane this communicator runs on. */
  readonly fabric: Fabric;
  private readonly deadlineMs: number;
  private readonly closeTimeoutMs: number;
  private readonly defaultAlgorithm: AllReduceAlgorithm;
  /** The auto table's rules for this world size (looked up once: an operation allocates nothing to choose). */
  private autoRules: readonly AutoRule[];
  /** The rules among the algorithms that send messages (auto without a shared segment, or a lossy wire). */
  private readonly meshRules: readonly AutoRule[];
  /** The shm fabric's segment, when every rank mapped it. */
  private segment: SharedSegment | undefined;
  private readonly chunkElems: number;
  private readonly peers: readonly number[];
  private readonly payloadScratch = new Scratch();
  private readonly workScratch = new Scratch();
  /** Reused by every operation (operations never overlap). */
  private readonly ctx: OpContext;
  private seq = 0;
  /** An operation is running; later calls wait in `queue` (FIFO, call order). */
  private busy = false;
  private readonly queue: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private closing: Promise<void> | undefined;
  private readonly deadline = new OpDeadline((ms) => this.expired(ms));

  /** How long a wait for a peer polls before it sleeps, µs, as resolved for this world and host (0: it sleeps at once). */
  readonly spinUs: number;

  private constructor(private readonly mesh: Mesh, options: CommunicatorOptions, defaultAlgorithm: AllReduceAlgorithm, spinUs: number) {
    this.spinUs = spinUs;
    this.rank = options.rank;
    this.worldSize = options.worldSize;
    this.communicatorId = options.communicatorId;
    this.address = options.peers[options.rank] as string;
    this.fabric = mesh.fabric;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.defaultAlgorithm = defaultAlgorithm;
    this.meshRules = rulesFor(options.autoTable ?? AUTO_TABLES[mesh.fabric === 'shm' ? 'socket' : mesh.fabric], options.worldSize);
    this.autoRules = this.meshRules;
    this.chunkElems = (options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 4;
    this.peers = otherRanks(options.rank, options.worldSize);
    this.ctx = new OpContext(mesh, this.rank, this.worldSize, this.chunkElems, this.payloadScratch, this.peers, spinUs);
  }

  /** Binds (or takes) this rank's endpoint, connects to every peer, and resolves once the world is formed. */
  static async create(options: CommunicatorOptions): Promise<Communicator> {
    checkOptions(options);
    const envAlgorithm = algorithmFromEnv();
    const algorithm = options.allReduceAlgorithm ?? envAlgorithm ?? 'auto';
    if (options.allReduceAlgorithm === undefined && envAlgorithm !== undefined && envAlgorithm !== 'auto') {
      options.log?.(`rank ${options.rank}: all-reduce forced to ${envAlgorithm} by ${ALGORITHM_ENV}`);
    }
    const security = { clusterToken: options.clusterToken, tls: options.tls };
    if (options.endpoint !== undefined && !options.endpoint.matches(security)) {
      throw invalid(`endpoint ${options.endpoint.address} admits callers by another cluster token or TLS setting than the communicator's`);
    }
    const fabric = options.fabric !== undefined ? parseFabric(options.fabric, 'the fabric option')
      : options.endpoint?.fabric ?? resolveFabric(undefined);
    if (options.endpoint !== undefined && options.endpoint.fabric !== fabric) {
      throw invalid(`endpoint ${options.endpoint.address} speaks the ${options.endpoint.fabric} fabric, the communicator was asked for ${fabric}`);
    }
    const endpoint = options.endpoint ?? await Endpoint.bind(options.peers[options.rank] as string, { ...security, fabric });
    const me = { communicatorId: options.communicatorId, worldSize: options.worldSize, rank: options.rank, address: options.peers[options.rank] as string };
    const spinUs = resolveSpinUs(options.spinUs, options.worldSize);
    if (spinUs > 0) options.log?.(`rank ${options.rank}: a wait for a peer polls for up to ${spinUs} us before it sleeps (operations up to ${SPIN_MAX_BYTES / 1024} KiB)`);
    const mesh = new Mesh(me, options.peers, endpoint, security);
    await mesh.form(options.connectTimeoutMs ?? DEFAULT_DEADLINE_MS);
    const comm = new Communicator(mesh, options, algorithm, spinUs);
    if (fabric === 'shm' && options.worldSize > 1) {
      try { await comm.attachSegment(options); } catch (err) { await comm.close().catch(ignore); throw err; }
    }
    return comm;
  }

  /** Whether all-reduces run through a shared-memory segment (the shm fabric, every rank on one host). */
  get sharedMemory(): boolean { return this.segment !== undefined; }

  /** The shm fabric: every rank joins one shared segment, or the world stays on messages (joinSegment says why). */
  private async attachSegment(options: CommunicatorOptions): Promise<void> {
    const spec = {
      rank: this.rank, world: this.worldSize, id: this.communicatorId, pieceBytes: this.chunkElems * 4,
      spinUs: this.spinUs, yieldUs: resolveYieldUs(this.spinUs), failed: () => this.mesh.failed,
    };
    this.segment = await joinSegment(this, spec, options.tls !== undefined, options.log);
    if (this.segment !== undefined) this.autoRules = rulesFor(options.autoTable ?? AUTO_TABLES.shm, this.worldSize);
  }

  /** The error that aborted this communicator, if any. */
  get failure(): CollectiveError | undefined { return this.mesh.failed; }

  /** The algorithm an all-reduce of `length` floats runs with the given (or default) choice. */
  allReduceAlgorithmFor(length: number, algorithm: AllReduceAlgorithm = this.defaultAlgorithm, wire: WireFormat = 'f32'): AllReduceAlgorithmName {
    const name = algorithm === 'auto' ? pickAlgorithm(this.autoRules, length * 4) : algorithm;
    // shared memory carries float32 as they are: a narrower wire format means messages
    return name === 'shm' && wire !== 'f32' ? pickAlgorithm(this.meshRules, length * 4) : name;
  }

  /**
   * Sums `data` across ranks; every rank ends with the same bits. In place
   * unless `output` is given; do not touch `data` until the promise settles.
   */
  allReduce(data: Float32Array, options: AllReduceOptions = {}): Promise<Float32Array> {
    const out = options.output ?? data;
    const algorithm = this.allReduceAlgorithmFor(data.length, options.algorithm ?? this.defaultAlgorithm, options.wire);
    const op = ALL_REDUCE_OPS[algorithm];
    const segment = this.segment;
    return this.run(op, data.length, options.wire, options.deadlineMs, async (ctx) => {
      if (out.length !== data.length) throw invalid(`allReduce output has ${out.length} elements, the input ${data.length}`);
      if (this.worldSize === 1) { if (out !== data) out.set(data); return out; }
      if (algorithm === 'ring') await ringAllReduce(ctx, data, out);
      else if (algorithm === 'oneshot') await oneShotAllReduce(ctx, data, out, this.work(data.length));
      else if (algorithm === 'twoshot') await twoShotAllReduce(ctx, data, out, this.work(blockLength(data.length, this.worldSize, this.rank)));
      else if (algorithm === 'tree') await treeAllReduce(ctx, data, out, this.work(Math.min(data.length, this.chunkElems)));
      else if (algorithm === 'doubling') await doublingAllReduce(ctx, data, out);
      else if (algorithm === 'shm') {
        if (segment === undefined) {
          throw invalid(`the shm all-reduce needs the shm fabric with every rank on one host; this communicator runs the ${this.fabric} fabric without a shared segment`);
        }
        await segment.allReduce(ctx, data, out);
      }
      else await starAllReduce(ctx, data, out);
      return out;
    });
  }

  /**
   * Sums `input` (length L, the same on every rank) across ranks and returns
   * this rank's block [blockStart(L, N, rank), blockStart(L, N, rank + 1)) of the sum.
   */
  reduceScatter(input: Float32Array, options: ReduceScatterOptions = {}): Promise<Float32Array> {
    const L = input.length;
    const len = blockLength(L, this.worldSize, this.rank);
    const out = options.output ?? new Float32Array(len);
    const ring = this.scatterGatherRing(options.algorithm, L);
    return this.run(ring ? OpCode.REDUCE_SCATTER_RING : OpCode.REDUCE_SCATTER_DIRECT, L, options.wire, options.deadlineMs, async (ctx) => {
      if (out.length !== len) throw invalid(`reduceScatter output has ${out.length} elements, this rank's block ${len}`);
      if (this.worldSize === 1) { out.set(input); return out; }
      if (!ring) { await directReduceScatter(ctx, input, out); return out; }
      const buf = this.work(L);
      buf.set(input);
      await ringReduceScatter(ctx, buf, 0);
      const s = blockStart(L, this.worldSize, this.rank);
      out.set(buf.subarray(s, s + len));
      return out;
    });
  }

  /** Concatenates every rank's `input` (the same length B on every rank) in rank order: N*B elements. */
  allGather(input: Float32Array, options: AllGatherOptions = {}): Promise<Float32Array> {
    const B = input.length;
    const L = B * this.worldSize;
    const out = options.output ?? new Float32Array(L);
    const ring = this.scatterGatherRing(options.algorithm, L);
    return this.run(ring ? OpCode.ALL_GATHER_RING : OpCode.ALL_GATHER_DIRECT, L, 'f32', options.deadlineMs, async (ctx) => {
      if (out.length !== L) throw invalid(`allGather output has ${out.length} elements, expected ${this.worldSize} x ${B}`);
      out.set(input, this.rank * B);
      if (this.worldSize === 1) return out;
      if (ring) await ringAllGather(ctx, out, 0);
      else await directAllGather(ctx, out);
      return out;
    });
  }

  /** Copies `data` of rank `root` into `data` on every other rank (same length everywhere). */
  broadcast(data: Float32Array, root: number, options: OpOptions = {}): Promise<Float32Array> {
    return this.run(OpCode.BROADCAST, data.length, 'f32', options.deadlineMs, async (ctx) => {
      this.checkRoot(root, 'broadcast');
      await broadcast(ctx, data, root);
      return data;
    });
  }

  /** Resolves on every rank once every rank has called barrier. */
  barrier(options: OpOptions = {}): Promise<void> {
    const segment = this.segment;
    return this.run(OpCode.BARRIER, 0, 'f32', options.deadlineMs, (ctx) => segment !== undefined ? segment.barrierOp(ctx) : barrier(ctx));
  }

  /** Root receives every rank's `input` (length B everywhere) in rank order (N*B elements); other ranks get null. */
  gather(input: Float32Array, root: number, options: OpOptions = {}): Promise<Float32Array | null> {
    const L = input.length * this.worldSize;
    return this.run(OpCode.GATHER, L, 'f32', options.deadlineMs, async (ctx) => {
      this.checkRoot(root, 'gather');
      const out = this.rank === root ? new Float32Array(L) : undefined;
      await gather(ctx, input, root, out);
      return out ?? null;
    });
  }

  /**
   * Finishes queued operations, says GOODBYE to every peer, waits briefly for
   * theirs, and drops all connections. Later calls reject with CLOSED.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const drained = this.busy ? new Promise<void>((resolve) => this.idleWaiters.push(resolve)) : Promise.resolve();
      this.closing = drained.then(() => { this.deadline.close(); return this.mesh.close(this.closeTimeoutMs); });
    }
    return this.closing;
  }

  // ------------------------------------------------------------ internals

  private work(n: number): Float32Array {
    return new Float32Array(this.workScratch.bytes(n * 4), 0, n);
  }

  private scatterGatherRing(algorithm: ScatterGatherAlgorithm | undefined, length: number): boolean {
    if (algorithm === 'ring') return true;
    if (algorithm === 'direct') return false;
    return pickAlgorithm(this.autoRules, length * 4) === 'ring';
  }

  private checkRoot(root: number, what: string): void {
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      throw invalid(`${what} root ${root} is outside 0..${this.worldSize - 1}`);
    }
  }

  /** Runs one operation now, or queues it behind the running one; each runs under its deadline. */
  private run<T>(op: OpCode, total: number, wire: WireFormat | undefined, deadlineMs: number | undefined,
    body: (ctx: OpContext) => Promise<T>): Promise<T> {
    if (this.closing !== undefined) {
      return Promise.reject(new CollectiveError('CLOSED', `communicator '${this.communicatorId}' on rank ${this.rank} is closed`));
    }
    const seq = ++this.seq;
    const start = (): Promise<T> => this.execute(seq, op, total, wire ?? 'f32', deadlineMs ?? this.deadlineMs, body);
    if (!this.busy) {
      this.busy = true;
      return start();
    }
    return new Promise<T>((resolve, reject) => { this.queue.push(() => { start().then(resolve, reject); }); });
  }

  /** Starts the next queued operation, or wakes close() when none is left. */
  private startNext(): void {
    const next = this.queue.shift();
    if (next !== undefined) { next(); return; }
    this.busy = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async execute<T>(seq: number, op: OpCode, total: number, wire: WireFormat, deadlineMs: number,
    body: (ctx: OpContext) => Promise<T>): Promise<T> {
    const failed = this.mesh.failed;
    if (failed !== undefined) { this.startNext(); throw failed; }
    const ctx = this.ctx;
    ctx.reset(seq, op, total, wireDtypeOf(wire));
    this.deadline.arm(deadlineMs);
    try {
      const result = await body(ctx);
      this.mesh.finish(seq);
      return result;
    } catch (err) {
      const e = err instanceof CollectiveError ? err : new CollectiveError('PROTOCOL', `rank ${this.rank}: ${describeError(err)}`);
      this.mesh.fail(e);
      throw this.mesh.failed ?? e;
    } finally {
      this.deadline.disarm();
      this.startNext();
    }
  }

  /** The running operation ran past its deadline: the mesh fails, and every rank's pending receive with it. */
  private expired(deadlineMs: number): void {
    const ctx = this.ctx;
    const waiting = ctx.waitingOn >= 0 ? `still waiting for ${this.mesh.peerName(ctx.waitingOn)}` : 'not waiting on any peer';
    this.mesh.fail(new CollectiveError('DEADLINE',
      `${opName(ctx.op)} (op #${ctx.seq}, ${ctx.total} elements) did not finish within ${deadlineMs} ms on rank ${this.rank}; ${waiting}`));
  }
}

const ALL_REDUCE_OPS: Record<AllReduceAlgorithmName, OpCode> = {
  ring: OpCode.ALL_REDUCE_RING,
  oneshot: OpCode.ALL_REDUCE_ONE_SHOT,
  twoshot: OpCode.ALL_REDUCE_TWO_SHOT,
  star: OpCode.ALL_REDUCE_STAR,
  tree: OpCode.ALL_REDUCE_TREE,
  doubling: OpCode.ALL_REDUCE_DOUBLING,
  shm: OpCode.ALL_REDUCE_SHM,
};

function ignore(): void {
  // The queue only orders operations; each caller sees its own outcome.
}

