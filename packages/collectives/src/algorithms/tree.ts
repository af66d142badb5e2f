// Two-level tree all-reduce: the ranks form two groups, [0, N/2) and
// [N/2, N), each led by its first rank. Members send to their leader, the
// leaders sum their group, the second leader sends its group's sum to rank 0,
// which adds it and sends the total back down the same tree. As many messages
// as the star (2(N-1)), but the two leaders share the summing, so on a
// machine with two cores (or more) the root's serial work roughly halves.
//
// Reduction order: within a group, rank order; then group 0's sum plus group
// 1's sum: ((x0 + x1) + … + x{h-1}) + ((xh + x{h+1}) + … + x{N-1}), h = ⌊N/2⌋.
import type { OpContext } from '../op-context.js';
import { chunkCount } from '../partition.js';

const STEP_GROUP = 0;    // member → leader: contributions
const STEP_LEADER = 1;   // second leader → root: its group's sum
const STEP_RESULT = 2;   // root → members and second leader; second leader → its members

/** The two groups' leaders and this rank's leader. */
function shape(rank: number, N: number): { second: number; leader: number; members: number[] } {
  const second = Math.floor(N / 2);
  const leader = rank < second ? 0 : second;
  const end = leader === 0 ? second : N;
  const members: number[] = [];
  if (rank === leader) for (let p = leader + 1; p < end; p++) members.push(p);
  return { second, leader, members };
}

export async function treeAllReduce(ctx: OpContext, x: Float32Array, out: Float32Array, work: Float32Array): Promise<void> {
  const { rank, worldSize: N, chunkElems: C } = ctx;
  const L = x.length;
  const K = chunkCount(L, C);
  const { second, leader, members } = shape(rank, N);
  if (rank !== leader) {
    for (let c = 0; c < K; c++) ctx.send(leader, STEP_GROUP, x, c * C, c * C, Math.min(C, L - c * C));
    for (let c = 0; c < K; c++) await ctx.recv(leader, STEP_RESULT, c * C, Math.min(C, L - c * C), out, c * C, false);
    return;
  }
  // A leader is the lowest rank of its group, so its own contribution comes
  // first; rank 0 sums into `out` (fine when it aliases x), the second leader into `work`.
  const acc = rank === 0 ? out : work;
  const down = rank === 0 ? [...members, ...(second > 0 && second < N ? [second] : [])] : members;
  for (let c = 0; c < K; c++) {
    const o = c * C;
    const n = Math.min(C, L - o);
    const at = rank === 0 ? o : 0;
    if (ctx.lossy) ctx.applyOwn(ctx.encode(STEP_GROUP, x, o, o, n, 0), n, acc, at, false);
    else if (acc !== x) acc.set(x.subarray(o, o + n), at);
    for (const p of members) await ctx.recv(p, STEP_GROUP, o, n, acc, at, true);
    if (rank !== 0) {
      ctx.send(0, STEP_LEADER, acc, at, o, n);
      continue;
    }
    if (second > 0 && second < N) await ctx.recv(second, STEP_LEADER, o, n, acc, at, true);
    if (ctx.lossy) ctx.roundOwn(acc, at, n);
    ctx.sendToAll(down, STEP_RESULT, acc, at, o, n);
  }
  if (rank === 0) return;
  for (let c = 0; c < K; c++) {
    const o = c * C;
    const n = Math.min(C, L - o);
    await ctx.recv(0, STEP_RESULT, o, n, out, o, false);
    ctx.sendToAll(members, STEP_RESULT, out, o, o, n);
  }
}

