// The Medusa decode loop: prefill, then one tree step per iteration, over any MedusaBackend.
//
// Per step: the tree is filled with the root (the last emitted token) and the heads' top-k carried
// from the last accepted node of the previous step, run as one forward pass (positions = past +
// depth, the ancestor mask), verified (greedy or typical), and the accepted tokens plus the bonus
// token are emitted. The next step keeps the accepted nodes' KV slots and starts from the bonus
// token with the heads' guesses at the last accepted node: no extra forward pass.
import { checkPromptFits, maxNewTokens, type FinishReason, type GenerateResult, type GenerateStats } from '@octoserve/model';
import { createAcceptance, writeEmission } from './acceptance.js';
import { fillCandidates } from './candidates.js';
import { createStepOutputs, type KeepSlots, type MedusaBackend } from './medusa-backend.js';
import { createRng } from './rng.js';
import type { MedusaTree } from './tree.js';
import { verifyGreedy } from './verify-greedy.js';
import { selectTypicalPath } from './verify-typical.js';

export type AcceptanceMode = 'greedy' | 'typical';

export interface MedusaGenerateOptions {
  tree: MedusaTree;
  /** greedy: lossless, the output equals plain greedy decoding. typical: sampling with temperature. */
  acceptance: AcceptanceMode;
  /** typical only: T > 0. */
  temperature?: number;
  /** typical thresholds (defaults 0.09 and 0.3): accept when p(x) > min(epsilon, delta * exp(-H(p))). */
  epsilon?: number;
  delta?: number;
  /** typical only: the seed of the one uniform drawn per step (default 0). */
  seed?: number;
  /** Most tokens to generate; also bounded by the context as in plain decoding. */
  maxTokens: number;
  /** Emitting one of these ends generation; it is not included in tokenIds. */
  stopIds: readonly number[];
  /**
   * Called for each generated token with the token before it and the row of the last
   * backend.step whose base distribution chose it (the node it follows in the tree; 0 after a
   * prefill or a single-token step), e.g. to read its log-probability there.
   */
  onToken?: (token: number, prev: number, row: number) => void;
  /** Called after each tree step's verification with its start and end (performance.now()), e.g. for a trace. */
  onVerify?: (start: number, end: number, accepted: number) => void;
}

export interface MedusaStats extends GenerateStats {
  /** Decode steps after the prefill (tree steps, plus single-token steps where the tree no longer fits the context). */
  steps: number;
  /** Tokens emitted by those steps (a final stop id included) per step; the prefill's token is not counted. */
  tokensPerStep: number;
  /** [tree.maxDepth] fraction of steps whose accepted path reached depth d + 1. */
  acceptedPerDepth: number[];
  /** Draft tokens verified in all (tree nodes other than the root, over all steps). */
  drafts: number;
}

export interface MedusaGenerateResult extends GenerateResult {
  stats: MedusaStats;
}

