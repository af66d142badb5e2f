// Scenarios the collective tests (not the package's index) run on every rank through the harness (runRanks). Each
// is an exported async function of a RankContext; what it returns goes back
// to the test process (structured clone, so typed arrays survive).
import type { AllReduceAlgorithm } from './auto-select.js';
import type { Communicator } from './communicator.js';
import type { CommunicatorOptions } from './communicator-options.js';
import { CollectiveError, describeError } from './errors.js';
import { allocDataFrame, decodeFrame, FrameKind } from './frame-codec.js';
import type { DataHeader, OpCode, WireDtype } from './frame-codec.js';
import type { RankContext } from './harness.js';
import type { WireFormat } from './wire-dtype.js';

/** Deterministic pseudo-random floats for (seed, rank, length); the tests recompute the inputs. */
export function inputFor(seed: number, rank: number, length: number, integers: boolean): Float32Array {
  const x = new Float32Array(length);
  let s = (seed * 2654435761 + rank * 40503 + length * 97 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;        // LCG
    const u = s / 4294967296;
    // integers: exact under any summation order; otherwise mixed magnitudes so the order shows in the bits
    x[i] = integers ? Math.floor(u * 17) - 8 : (u - 0.5) * Math.pow(2, (Math.floor(u * 4096) % 24) - 12);
  }
  return x;
}

/** The outcome of one call, reported instead of thrown so the test sees every rank. */
export interface Attempt {
  ok: boolean;
  code?: string;
  message?: string;
  ms: number;
}

async function attempt(fn: () => Promise<unknown>): Promise<Attempt> {
  const t0 = performance.now();
  try {
    await fn();
    return { ok: true, ms: performance.now() - t0 };
  } catch (err) {
    return { ok: false, code: err instanceof CollectiveError ? err.code : undefined, message: describeError(err), ms: performance.now() - t0 };
  }
}

export interface AllReduceCase {
  algorithm: AllReduceAlgorithm;
  length: number;
  integers: boolean;
  inPlace: boolean;
  wire?: WireFormat;
}

/** Runs each case twice (run-to-run identity) and returns every result, in order. */
export async function allReduceCases(ctx: RankContext): Promise<Float32Array[]> {
  const { cases, seed, chunkBytes } = ctx.args as { cases: AllReduceCase[]; seed: number; chunkBytes?: number };
  const comm = await ctx.connect({ deadlineMs: 20_000, chunkBytes });
  const results: Float32Array[] = [];
  for (const c of cases) {
    for (let rep = 0; rep < 2; rep++) {
      const x = inputFor(seed, ctx.rank, c.length, c.integers);
      const out = c.inPlace ? x : new Float32Array(c.length);
      await comm.allReduce(x, { algorithm: c.algorithm, output: out, wire: c.wire });
      results.push(out);
    }
  }
  await comm.close();
  return results;
}

/** One large all-reduce; returns a digest instead of the array (64 MiB does not need to travel back). */
export async function bigAllReduce(ctx: RankContext): Promise<{ ok: boolean; first: number; last: number }> {
  const { length, algorithm } = ctx.args as { length: number; algorithm: AllReduceAlgorithm };
  const comm = await ctx.connect({ deadlineMs: 60_000 });
  const x = new Float32Array(length);
  for (let i = 0; i < length; i++) x[i] = ((i + ctx.rank) % 5) - 2;
  await comm.allReduce(x, { algorithm });
  let ok = true;
  for (let i = 0; i < length && ok; i++) {
    let s = 0;
    for (let r = 0; r < ctx.worldSize; r++) s += ((i + r) % 5) - 2;
    ok = x[i] === s;
  }
  await comm.close();
  return { ok, first: x[0] as number, last: x[length - 1] as number };
}

