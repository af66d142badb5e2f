// The result of verifying one step, and what that step may emit.

import type { MedusaTree } from './tree.js';

/** Why emission ended: not at all ('none'), at a stop id ('stop'), or out of token budget ('length'). */
export type FinishReason = 'none' | 'stop' | 'length';

/**
 * One step's verdict. Preallocate with createAcceptance(tree) and pass it to
 * verifyGreedy / verifyTypical on every step.
 *
 * Emission convention: the root token was emitted by the previous step (or by
 * prefill), so a step emits the accepted children's tokens and then the bonus
 * token, which is also the next step's root. A step with nothing accepted
 * emits the bonus alone, exactly as plain decoding would.
 */
export interface Acceptance {
  /** Index into tree.paths of the winning path. */
  pathIndex: number;
  /** Accepted nodes, root included (>= 1). These are the KV slots to keep. */
  acceptedLength: number;
  /** [maxDepth + 1] accepted node indices, root first; valid up to acceptedLength. */
  readonly nodes: Int32Array;
  /** Sum of log p over the accepted children (typical); 0 for greedy. */
  logProbSum: number;
  /** The base model's token at the last accepted node (argmax or sample); the next root. */
  bonusToken: number;
  /** [maxDepth + 1] tokens to emit, valid up to tokenCount: accepted children, then the bonus. */
  readonly tokens: Int32Array;
  tokenCount: number;
  /** 'stop' or 'length' ends the sequence; tokens then end at the stop id or the budget. */
  finish: FinishReason;
}

/** Stop conditions applied inside a step. */
export interface StopLimits {
  /** EOS and any other stop ids; the stop token is emitted, then the sequence ends. */
  eosIds?: ArrayLike<number>;
  /** Tokens the sequence may still emit (its max_new_tokens minus those already emitted). Default: no limit. */
  maxNewTokens?: number;
}

export function createAcceptance(tree: MedusaTree): Acceptance {
  return {
    pathIndex: 0,
    acceptedLength: 1,
    nodes: new Int32Array(tree.pathStride),
    logProbSum: 0,
    bonusToken: -1,
    tokens: new Int32Array(tree.pathStride),
    tokenCount: 0,
    finish: 'none',
  };
}

/** Throws unless `out` was made for a tree at least this deep. */
export function checkAcceptance(tree: MedusaTree, out: Acceptance): void {
  if (out.nodes.length < tree.pathStride || out.tokens.length < tree.pathStride) {
    throw new Error(`acceptance buffers hold ${out.nodes.length} nodes; the tree needs ${tree.pathStride}: use createAcceptance(tree)`);
  }
}

function isStop(token: number, eosIds: ArrayLike<number> | undefined): boolean {
  if (eosIds === undefined) return false;
  for (let i = 0; i < eosIds.length; i++) if (eosIds[i] === token) return true;
  return false;
}

/**
 * Fills out.nodes from path `pathIndex`, then out.tokens with the accepted
 * children's candidates and the bonus, cut after the first stop id or at the
 * budget. `out.acceptedLength`, `pathIndex` and `bonusToken` must be set.
 */
export function writeEmission(tree: MedusaTree, candidates: Int32Array, limits: StopLimits, out: Acceptance): Acceptance {
  const row = out.pathIndex * tree.pathStride;
  for (let j = 0; j < out.acceptedLength; j++) out.nodes[j] = tree.paths[row + j] as number;

  let budget = limits.maxNewTokens ?? Infinity;
  if (!(budget >= 0)) throw new Error(`maxNewTokens must be >= 0, got ${limits.maxNewTokens}`);
  out.tokenCount = 0;
  out.finish = 'none';
  for (let j = 1; j <= out.acceptedLength; j++) {
    const token = j < out.acceptedLength ? (candidates[out.nodes[j] as number] as number) : out.bonusToken;
    if (budget <= 0) {
      out.finish = 'length';
      return out;
    }
    out.tokens[out.tokenCount++] = token;
    budget--;
    if (isStop(token, limits.eosIds)) {
      out.finish = 'stop';
      return out;
    }
  }
  if (budget <= 0) out.finish = 'length';
  return out;
}
