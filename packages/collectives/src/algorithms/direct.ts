// Direct reduce-scatter and all-gather: every rank talks to every other rank
// in one step (the two halves of two-shot, usable on their own). Few steps,
// N(N-1) messages: for small and medium sizes.
import type { OpContext } from '../op-context.js';
import { blockLength, blockStart, chunkCount } from '../partition.js';
import { addInto } from './kernels.js';

/** Sends block p of x, chunk by chunk, to its owner p, for every peer p. */
export function sendBlocksToOwners(ctx: OpContext, x: Float32Array, step: number): void {
  const { worldSize: N, chunkElems: C, peers } = ctx;
  const L = x.length;
  for (const p of peers) {
    const s = blockStart(L, N, p);
    const len = blockLength(L, N, p);
    for (let c = 0, K = chunkCount(len, C); c < K; c++) {
      const o = s + c * C;
      ctx.send(p, step, x, o, o, Math.min(C, s + len - o));
    }
  }
}

/**
 * dest[at, at + n) = sum over ranks of x[o, o + n) (a chunk of this rank's block), in rank
 * order: the peers' contributions as they arrive, this rank's own from x.
 */
export async function reduceOwnChunk(ctx: OpContext, x: Float32Array, step: number, o: number, n: number, dest: Float32Array, at: number): Promise<void> {
  const { rank, worldSize: N } = ctx;
  for (let p = 0; p < N; p++) {
    const add = p > 0;
    if (p !== rank) await ctx.recv(p, step, o, n, dest, at, add);
    else if (ctx.lossy) ctx.applyOwn(ctx.encode(step, x, o, o, n, 0), n, dest, at, add);
    else if (add) addInto(dest, at, x, o, n);
    else dest.set(x.subarray(o, o + n), at);
  }
}

/**
 * Direct reduce-scatter: out (length of block `rank`) = sum over ranks of
 * x[block rank], in rank order.
 */
export async function directReduceScatter(ctx: OpContext, x: Float32Array, out: Float32Array): Promise<void> {
  const { rank, worldSize: N, chunkElems: C } = ctx;
  const L = x.length;
  sendBlocksToOwners(ctx, x, 0);
  const s = blockStart(L, N, rank);
  const len = blockLength(L, N, rank);
  for (let c = 0, K = chunkCount(len, C); c < K; c++) {
    const o = s + c * C;
    await reduceOwnChunk(ctx, x, 0, o, Math.min(C, s + len - o), out, o - s);
  }
}

/** Direct all-gather: buf[block rank] is this rank's block on entry; every block is filled on return. */
export async function directAllGather(ctx: OpContext, buf: Float32Array): Promise<void> {
  const { rank, worldSize: N, chunkElems: C, peers } = ctx;
  const L = buf.length;
  const s = blockStart(L, N, rank);
  const len = blockLength(L, N, rank);
  for (let c = 0, K = chunkCount(len, C); c < K; c++) {
    const o = s + c * C;
    ctx.sendToAll(peers, 0, buf, o, o, Math.min(C, s + len - o));
  }
  for (const p of peers) {
    const ps = blockStart(L, N, p);
    const plen = blockLength(L, N, p);
    for (let c = 0, K = chunkCount(plen, C); c < K; c++) {
      const o = ps + c * C;
      await ctx.recv(p, 0, o, Math.min(C, ps + plen - o), buf, o, false);
    }
  }
}
