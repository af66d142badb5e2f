// Two-shot all-reduce: rank b owns block b (1/N of the vector). Shot one:
// every rank sends block b of its vector to rank b, which sums the N
// contributions. Shot two: every owner sends its summed block to all ranks.
// Two network steps; 2N(N-1) messages of 1/N of the vector each.
//
// Reduction order: rank order, as one-shot, so both give the same bits.
import type { OpContext } from '../op-context.js';
import { blockLength, blockStart, chunkCount } from '../partition.js';
import { reduceOwnChunk, sendBlocksToOwners } from './direct.js';

const STEP_REDUCE = 0;
const STEP_GATHER = 1;

export async function twoShotAllReduce(ctx: OpContext, x: Float32Array, out: Float32Array, work: Float32Array): Promise<void> {
  const { rank, worldSize: N, chunkElems: C, peers } = ctx;
  const L = x.length;
  // Shot one, sending: block p of x to its owner p.
  sendBlocksToOwners(ctx, x, STEP_REDUCE);
  // Shot one, reducing the own block chunk by chunk in rank order; shot two
  // sends each finished chunk at once.
  const s = blockStart(L, N, rank);
  const len = blockLength(L, N, rank);
  for (let c = 0, K = chunkCount(len, C); c < K; c++) {
    const o = s + c * C;
    const n = Math.min(C, s + len - o);
    const at = o - s;
    await reduceOwnChunk(ctx, x, STEP_REDUCE, o, n, work, at);
    if (ctx.lossy) ctx.roundOwn(work, at, n);
    ctx.sendToAll(peers, STEP_GATHER, work, at, o, n);
  }
  // x's own block has been read; the sum may now overwrite it.
  out.set(work.subarray(0, len), s);
  // Shot two, receiving every other owner's block.
  for (const p of peers) {
    const ps = blockStart(L, N, p);
    const plen = blockLength(L, N, p);
    for (let c = 0, K = chunkCount(plen, C); c < K; c++) {
      const o = ps + c * C;
      await ctx.recv(p, STEP_GATHER, o, Math.min(C, ps + plen - o), out, o, false);
    }
  }
}