/** The other collectives on seeded inputs; the test checks every output. */
export async function otherCollectives(ctx: RankContext): Promise<Record<string, Float32Array | null>> {
  const { seed, lengths, chunkBytes } = ctx.args as { seed: number; lengths: number[]; chunkBytes?: number };
  const comm = await ctx.connect({ deadlineMs: 20_000, chunkBytes });
  const out: Record<string, Float32Array | null> = {};
  for (const L of lengths) {
    for (const algorithm of ['ring', 'direct'] as const) {
      out[`rs-${algorithm}-${L}`] = await comm.reduceScatter(inputFor(seed, ctx.rank, L, false), { algorithm });
      out[`ag-${algorithm}-${L}`] = await comm.allGather(inputFor(seed, ctx.rank, L, false), { algorithm });
    }
    for (let root = 0; root < ctx.worldSize; root++) {
      const b = ctx.rank === root ? inputFor(seed, root, L, false) : new Float32Array(L).fill(NaN);
      out[`bc-${root}-${L}`] = await comm.broadcast(b, root);
    }
    out[`ga-${L}`] = await comm.gather(inputFor(seed, ctx.rank, L, false), ctx.worldSize - 1);
  }
  await comm.close();
  return out;
}

/** Rank `late` enters the barrier `delayMs` late; returns when each rank left it. */
export async function barrierWait(ctx: RankContext): Promise<{ leftAt: number }> {
  const { late, delayMs } = ctx.args as { late: number; delayMs: number };
  const comm = await ctx.connect({ deadlineMs: 20_000 });
  await comm.barrier();
  const t0 = Date.now();
  if (ctx.rank === late) await new Promise((r) => setTimeout(r, delayMs));
  await comm.barrier();
  const leftAt = Date.now() - t0;
  await comm.close();
  return { leftAt };
}

/** Tries to form the world with per-rank overrides (communicator id, world size); reports the outcome. */
export async function formOnly(ctx: RankContext): Promise<Attempt> {
  const o = (ctx.args ?? {}) as { communicatorId?: string; worldSize?: number; peers?: number; connectTimeoutMs?: number };
  return attempt(async () => {
    const peers = o.peers === undefined ? ctx.peers : ctx.peers.slice(0, o.peers);
    const comm = await ctx.connect({
      communicatorId: o.communicatorId ?? ctx.communicatorId, worldSize: o.worldSize ?? ctx.worldSize, peers,
      connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    });
    await comm.close();
  });
}

/** Every rank starts a long all-reduce; `victim` signals once it is mid-operation and the test kills it. */
export async function killedMidOperation(ctx: RankContext): Promise<Attempt> {
  const { victim, length, deadlineMs } = ctx.args as { victim: number; length: number; deadlineMs: number };
  const comm = await ctx.connect({ deadlineMs, chunkBytes: 64 * 1024 });
  await comm.barrier();
  const x = new Float32Array(length).fill(1);
  if (ctx.rank === victim) {
    void comm.allReduce(x, { algorithm: 'ring' }).catch(() => undefined);
    setTimeout(() => ctx.signal('mid-operation'), 20);
    await new Promise(() => undefined); // killed by the test
  }
  return attempt(() => comm.allReduce(x, { algorithm: 'ring' }));
}

/**
 * Rank `culprit` damages the frames it sends. Every rank reports its
 * all-reduce (whether the sum was right when it succeeded) and a barrier after it.
 */
export async function faultyFrames(ctx: RankContext): Promise<{ first: Attempt; sumRight: boolean; then: Attempt }> {
  const { culprit, fault, deadlineMs } = ctx.args as { culprit: number; fault: 'duplicate' | 'reorder' | 'truncate'; deadlineMs: number };
  const comm = await ctx.connect({ deadlineMs, chunkBytes: 1024 });
  // A slow rank may still be in this barrier when the others already failed.
  const ready = await attempt(() => comm.barrier());
  if (!ready.ok) return { first: ready, sumRight: false, then: ready };
  if (ctx.rank === culprit) damageFrames(comm, fault);
  const x = new Float32Array(2048).fill(ctx.rank);
  const first = await attempt(() => comm.allReduce(x, { algorithm: 'oneshot' }));
  const want = (ctx.worldSize * (ctx.worldSize - 1)) / 2;
  const sumRight = x.every((v) => v === want);
  const then = await attempt(() => comm.barrier());
  return { first, sumRight, then };
}

