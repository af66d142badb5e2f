// Recursive-doubling all-reduce (Open MPI's default for small messages): the ranks below P, the
// largest power of two <= N, pair up log2(P) times, partner = rank XOR 1, 2, 4, …, and each pair
// swaps its running sums and adds the other's. log2(P) network steps, each rank one message per
// step; the N - P ranks above P first hand their vector to rank - P and get the total back at the
// end (two steps more).
//
// Reduction order: s_r = x_r + x_{r+P} for r < N - P, else x_r; then a balanced binary tree over
// s_0 … s_{P-1} in rank order ((s0 + s1) + (s2 + s3)) + …. A pair adds the same two values in
// either order, and float32 addition commutes, so every rank ends with the same bits.
import type { OpContext } from '../op-context.js';
import { chunkCount } from '../partition.js';

const STEP_FOLD_IN = 0;   // a rank >= P → rank - P: its vector
const STEP_RESULT = 1;    // rank < N - P → rank + P: the total
const STEP_EXCHANGE = 2;  // step 2 + k: the partners at distance 2^k swap sums

/** The largest power of two <= n (n >= 1). */
export function powerOfTwoBelow(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

export async function doublingAllReduce(ctx: OpContext, x: Float32Array, out: Float32Array): Promise<void> {
  const { rank, worldSize: N } = ctx;
  const P = powerOfTwoBelow(N);
  if (rank >= P) {
    send(ctx, rank - P, STEP_FOLD_IN, x);
    await receive(ctx, rank - P, STEP_RESULT, out, false);
    return;
  }
  if (out !== x) out.set(x);
  if (rank < N - P) await receive(ctx, rank + P, STEP_FOLD_IN, out, true);
  for (let k = 0, d = 1; d < P; k++, d *= 2) {
    // what the partner receives is the sum as the wire carries it: round our own copy the same way
    if (ctx.lossy) ctx.roundOwn(out, 0, out.length);
    send(ctx, rank ^ d, STEP_EXCHANGE + k, out);
    await receive(ctx, rank ^ d, STEP_EXCHANGE + k, out, true);
  }
  if (ctx.lossy) ctx.roundOwn(out, 0, out.length);
  if (rank < N - P) send(ctx, rank + P, STEP_RESULT, out);
}

/** All of `v` to `peer` as `step`, chunk by chunk. */
function send(ctx: OpContext, peer: number, step: number, v: Float32Array): void {
  const C = ctx.chunkElems;
  for (let c = 0, K = chunkCount(v.length, C); c < K; c++) ctx.send(peer, step, v, c * C, c * C, Math.min(C, v.length - c * C));
}

/** All of `step` from `peer` into `out`, copied or added, chunk by chunk. */
async function receive(ctx: OpContext, peer: number, step: number, out: Float32Array, add: boolean): Promise<void> {
  const C = ctx.chunkElems;
  for (let c = 0, K = chunkCount(out.length, C); c < K; c++) await ctx.recv(peer, step, c * C, Math.min(C, out.length - c * C), out, c * C, add);
}
