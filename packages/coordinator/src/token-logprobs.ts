// The log-probability of a chosen token and of the most likely alternatives, exact across
// shards: from the merged log-sum-exp pieces and the merged top-k of the ranks' answers,
//   log p(v) = s_v / T − lse(s / T),   lse from mergedSoftmaxStats
// at the sequence's temperature T (1 when greedy: the model's own log-softmax).
import type { RankRows } from '@octoserve/wire';
import { mergedArgmax, mergedSoftmaxStats, mergedTopK } from './merge.js';

export interface TokenLogprob {
  id: number;
  /** log p of the chosen token; null when it is outside the workers' top-k and was not the argmax. */
  logprob: number | null;
  /** The `top` most likely tokens, most likely first. */
  top: { id: number; logprob: number }[];
}

/** `token`'s entry at `row` of a step, with `top` alternatives (top ≤ localK). */
export function tokenLogprob(ranks: readonly RankRows[], row: number, token: number, top: number, localK: number, temperature: number): TokenLogprob {
  const invT = temperature > 0 ? 1 / temperature : 1;
  const { logSumExp } = mergedSoftmaxStats(ranks, row, invT);
  const ids = new Uint32Array(localK);
  const logits = new Float32Array(localK);
  mergedTopK(ranks, row, localK, localK, ids, logits);
  let logit: number | undefined;
  const best = mergedArgmax(ranks, row);
  if (best.id === token) logit = best.logit;
  for (let i = 0; logit === undefined && i < localK; i++) if (ids[i] === token) logit = logits[i];
  const entries: { id: number; logprob: number }[] = [];
  for (let i = 0; i < Math.min(top, localK); i++) entries.push({ id: ids[i] as number, logprob: (logits[i] as number) * invT - logSumExp });
  return { id: token, logprob: logit === undefined ? null : logit * invT - logSumExp, top: entries };
}
