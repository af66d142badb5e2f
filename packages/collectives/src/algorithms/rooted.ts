// Collectives with a root: broadcast, gather, and the barrier (a gather and a
// broadcast of nothing through rank 0).
import type { OpContext } from '../op-context.js';
import { chunkCount } from '../partition.js';

/** Root sends data to every rank; the others receive into data (same length). */
export async function broadcast(ctx: OpContext, data: Float32Array, root: number): Promise<void> {
  const { rank, chunkElems: C, peers } = ctx;
  const L = data.length;
  const K = chunkCount(L, C);
  for (let c = 0; c < K; c++) {
    const o = c * C;
    const n = Math.min(C, L - o);
    if (rank === root) ctx.sendToAll(peers, 0, data, o, o, n);
    else await ctx.recv(root, 0, o, n, data, o, false);
  }
}

/**
 * Every rank sends its block (length B) to root, which fills out (length N*B)
 * with block p at [p*B, (p+1)*B). The op's vector is the N*B gathered elements.
 */
export async function gather(ctx: OpContext, x: Float32Array, root: number, out: Float32Array | undefined): Promise<void> {
  const { rank, worldSize: N, chunkElems: C } = ctx;
  const B = x.length;
  const K = chunkCount(B, C);
  if (rank !== root) {
    for (let c = 0; c < K; c++) {
      const o = c * C;
      ctx.send(root, 0, x, o, rank * B + o, Math.min(C, B - o));
    }
    return;
  }
  const o = out as Float32Array;
  o.set(x, rank * B);
  for (let p = 0; p < N; p++) {
    if (p === rank) continue;
    for (let c = 0; c < K; c++) {
      const at = p * B + c * C;
      await ctx.recv(p, 0, at, Math.min(C, B - c * C), o, at, false);
    }
  }
}

const EMPTY = new Float32Array(0);

/** Returns on every rank only after every rank has entered: all report to rank 0, which then releases all. */
export async function barrier(ctx: OpContext): Promise<void> {
  if (ctx.rank !== 0) {
    ctx.send(0, 0, EMPTY, 0, 0, 0);
    await ctx.recv(0, 1, 0, 0, EMPTY, 0, false);
    return;
  }
  for (const p of ctx.peers) await ctx.recv(p, 0, 0, 0, EMPTY, 0, false);
  ctx.sendToAll(ctx.peers, 1, EMPTY, 0, 0, 0);
}
