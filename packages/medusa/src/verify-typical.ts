// Typical acceptance: keep the longest path of tokens the base model finds typical enough.

import { checkAcceptance, createAcceptance, writeEmission } from './acceptance.js';
import type { Acceptance, StopLimits } from './acceptance.js';
import type { MedusaTree } from './tree.js';

/**
 * Per-node pieces a coordinator can merge from vocab-parallel shards without
 * ever holding full logits. With z the base model's raw logits at a node and
 * T the temperature, p = softmax(z / T).
 */
export interface TypicalInputs {
  /** [N] childLogits[c] = z_{tok[c]} at node parent[c] (raw, not divided by T); [0] is unused. */
  childLogits: ArrayLike<number>;
  /** [N] log sum_v exp(z_v / T) at each node. */
  logSumExp: ArrayLike<number>;
  /** [N] H(p) = -sum_v p_v log p_v at each node, in nats. */
  entropy: ArrayLike<number>;
  /** The token whose interval of the cumulative distribution of p at `node` contains u (inverse CDF). */
  sampleAt: (node: number, u: number) => number;
}

export interface TypicalOptions extends StopLimits {
  /** Hard threshold epsilon. Default 0.09. */
  epsilon?: number;
  /** Entropy-scaled threshold delta. Default 0.3. */
  delta?: number;
  /** Sampling temperature T > 0 (T = 0 is greedy: use verifyGreedy). */
  temperature: number;
  /** Uniform in [0, 1), seeded by the caller; called exactly once per step. */
  rng: () => number;
}

/** The per-node inputs path selection reads (TypicalInputs without the sampler). */
export type TypicalPathInputs = Omit<TypicalInputs, 'sampleAt'>;

/** The acceptance thresholds and temperature (TypicalOptions without limits and rng). */
export interface TypicalThresholds {
  epsilon?: number;
  delta?: number;
  temperature: number;
}

/**
 * Child c with parent q is accepted when, with p the tempered distribution at q,
 *
 *   p(tok[c]) > min(epsilon, delta * exp(-H(p)))
 *   where log p(tok[c]) = childLogits[c] / T - logSumExp[q]
 *
 * For path p = (root, n_1, ..., n_{len-1}), L(p) = 1 + the number of leading
 * accepted children and S(p) = sum of log p over those children. The winner
 * has the largest L, then the largest S, then the lowest index.
 *
 * Sets out.pathIndex, acceptedLength and logProbSum, and returns the last
 * accepted node: the node the bonus token must be sampled at. A caller whose
 * sampler is asynchronous (a vocab-parallel cluster) samples there, sets
 * out.bonusToken and calls writeEmission; verifyTypical does all of it.
 */
export function selectTypicalPath(
  tree: MedusaTree,
  candidates: Int32Array, // [N] candidate token per node (fillCandidates)
  inputs: TypicalPathInputs,
  options: TypicalThresholds,
  out: Acceptance,
): number {
  const n = tree.nodeCount;
  const { childLogits, logSumExp, entropy } = inputs;
  if (candidates.length < n || childLogits.length < n || logSumExp.length < n || entropy.length < n) {
    throw new Error(
      `verifyTypical needs ${n} entries per node; got candidates ${candidates.length}, childLogits ${childLogits.length}, ` +
        `logSumExp ${logSumExp.length}, entropy ${entropy.length}`,
    );
  }
  const t = options.temperature;
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`typical acceptance needs a temperature > 0, got ${t}; use verifyGreedy for 0`);
  const epsilon = options.epsilon ?? 0.09;
  const delta = options.delta ?? 0.3;
  checkAcceptance(tree, out);

  let bestPath = 0;
  let bestLength = 0;
  let bestScore = -Infinity;
  for (let p = 0; p < tree.pathCount; p++) {
    const row = p * tree.pathStride;
    const len = tree.pathLengths[p] as number;
    let score = 0;
    let j = 1;
    for (; j < len; j++) {
      const c = tree.paths[row + j] as number;
      const q = tree.paths[row + j - 1] as number;
      const logP = (childLogits[c] as number) / t - (logSumExp[q] as number);
      const threshold = Math.min(epsilon, delta * Math.exp(-(entropy[q] as number)));
      if (!(Math.exp(logP) > threshold)) break;
      score += logP;
    }
    if (j > bestLength || (j === bestLength && score > bestScore)) {
      bestLength = j;
      bestScore = score;
      bestPath = p;
    }
  }

  out.pathIndex = bestPath;
  out.acceptedLength = bestLength;
  out.logProbSum = bestScore;
  return tree.paths[bestPath * tree.pathStride + bestLength - 1] as number;
}

/**
 * Typical acceptance (see selectTypicalPath), then the bonus token sampled
 * from p at the last accepted node with u = rng(), then emission.
 * Allocates nothing when `out` is given.
 */
export function verifyTypical(
  tree: MedusaTree,
  candidates: Int32Array, // [N] candidate token per node (fillCandidates)
  inputs: TypicalInputs,
  options: TypicalOptions,
  out: Acceptance = createAcceptance(tree),
): Acceptance {
  const node = selectTypicalPath(tree, candidates, inputs, options, out);
  out.bonusToken = inputs.sampleAt(node, options.rng());
  return writeEmission(tree, candidates, options, out);
}
