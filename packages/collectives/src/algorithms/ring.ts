// Ring all-reduce: a reduce-scatter around the ring (rank r sends to r+1),
// then an all-gather around the ring. 2(N-1) steps of 1/N of the vector each;
// every step is cut into chunks and each chunk is forwarded as soon as it is
// reduced, so the steps overlap (pipelined).
//
// Reduction order: block c (see partition.ts) is summed along the ring
// starting at rank c+1: ((x{c+1} + x{c+2}) + …) + x{c}. Every rank ends with
// the same bits (the all-gather copies), but they differ from rank order.
import type { OpContext } from '../op-context.js';
import { blockLength, blockStart, chunkCount, mod } from '../partition.js';

/**
 * Ring reduce-scatter on `buf` (length L, this rank's contribution on entry).
 * On return buf[block rank] holds the sum; other blocks hold partial sums.
 * Uses steps [stepBase, stepBase + N - 1).
 */
export async function ringReduceScatter(ctx: OpContext, buf: Float32Array, stepBase: number): Promise<void> {
  const { rank, worldSize: N, chunkElems: C } = ctx;
  const L = buf.length;
  const next = mod(rank + 1, N);
  const prev = mod(rank - 1, N);
  sendBlock(ctx, next, stepBase, buf, mod(rank - 1, N));
  for (let s = 0; s < N - 1; s++) {
    const b = mod(rank - 2 - s, N);             // the block whose partial arrives at step s
    const start = blockStart(L, N, b);
    const len = blockLength(L, N, b);
    for (let c = 0, K = chunkCount(len, C); c < K; c++) {
      const o = start + c * C;
      const n = Math.min(C, start + len - o);
      await ctx.recv(prev, stepBase + s, o, n, buf, o, true);
      if (s < N - 2) ctx.send(next, stepBase + s + 1, buf, o, o, n);
    }
  }
  if (ctx.lossy) ctx.roundOwn(buf, blockStart(L, N, rank), blockLength(L, N, rank));
}

/**
 * Ring all-gather on `buf` (length L): on entry buf[block rank] is this rank's
 * block; on return every block is filled. Uses steps [stepBase, stepBase + N - 1).
 */
export async function ringAllGather(ctx: OpContext, buf: Float32Array, stepBase: number): Promise<void> {
  const { rank, worldSize: N, chunkElems: C } = ctx;
  const L = buf.length;
  const next = mod(rank + 1, N);
  const prev = mod(rank - 1, N);
  sendBlock(ctx, next, stepBase, buf, rank);
  for (let s = 0; s < N - 1; s++) {
    const b = mod(rank - 1 - s, N);             // the block that arrives at step s
    const start = blockStart(L, N, b);
    const len = blockLength(L, N, b);
    for (let c = 0, K = chunkCount(len, C); c < K; c++) {
      const o = start + c * C;
      const n = Math.min(C, start + len - o);
      await ctx.recv(prev, stepBase + s, o, n, buf, o, false);
      if (s < N - 2) ctx.send(next, stepBase + s + 1, buf, o, o, n);
    }
  }
}

function sendBlock(ctx: OpContext, peer: number, step: number, buf: Float32Array, b: number): void {
  const L = buf.length;
  const start = blockStart(L, ctx.worldSize, b);
  const len = blockLength(L, ctx.worldSize, b);
  const C = ctx.chunkElems;
  for (let c = 0, K = chunkCount(len, C); c < K; c++) {
    const o = start + c * C;
    ctx.send(peer, step, buf, o, o, Math.min(C, start + len - o));
  }
}

export async function ringAllReduce(ctx: OpContext, x: Float32Array, out: Float32Array): Promise<void> {
  if (out !== x) out.set(x);
  await ringReduceScatter(ctx, out, 0);
  await ringAllGather(ctx, out, ctx.worldSize - 1);
}
