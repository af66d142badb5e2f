// The tensor-parallel sharding plan: which heads, FFN rows and vocabulary rows each rank owns.
//
// Megatron-style: q/k/v and w1/w3 are split by output rows (column-parallel),
// wo and w2 by input columns (row-parallel, their outputs are partial sums that
// the ranks all-reduce), the LM head by vocabulary rows. The model width is not
// split. KV heads are split when there are at least as many as ranks and
// replicated otherwise, as vLLM's QKVParallelLinear does.

import type { Range, ShardAssignment } from '@octoserve/wire';

/** The sizes the plan depends on. */
export interface ShardableShape {
  dim: number;
  hiddenDim: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
}

export interface ShardPlan {
  tp: number;
  ranks: ShardAssignment[];
}

export class ShardingError extends Error {
  override name = 'ShardingError';
}

/** Splits n items into `parts` contiguous ranges whose sizes differ by at most one (larger first). */
export function splitEvenly(n: number, parts: number): Range[] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const ranges: Range[] = [];
  let start = 0;
  for (let p = 0; p < parts; p++) {
    const size = base + (p < extra ? 1 : 0);
    ranges.push({ start, end: start + size });
    start += size;
  }
  return ranges;
}

function checkHeads(s: ShardableShape, tp: number): void {
  if (s.nHeads % tp !== 0) {
    throw new ShardingError(`cannot split ${s.nHeads} attention heads over tp=${tp}: the head count must be a multiple of tp (try tp in ${divisors(s.nHeads).join(', ')})`);
  }
  if (s.nHeads % s.nKvHeads !== 0) {
    throw new ShardingError(`${s.nHeads} attention heads do not group evenly over ${s.nKvHeads} KV heads`);
  }
  if (s.nKvHeads >= tp ? s.nKvHeads % tp !== 0 : tp % s.nKvHeads !== 0) {
    throw new ShardingError(`cannot place ${s.nKvHeads} KV heads on tp=${tp}: KV heads must be a multiple of tp, or tp a multiple of the KV heads`);
  }
}

function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0 && d <= 8);
}

/** The plan for `tp` ranks; throws ShardingError with the numbers when the split cannot work. */
export function planShards(s: ShardableShape, tp: number): ShardPlan {
  if (!Number.isInteger(tp) || tp < 1) throw new ShardingError(`tp must be a positive integer, got ${tp}`);
  checkHeads(s, tp);
  if (s.hiddenDim < tp) throw new ShardingError(`cannot split an FFN of width ${s.hiddenDim} over tp=${tp}`);
  if (s.vocabSize < tp) throw new ShardingError(`cannot split a vocabulary of ${s.vocabSize} over tp=${tp}`);
  const headsPerRank = s.nHeads / tp;
  const hidden = splitEvenly(s.hiddenDim, tp);
  const vocab = splitEvenly(s.vocabSize, tp);
  const ranks = Array.from({ length: tp }, (_, rank): ShardAssignment => {
    const kvStart = s.nKvHeads >= tp ? rank * (s.nKvHeads / tp) : Math.floor((rank * s.nKvHeads) / tp);
    const kvCount = s.nKvHeads >= tp ? s.nKvHeads / tp : 1;
    return {
      rank,
      tp,
      heads: { start: rank * headsPerRank, end: (rank + 1) * headsPerRank },
      kvHeads: { start: kvStart, end: kvStart + kvCount },
      hidden: hidden[rank] as Range,
      vocab: vocab[rank] as Range,
    };
  });
  return { tp, ranks };
}
