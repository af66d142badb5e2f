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
  const { rank, worldSize: N, chunkElems: C } = ctx;
  const L = x.length;
  const K = chunkCount(L, C);
  const P = powerOfTwoBelow(N);
  const chunks = (each: (o: number, n: number) => void): void => {
    for (let c = 0; c < K; c++) each(c * C, Math.min(C, L - c * C));
  };
  const receive = async (peer: number, step: number, add: boolean): Promise<void> => {
    for (let c = 0; c < K; c++) await ctx.recv(peer, step, c * C, Math.min(C, L - c * C), out, c * C, add);
  };

  if (rank >= P) {
    chunks((o, n) => ctx.send(rank - P, STEP_FOLD_IN, x, o, o, n));
    await receive(rank - P, STEP_RESULT, false);
    return;
  }
  if (out !== x) out.set(x);
  if (rank < N - P) await receive(rank + P, STEP_FOLD_IN, true);
  for (let k = 0, d = 1; d < P; k++, d *= 2) {
    const partner = rank ^ d;
    // what the partner receives is the sum as the wire carries it: round our own copy the same way
    if (ctx.lossy) ctx.roundOwn(out, 0, L);
    chunks((o, n) => ctx.send(partner, STEP_EXCHANGE + k, out, o, o, n));
    await receive(partner, STEP_EXCHANGE + k, true);
  }
  if (ctx.lossy) ctx.roundOwn(out, 0, L);
  if (rank < N - P) chunks((o, n) => ctx.send(rank + P, STEP_RESULT, out, o, o, n));
}
