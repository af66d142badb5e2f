// Greedy Medusa decoding against plain greedy decoding on a toy model:
// tree, candidates and verification together must reproduce plain greedy
// exactly, whatever the heads guess.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createAcceptance } from './acceptance.js';
import { fillCandidates } from './candidates.js';
import { MC_SIM_7B_63, chainChoices } from './presets.js';
import { buildTree } from './tree.js';
import type { MedusaChoices } from './tree.js';
import { verifyGreedy } from './verify-greedy.js';

const V = 64;

/** The toy base model's argmax after a sequence: a hash of its last three tokens. */
function next(seq: readonly number[]): number {
  const [a = 1, b = 2, c = 3] = seq.slice(-3);
  return ((Math.imul(a + 1, 73856093) ^ Math.imul(b + 1, 19349663) ^ Math.imul(c + 1, 83492791)) >>> 0) % V;
}

/**
 * Toy Medusa heads after `seq`: head h's target is the greedy token h + 2
 * ahead; it sits at rank (hash % 6) of a top-10, or is missing when that is
 * >= 4, so paths through ranks 0-3 all get exercised.
 */
function heads(seq: readonly number[], numHeads: number): number[][] {
  const future: number[] = [];
  const s = [...seq];
  for (let h = 0; h < numHeads + 1; h++) {
    const t = next(s);
    s.push(t);
    future.push(t);
  }
  return Array.from({ length: numHeads }, (_, h) => {
    const target = future[h + 1]!;
    const r = ((Math.imul(seq.length + 7 * h, 2654435761) >>> 0) >>> 7) % 6;
    const others = Array.from({ length: V }, (_, j) => (target + 1 + j) % V).filter((t) => t !== target);
    return r < 4 ? [...others.slice(0, r), target, ...others.slice(r, 9)] : others.slice(0, 10);
  });
}

interface Limits {
  eosIds: number[];
  maxNewTokens: number;
}

function plainGreedy(prompt: number[], limits: Limits): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  while (out.length < limits.maxNewTokens) {
    const t = next(seq);
    seq.push(t);
    out.push(t);
    if (limits.eosIds.includes(t)) break;
  }
  return out;
}

function medusaGreedy(choices: MedusaChoices, prompt: number[], limits: Limits) {
  const tree = buildTree(choices);
  const candidates = new Int32Array(tree.nodeCount);
  const argmax = new Int32Array(tree.nodeCount);
  const result = createAcceptance(tree);
  // prefill: the base model's token is emitted at once and becomes the first root
  const seq = [...prompt]; // tokens whose KV is cached
  let root = next(seq);
  let headTopK = heads(seq, tree.maxDepth);
  const out = [root];
  let steps = 0;
  if (limits.eosIds.includes(root)) return { out, steps };
  while (out.length < limits.maxNewTokens) {
    fillCandidates(tree, root, headTopK, candidates);
    // the tree forward pass: node i sees the past and its own ancestors
    const prefixes: number[][] = [];
    for (let i = 0; i < tree.nodeCount; i++) {
      const p = i === 0 ? [...seq, root] : [...prefixes[tree.parent[i]!]!, candidates[i]!];
      prefixes.push(p);
      argmax[i] = next(p);
    }
    const r = verifyGreedy(tree, candidates, argmax, { eosIds: limits.eosIds, maxNewTokens: limits.maxNewTokens - out.length }, result);
    steps++;
    out.push(...r.tokens.subarray(0, r.tokenCount));
    if (r.finish !== 'none') break;
    // keep the accepted nodes' KV; carry the last accepted node's heads into the next step
    const kept = prefixes[r.nodes[r.acceptedLength - 1]!]!;
    seq.splice(0, seq.length, ...kept);
    headTopK = heads(seq, tree.maxDepth);
    root = r.bonusToken;
  }
  return { out, steps };
}

// [name, choices, most steps 300 tokens may take: the heads must help]
const trees: [string, MedusaChoices, number][] = [
  ['mc_sim_7b_63', MC_SIM_7B_63, 170],
  ['chain-3', chainChoices(3), 265],
  ['small', [[0], [1], [0, 0], [0, 1], [1, 0], [0, 0, 0]], 230],
];

for (const [name, choices, maxSteps] of trees) {
  test(`greedy Medusa equals plain greedy: ${name}`, () => {
    for (const prompt of [[5], [1, 2, 3], [40, 41, 9, 0]]) {
      const limits = { eosIds: [], maxNewTokens: 300 };
      const { out, steps } = medusaGreedy(choices, prompt, limits);
      assert.deepEqual(out, plainGreedy(prompt, limits));
      assert.equal(out.length, 300);
      assert.ok(steps <= maxSteps, `${steps} steps for 300 tokens: the heads should help`);
    }
  });
}

test('greedy Medusa stops at the same EOS as plain greedy', () => {
  const prompt = [1, 2, 3];
  const reference = plainGreedy(prompt, { eosIds: [], maxNewTokens: 300 });
  const eos = reference[57]!; // some token that occurs mid-stream
  const limits = { eosIds: [eos], maxNewTokens: 300 };
  const expected = plainGreedy(prompt, limits);
  assert.ok(expected.length <= 58 && expected[expected.length - 1] === eos);
  for (const [, choices] of trees) assert.deepEqual(medusaGreedy(choices, prompt, limits).out, expected);
});
