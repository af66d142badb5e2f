// Direct reduce-scatter and all-gather: every rank talks to every other rank
// in one step (the two halves of two-shot, usable on their own). Few steps,
// N(N-1) messages: for small and medium sizes.
import type { OpContext } from '../op-context.js';
import { blockLength, blockStart, chunkCount } from '../partition.js';
import { addInto } from './kernels.js';

/**
 * Direct reduce-scatter: out (length of block `rank`) = sum over ranks of
 * x[block rank], in rank order.
 */
export async function directReduceScatter(ctx: OpContext, x: Float32Array, out: Float32Array): Promise<void> {
  const { rank, worldSize: N, chunkElems: C, peers } = ctx;
  const L = x.length;
  for (const p of peers) {
    const s = blockStart(L, N, p);
    const len = blockLength(L, N, p);
    for (let c = 0, K = chunkCount(len, C); c < K; c++) {
      const o = s + c * C;
      ctx.send(p, 0, x, o, o, Math.min(C, s + len - o));
    }
  }
  const s = blockStart(L, N, rank);
  const len = blockLength(L, N, rank);
  for (let c = 0, K = chunkCount(len, C); c < K; c++) {
    const o = s + c * C;
    const n = Math.min(C, s + len - o);
    const at = o - s;
    for (let p = 0; p < N; p++) {
      const add = p > 0;
      if (p !== rank) await ctx.recv(p, 0, o, n, out, at, add);
      else if (ctx.lossy) ctx.applyOwn(ctx.encode(0, x, o, o, n, 0), n, out, at, add);
      else if (add) addInto(out, at, x, o, n);
      else out.set(x.subarray(o, o + n), at);
    }
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
