// One-shot all-reduce: every rank sends its whole vector to every other rank
// and sums all N contributions itself. One network step; N(N-1) messages.
//
// Reduction order: out[e] = ((x0[e] + x1[e]) + x2[e]) + … + x{N-1}[e] on every
// rank (rank order), the same bits as two-shot and star.
import type { EncodedChunk, OpContext } from '../op-context.js';
import { chunkCount } from '../partition.js';
import { addInto } from './kernels.js';

export async function oneShotAllReduce(ctx: OpContext, x: Float32Array, out: Float32Array, work: Float32Array): Promise<void> {
  const L = x.length;
  const C = ctx.chunkElems;
  const K = chunkCount(L, C);
  const peers = ctx.peers;
  // The sum is built in `work` when out aliases x: x is still read at position `rank`.
  const acc = out === x ? work : out;
  const own: (EncodedChunk | undefined)[] = [];
  for (let c = 0; c < K; c++) {
    const o = c * C;
    const n = Math.min(C, L - o);
    own.push(ctx.sendToAll(peers, 0, x, o, o, n));
  }
  for (let c = 0; c < K; c++) {
    const o = c * C;
    const n = Math.min(C, L - o);
    for (let p = 0; p < ctx.worldSize; p++) {
      const add = p > 0;
      if (p !== ctx.rank) await ctx.recv(p, 0, o, n, acc, o, add);
      else if (ctx.lossy) ctx.applyOwn(own[c] as EncodedChunk, n, acc, o, add);
      else if (add) addInto(acc, o, x, o, n);
      else acc.set(x.subarray(o, o + n), o);
    }
  }
  if (acc !== out) out.set(acc.subarray(0, L));
}
