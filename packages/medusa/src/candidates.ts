// Candidate tokens for one step: the tree filled with the heads' guesses.

import type { MedusaTree } from './tree.js';

/**
 * Writes each node's candidate token into `out` (no allocation):
 *
 *   out[0] = rootToken                         (the base model's next token)
 *   out[i] = headTopK[head[i]][rank[i]]        (i >= 1; head = depth - 1)
 *
 * `headTopK[h]` lists head h's guesses best first, taken at the last accepted
 * position of the previous step; it needs at least `tree.topK[h]` entries.
 */
export function fillCandidates(
  tree: MedusaTree,
  rootToken: number,
  headTopK: readonly ArrayLike<number>[],
  out: Int32Array, // [>= N]
): Int32Array {
  const n = tree.nodeCount;
  if (out.length < n) throw new Error(`candidate buffer holds ${out.length} tokens; the tree has ${n} nodes`);
  if (headTopK.length < tree.maxDepth) {
    throw new Error(`got top-k from ${headTopK.length} heads; the tree is ${tree.maxDepth} deep`);
  }
  for (let h = 0; h < tree.maxDepth; h++) {
    const have = (headTopK[h] as ArrayLike<number>).length;
    const need = tree.topK[h] as number;
    if (have < need) throw new Error(`head ${h} gave ${have} guesses; the tree uses its top ${need}`);
  }
  out[0] = rootToken;
  for (let i = 1; i < n; i++) {
    out[i] = (headTopK[tree.head[i] as number] as ArrayLike<number>)[tree.rank[i] as number] as number;
  }
  return out;
}

/** Which logits typical verification needs: for child c, the logit of token `tokens[k]` at node `nodes[k]`. */
export interface ChildLogitQueries {
  /** [N - 1] the parent node of child c = k + 1 (non-decreasing). */
  readonly nodes: Int32Array;
  /** [N - 1] the candidate token of child c = k + 1. */
  readonly tokens: Int32Array;
}

/**
 * The (node, token) pairs whose logits the coordinator must ask the workers
 * for when verification is typical: every child's token at its parent,
 * in child order. Zero-copy views of `tree.parent` and `candidates`; entry k
 * is child node k + 1, so the answers line up with verifyTypical's
 * `childLogits[k + 1]`.
 */
export function childLogitQueries(tree: MedusaTree, candidates: Int32Array): ChildLogitQueries {
  return { nodes: tree.parent.subarray(1), tokens: candidates.subarray(1, tree.nodeCount) };
}
