// The reference forward pass: one sequence, float32 weights and activations, a preallocated KV
// cache, nothing allocated per token. Reads like llama2.c's forward().
import { attention } from './attention.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { feedForward } from './feed-forward.js';
import { matvec } from './matvec.js';
import { rmsnorm } from './rmsnorm.js';
import { applyRope, createRope, setRopePosition, type Rope } from './rope.js';
import type { TransformerWeights } from './weights.js';

/** Activation buffers and the KV cache, allocated once per Transformer. */
export interface RunState {
  readonly x: Float32Array; // [dim] residual stream
  readonly xb: Float32Array; // [dim] normed input of a block
  readonly xb2: Float32Array; // [dim] output of a block, before the residual add
  readonly attnOut: Float32Array; // [nHeads * headDim] concatenated head outputs
  readonly q: Float32Array; // [nHeads * headDim]
  readonly hb: Float32Array; // [hiddenDim]
  readonly hb2: Float32Array; // [hiddenDim]
  readonly scores: Float32Array; // [nHeads * maxSeqLen] attention scores
  readonly keyCache: readonly Float32Array[]; // per layer [maxSeqLen, nKvHeads * headDim]
  readonly valueCache: readonly Float32Array[]; // per layer [maxSeqLen, nKvHeads * headDim]
  readonly hidden: Float32Array; // [dim] final-norm hidden state of the last token run
  readonly logits: Float32Array; // [vocabSize] logits of the last token run with logits
  readonly rope: Rope;
}

/** What one forward pass returns: views into the RunState, overwritten by the next pass. */
export interface ForwardOutput {
  readonly hidden: Float32Array; // [dim]
  readonly logits: Float32Array; // [vocabSize]
}

export function createRunState(config: ModelConfig, maxSeqLen = config.maxSeqLen): RunState {
  const { dim, hiddenDim, qDim, kvDim, nHeads, vocabSize, nLayers } = config;
  return {
    x: new Float32Array(dim),
    xb: new Float32Array(dim),
    xb2: new Float32Array(dim),
    attnOut: new Float32Array(qDim),
    q: new Float32Array(qDim),
    hb: new Float32Array(hiddenDim),
    hb2: new Float32Array(hiddenDim),
    scores: new Float32Array(nHeads * maxSeqLen),
    keyCache: Array.from({ length: nLayers }, () => new Float32Array(maxSeqLen * kvDim)),
    valueCache: Array.from({ length: nLayers }, () => new Float32Array(maxSeqLen * kvDim)),
    hidden: new Float32Array(dim),
    logits: new Float32Array(vocabSize),
    rope: createRope(config),
  };
}

export class Transformer {
  readonly config: ModelConfig;
  readonly state: RunState;
  /** Positions the KV cache holds: 0 .. maxSeqLen-1 (the model's context unless capped). */
  readonly maxSeqLen: number;
  private readonly output: ForwardOutput;

  /** `maxSeqLen` caps the KV cache below the model's context (to save memory). */
  constructor(readonly weights: TransformerWeights, maxSeqLen = weights.config.maxSeqLen) {
    this.config = weights.config;
    this.maxSeqLen = Math.min(maxSeqLen, this.config.maxSeqLen);
    this.state = createRunState(this.config, this.maxSeqLen);
    this.output = { hidden: this.state.hidden, logits: this.state.logits };
  }

  /** Runs `token` at position `pos` (positions 0..pos-1 must be in the cache) and returns its logits. */
  forward(token: number, pos: number): Float32Array {
    return this.forwardFull(token, pos, true).logits;
  }

  /**
   * Runs `token` at `pos`, writing its K/V into the cache. Returns the final-norm hidden state and,
   * when `withLogits`, the logits (else `logits` keeps its previous contents).
   */
  forwardFull(token: number, pos: number, withLogits = true): ForwardOutput {
    const c = this.config;
    const s = this.state;
    const w = this.weights;
    const { dim, hiddenDim, qDim, kvDim, headDim, nHeads, nKvHeads } = c;
    if (!(token >= 0 && token < c.vocabSize && Number.isInteger(token))) {
      throw new ModelError(`token id ${token} is outside the vocabulary of ${c.vocabSize}`);
    }
    if (!(pos >= 0 && pos < this.maxSeqLen && Number.isInteger(pos))) {
      throw new ModelError(`position ${pos} is outside the context of ${this.maxSeqLen}`);
    }

    // copy the token embedding into x
    const emb = token * dim;
    for (let i = 0; i < dim; i++) s.x[i] = w.tokEmbeddings[emb + i]!;
    setRopePosition(s.rope, pos);

    for (let l = 0; l < c.nLayers; l++) {
      const lw = w.layers[l]!;
      const keyCache = s.keyCache[l]!;
      const valueCache = s.valueCache[l]!;
      const row = pos * kvDim;

      // attention rmsnorm
      rmsnorm(s.xb, s.x, lw.attentionNorm, c.normEps, dim);

      // q, k, v projections; k and v go straight into this position's cache row
      matvec(s.q, lw.wq, s.xb, qDim, dim);
      matvec(keyCache, lw.wk, s.xb, kvDim, dim, row);
      matvec(valueCache, lw.wv, s.xb, kvDim, dim, row);

      // RoPE: rotate q and k by the position
      applyRope(s.rope, s.q, 0, nHeads);
      applyRope(s.rope, keyCache, row, nKvHeads);

      // multi-head attention over positions 0..pos
      attention(s.attnOut, s.q, keyCache, valueCache, s.scores, pos + 1, nHeads, nKvHeads, headDim, this.maxSeqLen);

      // output projection, then the residual connection back into x
      matvec(s.xb2, lw.wo, s.attnOut, dim, qDim);
      for (let i = 0; i < dim; i++) s.x[i] = s.x[i]! + s.xb2[i]!;

      // ffn rmsnorm, then w2(silu(w1 x) * w3 x), then the residual connection
      rmsnorm(s.xb, s.x, lw.ffnNorm, c.normEps, dim);
      feedForward(s.xb2, s.xb, lw.w1, lw.w2, lw.w3, s.hb, s.hb2, dim, hiddenDim);
      for (let i = 0; i < dim; i++) s.x[i] = s.x[i]! + s.xb2[i]!;
    }

    // final rmsnorm
    rmsnorm(s.hidden, s.x, w.norm, c.normEps, dim);

    // classifier into logits
    if (withLogits) matvec(s.logits, w.output, s.hidden, c.vocabSize, dim);
    return this.output;
  }

  /**
   * Runs tokens[i] at positions[i] in order (a prefill loop) and returns the output of the last;
   * only the last computes logits.
   */
  forwardTokens(tokens: ArrayLike<number>, positions: ArrayLike<number>): ForwardOutput {
    if (tokens.length === 0 || tokens.length !== positions.length) {
      throw new ModelError(`forwardTokens: ${tokens.length} tokens with ${positions.length} positions`);
    }
    const last = tokens.length - 1;
    for (let i = 0; i < last; i++) this.forwardFull(tokens[i]!, positions[i]!, false);
    return this.forwardFull(tokens[last]!, positions[last]!, true);
  }
}
