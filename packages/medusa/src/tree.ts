// The Medusa candidate tree, compiled once from `medusa_choices`.
//
// Medusa (Cai et al., 2024, "Medusa: Simple LLM Inference Acceleration
// Framework with Multiple Decoding Heads") puts K extra heads on the base
// model; head h guesses the token h + 2 positions ahead. A step verifies a
// tree of guesses in one forward pass: the root is the base model's own next
// token, and a node at depth d > 0 is one of head d-1's top-k guesses.
//
// `medusa_choices` names the tree's nodes as paths of per-depth top-k ranks:
// [1, 0] is "head 0's 2nd guess, then head 1's 1st guess under it". The root
// is implicit (the empty path). See ../README.md for how octoserve differs
// from the reference implementation.
//
// Node order: node 0 is the root; nodes 1..N-1 are the choices sorted by
// (length, then lexicographically by rank), the order the Medusa authors'
// code uses. Consequences the rest of the package relies on:
//   - a node's parent always has a smaller index,
//   - siblings are contiguous and ordered by rank,
//   - parent[1..N-1] is non-decreasing.
//
// Path order: one path per leaf, ordered lexicographically by the leaf's
// ranks (depth-first, rank 0 first). When verification ties, the lowest path
// index wins, which prefers the branch the heads ranked higher at the first
// point where the tied paths diverge.

/** Paths of per-depth top-k ranks; the root is implicit. */
export type MedusaChoices = readonly (readonly number[])[];

export interface BuildTreeOptions {
  /** Medusa heads the model has; every choice must have depth <= numHeads. Default: the tree's max depth. */
  numHeads?: number;
}

export interface MedusaTree {
  /** The choices in node order: choices[i - 1] is node i's path. */
  readonly choices: readonly (readonly number[])[];
  /** N = choices.length + 1 (the root). */
  readonly nodeCount: number;
  /** Heads the model has (topK.length); heads at depth > maxDepth have topK 0. */
  readonly numHeads: number;
  /** Deepest node; paths hold at most maxDepth + 1 nodes. */
  readonly maxDepth: number;

  readonly depth: Int32Array; // [N] 0 for the root
  readonly parent: Int32Array; // [N] -1 for the root
  readonly head: Int32Array; // [N] head that proposes the node (depth - 1); -1 for the root
  readonly rank: Int32Array; // [N] rank in that head's top-k (choices[i-1][depth-1]); -1 for the root
  /** [N] added to the past length to get each node's position (= depth). */
  readonly positionOffsets: Int32Array;
  /** [N, N] row-major; mask[i * N + j] = 1 iff j is i or an ancestor of i. */
  readonly ancestorMask: Uint8Array;

  /** [numHeads] how many guesses each head must supply: max rank at depth h + 1 (0 if unused). */
  readonly topK: Int32Array;
  /** [numHeads + 1] start of head h's guesses in a flat pool laid out [root | head 0 top-k | head 1 top-k | ...], minus the root slot. */
  readonly topKOffsets: Int32Array;
  /** [N] node i's slot in that flat pool: 0 for the root, 1 + topKOffsets[head] + rank otherwise. */
  readonly treeIndices: Int32Array;

  /** Number of root-to-leaf paths (= leaves). */
  readonly pathCount: number;
  /** Row length of `paths` (= maxDepth + 1). */
  readonly pathStride: number;
  /** [pathCount, pathStride] node indices, root first; entries at j >= pathLengths[p] are -1 and must never be read. */
  readonly paths: Int32Array;
  /** [pathCount] nodes on each path, root included. */
  readonly pathLengths: Int32Array;
}

const fmt = (path: readonly number[]): string => `[${path.join(',')}]`;

function compareChoices(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return a.length - b.length;
  return compareLex(a, b);
}

