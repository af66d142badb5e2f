// What decoding with Medusa needs before the first step: the heads read from a directory, the
// candidate tree of a named preset or a JSON list of paths, and the sizes a cluster must
// provision for that tree.
import type { MedusaHeads } from './heads.js';
import { loadMedusaHeads } from './heads-format.js';
import { MC_SIM_7B_63, resolveChoices, truncateChoices } from './presets.js';
import { buildTree, type MedusaTree } from './tree.js';

/** The tree used when none is named: mc_sim_7b_63, cut to the heads' count. */
export const DEFAULT_CHOICES_NAME = 'mc_sim_7b_63';

export interface MedusaSetupOptions {
  /** A directory of heads in FasterDecoding's or vLLM's layout. */
  dir: string;
  /** A preset name or a JSON list of paths (default: mc_sim_7b_63 cut to the heads' count). */
  choices?: string | undefined;
}

/** The heads in `dir` for a base model of `vocabSize` x `dim`, and the candidate tree over them. */
export function loadMedusa(base: { vocabSize: number; dim: number }, options: MedusaSetupOptions): { heads: MedusaHeads; tree: MedusaTree } {
  const heads = loadMedusaHeads(options.dir, { baseVocab: base.vocabSize, baseDim: base.dim });
  const choices = options.choices === undefined ? truncateChoices(MC_SIM_7B_63, heads.numHeads) : resolveChoices(options.choices);
  return { heads, tree: buildTree(choices, { numHeads: heads.numHeads }) };
}

/** The most children one tree node has: the logits typical acceptance reads at that node. */
export function widestNode(tree: MedusaTree): number {
  const children = new Int32Array(tree.nodeCount);
  for (let i = 1; i < tree.nodeCount; i++) { const p = tree.parent[i] as number; children[p] = (children[p] ?? 0) + 1; }
  return Math.max(1, ...children);
}

/**
 * What a cluster provisions for `tree`: each head's top-k (the most any depth asks of it) and
 * the widest node (the picked logits per step).
 */
export function treeLimits(tree: MedusaTree): { topK: number; maxPicked: number } {
  return { topK: Math.max(...tree.topK), maxPicked: widestNode(tree) };
}
