// Designing a candidate tree for a set of heads from how they rank the true tokens.
//
// At a position t of greedy text, head k ranks the true token x_{t+k+2} at r_k (the held-out data
// of training, evaluateRanks). A greedy tree step from t accepts exactly the tree's nodes that are
// prefixes of (r_0, r_1, ...): node (q_1..q_m) is accepted iff q_d = r_{d-1} for every d. So over
// the examples,
//
//   E[accepted children per step] = sum over the tree's nodes P of freq(P),
//   freq(P) = share of examples whose rank tuple starts with P,
//
// with no independence assumption between heads. freq only shrinks along a path, so adding the
// most frequent child of the current tree, one node at a time, maximises that sum for every tree
// size (the greedy construction Medusa's authors use for their "optimal sparse tree", here on
// measured joint ranks rather than per-head accuracies).
import type { MedusaChoices } from './tree.js';

/** Shorter paths first, then numerically lexicographic: buildTree's node order. */
function comparePaths(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** How many examples start with each rank path (key: ranks joined by ','), up to `depth` heads. */
function prefixCounts(ranks: Int32Array, numHeads: number, depth: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let e = 0; e * numHeads < ranks.length; e++) {
    let key = '';
    for (let d = 0; d < depth; d++) {
      const r = ranks[e * numHeads + d]!;
      if (r < 0) break;
      key = d === 0 ? String(r) : `${key},${r}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * The `nodes`-choice tree, at most `depth` deep, with the most expected accepted tokens on the
 * examples `ranks` ([examples, numHeads]: head k's rank of its true token; -1 when it is not in
 * the ranks measured or has no target, which ends that example's path). Ties go to the shorter,
 * then lexicographically smaller, path. Returns the choices in buildTree's node order; fewer than
 * `nodes` when the examples reach fewer paths.
 */
export function designTree(ranks: Int32Array, numHeads: number, nodes: number, depth = numHeads): number[][] {
  if (!(Number.isInteger(nodes) && nodes >= 1)) throw new Error(`a tree needs at least 1 choice, got ${nodes}`);
  if (!(Number.isInteger(depth) && depth >= 1 && depth <= numHeads)) throw new Error(`tree depth must be 1..${numHeads}, got ${depth}`);
  const counts = prefixCounts(ranks, numHeads, depth);
  const childrenOf = new Map<string, number[][]>(); // parent key -> child paths
  for (const key of counts.keys()) {
    const path = key.split(',').map(Number);
    const parent = path.slice(0, -1).join(',');
    childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), path]);
  }
  const value = (p: number[]): number => counts.get(p.join(',')) ?? 0;
  const better = (a: number[], b: number[]): boolean => value(a) > value(b) || (value(a) === value(b) && comparePaths(a, b) < 0);
  const open = [...(childrenOf.get('') ?? [])];
  const chosen: number[][] = [];
  while (chosen.length < nodes && open.length > 0) {
    let best = 0;
    for (let i = 1; i < open.length; i++) if (better(open[i]!, open[best]!)) best = i;
    const [pick] = open.splice(best, 1) as [number[]];
    chosen.push(pick);
    open.push(...(childrenOf.get(pick.join(',')) ?? []));
  }
  return chosen.sort(comparePaths);
}

/** 1 + the mean accepted children per step of `choices` on the examples `ranks` (as designTree counts them). */
export function expectedTokensPerStep(ranks: Int32Array, numHeads: number, choices: MedusaChoices): number {
  const examples = ranks.length / numHeads;
  if (examples === 0) return 1;
  const depth = Math.min(numHeads, Math.max(...choices.map((c) => c.length)));
  const counts = prefixCounts(ranks, numHeads, depth);
  let sum = 0;
  for (const path of choices) sum += counts.get(path.join(',')) ?? 0;
  return 1 + sum / examples;
}
