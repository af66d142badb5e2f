// Greedy verification: keep the longest path the base model agrees with.

import { checkAcceptance, createAcceptance, writeEmission } from './acceptance.js';
import type { Acceptance, StopLimits } from './acceptance.js';
import type { MedusaTree } from './tree.js';

/**
 * With tok[i] the candidate at node i, a[i] the base model's argmax at node i
 * (computed with the tree mask, so it conditions on exactly root..i), and
 * path p = (n_0 = root, n_1, ..., n_{len_p - 1}):
 *
 *   L(p)  = max { j < len_p : tok[n_k] = a[n_{k-1}] for all 1 <= k <= j } + 1
 *   p*    = the lowest p with the largest L(p)
 *   keep    n_0 .. n_{L(p*) - 1},   bonus = a[n_{L(p*) - 1}]
 *   emit    tok[n_1] .. tok[n_{L(p*) - 1}], bonus   (cut at a stop id / the budget)
 *
 * Lossless: every accepted token is the argmax plain greedy decoding would
 * pick after the same prefix, so the output equals plain greedy. A path is
 * read only up to its length, so no padding value is ever compared with a
 * token. Allocates nothing when `out` is given.
 */
export function verifyGreedy(
  tree: MedusaTree,
  candidates: Int32Array, // [N] candidate token per node (fillCandidates)
  baseArgmax: ArrayLike<number>, // [N] base model argmax per node
  limits: StopLimits = {},
  out: Acceptance = createAcceptance(tree),
): Acceptance {
  const n = tree.nodeCount;
  if (candidates.length < n || baseArgmax.length < n) {
    throw new Error(`verifyGreedy needs ${n} candidates and argmaxes, got ${candidates.length} and ${baseArgmax.length}`);
  }
  checkAcceptance(tree, out);

  let bestPath = 0;
  let bestLength = 0;
  for (let p = 0; p < tree.pathCount; p++) {
    const row = p * tree.pathStride;
    const len = tree.pathLengths[p] as number;
    let j = 1;
    while (j < len && candidates[tree.paths[row + j] as number] === baseArgmax[tree.paths[row + j - 1] as number]) j++;
    if (j > bestLength) {
      bestLength = j;
      bestPath = p;
    }
  }

  out.pathIndex = bestPath;
  out.acceptedLength = bestLength;
  out.logProbSum = 0;
  out.bonusToken = baseArgmax[tree.paths[bestPath * tree.pathStride + bestLength - 1] as number] as number;
  return writeEmission(tree, candidates, limits, out);
}