function compareLex(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Checks shape, ranks, duplicates, prefixes and depth; throws with the offending path. */
function validateChoices(choices: MedusaChoices, numHeads: number | undefined): void {
  if (!Array.isArray(choices) || choices.length === 0) {
    throw new Error('medusa_choices is empty: give at least one path, e.g. [[0]] (the root is implicit)');
  }
  if (numHeads !== undefined && (!Number.isInteger(numHeads) || numHeads < 1)) {
    throw new Error(`numHeads must be a positive integer, got ${numHeads}`);
  }
  const seen = new Map<string, number>();
  choices.forEach((choice, index) => {
    if (!Array.isArray(choice)) {
      throw new Error(`medusa_choices entry ${index} is ${JSON.stringify(choice)}, not a list of ranks`);
    }
    if (choice.length === 0) {
      throw new Error(`medusa_choices entry ${index} is [], but the root is implicit: list only non-empty paths`);
    }
    choice.forEach((r, d) => {
      if (typeof r !== 'number' || !Number.isInteger(r)) {
        throw new Error(`choice ${fmt(choice)} has rank ${String(r)} at depth ${d + 1}; ranks are non-negative integers`);
      }
      if (r < 0) throw new Error(`choice ${fmt(choice)} has a negative rank ${r} at depth ${d + 1}`);
    });
    if (numHeads !== undefined && choice.length > numHeads) {
      throw new Error(
        `choice ${fmt(choice)} has depth ${choice.length}, but the model has ${numHeads} Medusa head${numHeads === 1 ? '' : 's'}`,
      );
    }
    const key = fmt(choice);
    const first = seen.get(key);
    if (first !== undefined) throw new Error(`choice ${key} appears twice (entries ${first} and ${index})`);
    seen.set(key, index);
  });
  for (const choice of choices) {
    if (choice.length > 1) {
      const prefix = choice.slice(0, -1);
      if (!seen.has(fmt(prefix))) throw new Error(`choice ${fmt(choice)} needs its prefix ${fmt(prefix)}`);
    }
  }
}

/** Compiles `medusa_choices` into the buffers one verification step needs. */
export function buildTree(choices: MedusaChoices, options: BuildTreeOptions = {}): MedusaTree {
  validateChoices(choices, options.numHeads);
  const sorted = choices.map((c) => [...c]).sort(compareChoices);
  const n = sorted.length + 1;
  const maxDepth = (sorted[sorted.length - 1] as number[]).length;
  const numHeads = options.numHeads ?? maxDepth;

  // Per-node structure; a parent is found by its path, and always precedes its child.
  const indexOf = new Map<string, number>([['[]', 0]]);
  const depth = new Int32Array(n);
  const parent = new Int32Array(n).fill(-1);
  const head = new Int32Array(n).fill(-1);
  const rank = new Int32Array(n).fill(-1);
  const topK = new Int32Array(numHeads);
  sorted.forEach((choice, k) => {
    const i = k + 1;
    const d = choice.length;
    depth[i] = d;
    parent[i] = indexOf.get(fmt(choice.slice(0, -1))) as number;
    head[i] = d - 1;
    rank[i] = choice[d - 1] as number;
    topK[d - 1] = Math.max(topK[d - 1] as number, (rank[i] as number) + 1);
    indexOf.set(fmt(choice), i);
  });

  // Ancestor mask: each row is its parent's row plus the diagonal.
  const ancestorMask = new Uint8Array(n * n);
  ancestorMask[0] = 1;
  for (let i = 1; i < n; i++) {
    const p = parent[i] as number;
    ancestorMask.copyWithin(i * n, p * n, p * n + n);
    ancestorMask[i * n + i] = 1;
  }

  // Flat top-k pool layout.
  const topKOffsets = new Int32Array(numHeads + 1);
  for (let h = 0; h < numHeads; h++) topKOffsets[h + 1] = (topKOffsets[h] as number) + (topK[h] as number);
  const treeIndices = new Int32Array(n);
  for (let i = 1; i < n; i++) treeIndices[i] = 1 + (topKOffsets[head[i] as number] as number) + (rank[i] as number);

  // Leaves, in lexicographic order of their paths; each path walks parents back to the root.
  const isParent = new Uint8Array(n);
  for (let i = 1; i < n; i++) isParent[parent[i] as number] = 1;
  const leaves: number[] = [];
  for (let i = 1; i < n; i++) if (isParent[i] === 0) leaves.push(i);
  leaves.sort((a, b) => compareLex(sorted[a - 1] as number[], sorted[b - 1] as number[]));
  const pathStride = maxDepth + 1;
  const paths = new Int32Array(leaves.length * pathStride).fill(-1);
  const pathLengths = new Int32Array(leaves.length);
  leaves.forEach((leaf, p) => {
    const len = (depth[leaf] as number) + 1;
    pathLengths[p] = len;
    for (let j = len - 1, node = leaf; j >= 0; j--, node = parent[node] as number) paths[p * pathStride + j] = node;
  });

  return {
    choices: sorted,
    nodeCount: n,
    numHeads,
    maxDepth,
    depth,
    parent,
    head,
    rank,
    positionOffsets: depth.slice(),
    ancestorMask,
    topK,
    topKOffsets,
    treeIndices,
    pathCount: leaves.length,
    pathStride,
    paths,
    pathLengths,
  };
}
