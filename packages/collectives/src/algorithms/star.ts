// Star all-reduce: every rank sends its vector to rank 0, which sums in rank
// order and sends the sum back to everyone. Two network steps but only
// 2(N-1) messages: the fewest wakeups, which is what small messages pay for
// when N processes share a few cores.
//
// Reduction order: rank order, as one-shot and two-shot.
import type { OpContext } from '../op-context.js';
import { chunkCount } from '../partition.js';

const ROOT = 0;
const STEP_REDUCE = 0;
const STEP_RESULT = 1;

export async function starAllReduce(ctx: OpContext, x: Float32Array, out: Float32Array): Promise<void> {
  const { rank, worldSize: N, chunkElems: C, peers } = ctx;
  const L = x.length;
  const K = chunkCount(L, C);
  if (rank !== ROOT) {
    for (let c = 0; c < K; c++) {
      const o = c * C;
      ctx.send(ROOT, STEP_REDUCE, x, o, o, Math.min(C, L - o));
    }
    for (let c = 0; c < K; c++) {
      const o = c * C;
      await ctx.recv(ROOT, STEP_RESULT, o, Math.min(C, L - o), out, o, false);
    }
    return;
  }
  // The root is rank 0, so its own contribution comes first and `out` can
  // hold the running sum even when it aliases x.
  for (let c = 0; c < K; c++) {
    const o = c * C;
    const n = Math.min(C, L - o);
    if (ctx.lossy) ctx.applyOwn(ctx.encode(STEP_REDUCE, x, o, o, n, 0), n, out, o, false);
    else if (out !== x) out.set(x.subarray(o, o + n), o);
    for (let p = 1; p < N; p++) await ctx.recv(p, STEP_REDUCE, o, n, out, o, true);
    if (ctx.lossy) ctx.roundOwn(out, o, n);
    ctx.sendToAll(peers, STEP_RESULT, out, o, o, n);
  }
}