/** Generates from `promptIds` with Medusa; returns what @octoserve/model's generate returns, plus Medusa stats. */
export async function medusaGenerate(backend: MedusaBackend, promptIds: readonly number[], options: MedusaGenerateOptions): Promise<MedusaGenerateResult> {
  const { tree, acceptance, stopIds, onToken, onVerify } = options;
  const n = promptIds.length;
  checkPromptFits(n, backend.maxSeqLen);
  if (tree.maxDepth > backend.numHeads) throw new Error(`the tree is ${tree.maxDepth} deep; the model has ${backend.numHeads} Medusa heads`);
  const typical = acceptance === 'typical';
  const temperature = options.temperature ?? 0;
  if (typical && !(temperature > 0)) throw new Error(`typical acceptance needs a temperature > 0, got ${temperature}`);
  if (!typical && acceptance !== 'greedy') throw new Error(`acceptance must be greedy or typical, got ${String(acceptance)}`);
  const limit = Math.min(options.maxTokens, maxNewTokens(n, backend.maxSeqLen));

  // buffers for the whole generation
  const N = tree.nodeCount;
  const numHeads = tree.maxDepth;
  const topK = Math.max(1, ...tree.topK);
  const out = createStepOutputs(N, numHeads, topK, typical ? { temperature, parents: tree.parent } : null);
  const result = createAcceptance(tree);
  const candidates = new Int32Array(N); // [N] tokens of the step
  const positions = new Int32Array(N); // [N]
  const carry = new Int32Array(numHeads * topK); // [numHeads, topK] heads' guesses at the last accepted node
  const carryViews = Array.from({ length: numHeads }, (_, h) => carry.subarray(h * topK, (h + 1) * topK));
  const keepViews = Array.from({ length: tree.pathStride + 1 }, (_, len) => result.nodes.subarray(0, len));
  const single = { token: new Int32Array(1), position: new Int32Array(1), mask: new Uint8Array([1]) };
  const rng = createRng(options.seed ?? 0);
  const thresholds = { temperature, epsilon: options.epsilon, delta: options.delta };
  const limits = { eosIds: stopIds, maxNewTokens: 0 };
  const acceptedAt = new Array<number>(tree.maxDepth).fill(0);

  const tokenIds: number[] = [];
  let finishReason: FinishReason = 'length';
  let steps = 0;
  let stepTokens = 0;
  let drafts = 0;
  let prev = promptIds[n - 1]!;
  /** Emits one token; true when generation must end (a stop id or the limit). */
  const emit = (token: number, row: number): boolean => {
    if (stopIds.includes(token)) {
      finishReason = 'stop';
      return true;
    }
    tokenIds.push(token);
    onToken?.(token, prev, row);
    prev = token;
    return tokenIds.length >= limit;
  };
  const carryFrom = (row: number): void => {
    const from = row * numHeads * topK;
    for (let i = 0; i < carry.length; i++) carry[i] = out.headTopK[from + i]!;
  };
  const pick = async (row: number): Promise<number> => (typical ? backend.sample(row, rng()) : out.baseArgmax[row]!);

  const start = performance.now();
  if (limit > 0) {
    // prefill: the prompt at positions 0..n-1; the base model's token there is the first root
    await backend.step(Int32Array.from(promptIds), Int32Array.from(promptIds, (_, i) => i), undefined, 'reset', out);
    let root = await pick(0);
    carryFrom(0);
    let done = emit(root, 0);
    let past = n; // the root's position: every earlier position is in the cache
    let keep: KeepSlots = 'all';
    while (!done) {
      steps++;
      if (past + N > backend.maxSeqLen) {
        // the tree no longer fits the context: plain steps (the root alone) until the end
        single.token[0] = root;
        single.position[0] = past;
        await backend.step(single.token, single.position, single.mask, keep, out);
        keep = 'all';
        past += 1;
        root = await pick(0);
        stepTokens++;
        done = emit(root, 0);
        continue;
      }
      fillCandidates(tree, root, carryViews, candidates);
      for (let i = 0; i < N; i++) positions[i] = past + tree.positionOffsets[i]!;
      await backend.step(candidates, positions, tree.ancestorMask, keep, out);
      limits.maxNewTokens = limit - tokenIds.length;
      const verifyStart = onVerify === undefined ? 0 : performance.now();
      if (out.typical === null) {
        verifyGreedy(tree, candidates, out.baseArgmax, limits, result);
      } else {
        const node = selectTypicalPath(tree, candidates, out.typical, thresholds, result);
        result.bonusToken = await backend.sample(node, rng());
        writeEmission(tree, candidates, limits, result);
      }
      onVerify?.(verifyStart, performance.now(), result.acceptedLength);
      drafts += N - 1;
      stepTokens += result.tokenCount;
      for (let d = 0; d < result.acceptedLength - 1; d++) acceptedAt[d]!++;
      // emitted token j follows accepted node j: tok[n_(j+1)], and last the bonus at n_(L-1)
      for (let j = 0; j < result.tokenCount && !done; j++) done = emit(result.tokens[j]!, result.nodes[j]!);
      done ||= result.finish !== 'none';
      // the next step keeps the accepted path and starts from the bonus token
      keep = keepViews[result.acceptedLength]!;
      past += result.acceptedLength;
      root = result.bonusToken;
      carryFrom(result.nodes[result.acceptedLength - 1]!);
    }
  }
  const wallMs = performance.now() - start;
  return {
    promptTokenIds: [...promptIds],
    tokenIds,
    finishReason,
    stats: {
      tokens: tokenIds.length,
      wallMs,
      tokPerS: wallMs > 0 ? tokenIds.length / (wallMs / 1000) : 0,
      steps,
      tokensPerStep: steps > 0 ? stepTokens / steps : 0,
      acceptedPerDepth: acceptedAt.map((a) => (steps > 0 ? a / steps : 0)),
      drafts,
    },
  };
}