/** Wraps the communicator's frame sender (test-only reach into its internals) to damage DATA frames. */
function damageFrames(comm: Communicator, fault: 'duplicate' | 'reorder' | 'truncate'): void {
  const mesh = (comm as unknown as { mesh: { send(peer: number, frame: Buffer): void } }).mesh;
  const send = mesh.send.bind(mesh);
  const held = new Map<number, Buffer>();
  mesh.send = (peer: number, frame: Buffer): void => {
    const f = decodeFrame(frame);
    if (f.kind !== FrameKind.DATA) { send(peer, frame); return; }
    if (fault === 'duplicate') { send(peer, frame); send(peer, frame); return; }
    if (fault === 'reorder') {
      const first = held.get(peer);
      if (first === undefined && f.index === 0) { held.set(peer, frame); return; }
      send(peer, frame);
      if (first !== undefined) { held.delete(peer); send(peer, first); }
      return;
    }
    const header: DataHeader = { seq: f.seq, index: f.index, op: f.op as OpCode, step: f.step, offset: f.offset, count: f.count, dtype: f.dtype as WireDtype, total: f.total };
    const cut = f.payload.subarray(0, f.payload.length - 4);
    const { frame: short, payloadAt } = allocDataFrame(header, cut.length);
    cut.copy(short, payloadAt);
    send(peer, short);
  };
}

/** Ranks disagree about one call (algorithm or length) made by rank `odd`. */
export async function mismatchedCall(ctx: RankContext): Promise<Attempt> {
  const { odd, kind, deadlineMs } = ctx.args as { odd: number; kind: 'algorithm' | 'length'; deadlineMs: number };
  const length = kind === 'length' && ctx.rank === odd ? 1000 : 1024;
  const algorithm: AllReduceAlgorithm = kind === 'algorithm' && ctx.rank === odd ? 'ring' : 'twoshot';
  // Faster ranks may fail the world while a slow one is still connecting: that counts too.
  return attempt(async () => {
    const comm = await ctx.connect({ deadlineMs });
    await comm.allReduce(new Float32Array(length).fill(1), { algorithm });
  });
}

/** Rank `sleeper` calls `sleepMs` late; the others must give up at their deadline, the sleeper at once. */
export async function lateRank(ctx: RankContext): Promise<Attempt> {
  const { sleeper, sleepMs, deadlineMs } = ctx.args as { sleeper: number; sleepMs: number; deadlineMs: number };
  const comm = await ctx.connect({ deadlineMs });
  await comm.barrier();
  if (ctx.rank === sleeper) await new Promise((r) => setTimeout(r, sleepMs));
  const first = await attempt(() => comm.allReduce(new Float32Array(64).fill(1), { algorithm: 'star' }));
  const again = await attempt(() => comm.allReduce(new Float32Array(64).fill(1)));
  return { ...first, message: `${first.message ?? 'ok'} | then: ${again.code ?? 'ok'} ${again.message ?? ''}` };
}

/** Forms the world and reports whether all-reduces go through shared memory, and what the communicator logged. */
export async function segmentInfo(ctx: RankContext): Promise<{ sharedMemory: boolean; log: string[]; sum: number }> {
  const log: string[] = [];
  const comm = await ctx.connect({ log: (line) => log.push(line), ...(ctx.args as Partial<CommunicatorOptions> | undefined) });
  const x = Float32Array.of(ctx.rank + 1);
  await comm.allReduce(x);
  await comm.close();
  return { sharedMemory: comm.sharedMemory, log, sum: x[0] as number };
}
