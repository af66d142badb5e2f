// Named `medusa_choices` trees, and parsing of the `--medusa-choices` value.

import type { MedusaChoices } from './tree.js';

/**
 * The 63-choice tree published with the Medusa paper's code for Vicuna-7B
 * (64 nodes with the root; max depth 4, so it uses 4 of the checkpoint's 5
 * heads; per-head top-k 10, 10, 10, 2). Data, copied exactly, in the
 * published order, from FasterDecoding/Medusa, medusa/model/medusa_choices.py
 * (`mc_sim_7b_63`, commit 11af0aa503437b40d45f5a47c001c43699b7ae52).
 */
export const MC_SIM_7B_63: MedusaChoices = Object.freeze(
  [
    [0], [0, 0], [1], [0, 1], [2], [0, 0, 0], [1, 0], [0, 2], [3], [0, 3], [4], [0, 4], [2, 0], [0, 5],
    [0, 0, 1], [5], [0, 6], [6], [0, 7], [0, 1, 0], [1, 1], [7], [0, 8], [0, 0, 2], [3, 0], [0, 9], [8],
    [9], [1, 0, 0], [0, 2, 0], [1, 2], [0, 0, 3], [4, 0], [2, 1], [0, 0, 4], [0, 0, 5], [0, 0, 0, 0],
    [0, 1, 1], [0, 0, 6], [0, 3, 0], [5, 0], [1, 3], [0, 0, 7], [0, 0, 8], [0, 0, 9], [6, 0], [0, 4, 0],
    [1, 4], [7, 0], [0, 1, 2], [2, 0, 0], [3, 1], [2, 2], [8, 0], [0, 5, 0], [1, 5], [1, 0, 1], [0, 2, 1],
    [9, 0], [0, 6, 0], [0, 0, 0, 1], [1, 6], [0, 7, 0],
  ].map((path) => Object.freeze(path)),
);

/**
 * A 63-choice tree (64 nodes with the root, like mc_sim_7b_63; depth 4) designed by designTree()
 * for the heads `octoserve medusa train` writes for stories260K with its defaults (4 heads x 1
 * layer, 100000 tokens, seed 0), from how those heads rank the true tokens on the training run's
 * held-out text. Compared with mc_sim_7b_63 it spends more nodes on ranks 1-9 at depth 1 and on
 * the second head's top-6 under head 0's top guess.
 */
export const STORIES260K_TREE: MedusaChoices = Object.freeze(
  [
    [0], [1], [2], [3], [4], [5], [6], [7], [8], [9], [0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [0, 6],
    [0, 7], [0, 8], [0, 9], [1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [1, 5], [2, 0], [2, 1], [2, 2], [2, 3],
    [2, 6], [3, 0], [0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 0, 4], [0, 0, 5], [0, 1, 0], [0, 1, 1],
    [0, 1, 2], [0, 1, 5], [0, 2, 0], [0, 2, 1], [1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 2, 0], [1, 2, 1],
    [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 0, 3], [0, 0, 0, 4], [0, 0, 1, 0], [0, 0, 1, 1],
    [0, 0, 2, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 1], [1, 1, 1, 1],
  ].map((path) => Object.freeze(path)),
);

/** `chain-K`: only each head's top guess, K deep: [[0], [0, 0], ..., [0 x K]]. */
export function chainChoices(k: number): number[][] {
  if (!Number.isInteger(k) || k < 1) throw new Error(`chain length must be a positive integer, got ${k}`);
  return Array.from({ length: k }, (_, d) => new Array<number>(d + 1).fill(0));
}

/**
 * A 10-choice tree (11 nodes) for the same heads as STORIES260K_TREE, chosen by designTree() from
 * how those heads rank the true tokens on 30 000 tokens of the base model's own text (seed 12345):
 * the four best guesses of head 0, then the top chain two wide. A small tree keeps the step's
 * all-reduces small, which matters more than the last few accepted tokens when eight ranks share
 * two cores: on the golden prompts it accepts 2.76 tokens per step against 3.33 for the 64-node
 * tree, yet decodes faster at tp=8.
 */
export const STORIES260K_SMALL_TREE: MedusaChoices = Object.freeze(
  [[0], [1], [2], [3], [0, 0], [0, 1], [0, 0, 0], [0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1]].map((p) => Object.freeze(p)),
);

/** The paths of `choices` no deeper than `depth` (a tree cut to heads that have fewer heads than it is deep). */
export function truncateChoices(choices: MedusaChoices, depth: number): number[][] {
  return choices.filter((path) => path.length <= depth).map((path) => [...path]);
}

/** Preset names as a user types them; `chain-K` stands for any K >= 1. */
export const PRESET_NAMES: readonly string[] = Object.freeze(['mc_sim_7b_63', 'stories260k', 'stories260k-small', 'chain-K']);

const presetHelp = 'a preset (mc_sim_7b_63, stories260k, stories260k-small, or chain-K for K >= 1, e.g. chain-4) or a JSON list of paths such as [[0],[1],[0,0]]';

/**
 * Resolves a preset name or a JSON list of paths into choices. Checks the
 * JSON's shape only; buildTree() checks prefixes, duplicates and depth.
 */
export function resolveChoices(nameOrJson: string): number[][] {
  const text = nameOrJson.trim();
  if (text === 'mc_sim_7b_63') return MC_SIM_7B_63.map((path) => [...path]);
  if (text === 'stories260k') return STORIES260K_TREE.map((path) => [...path]);
  if (text === 'stories260k-small') return STORIES260K_SMALL_TREE.map((path) => [...path]);
  const chain = /^chain-(\d+)$/.exec(text);
  if (chain) return chainChoices(Number(chain[1]));
  if (!text.startsWith('[')) throw new Error(`unknown medusa_choices "${nameOrJson}": expected ${presetHelp}`);

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`medusa_choices is not valid JSON (${why}): expected ${presetHelp}`);
  }
  const isPath = (v: unknown): v is number[] => Array.isArray(v) && v.every((r) => typeof r === 'number');
  if (!Array.isArray(parsed) || !parsed.every(isPath)) {
    throw new Error(`medusa_choices must be a JSON list of lists of ranks, got ${text.slice(0, 80)}: expected ${presetHelp}`);
  }
  return parsed;
}
