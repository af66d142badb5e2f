// The reference forward pass: one sequence, float32 weights and activations, a preallocated KV
// cache, nothing allocated per token. Reads like llama2.c's forward().
import { attention, positionSlots } from './attention.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { feedForward } from './feed-forward.js';
import { attendedSlots, maskedAttention } from './masked-attention.js';
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
  readonly positions: Int32Array; // [maxSeqLen] 0, 1, 2, ...: the cache rows the plain path attends to
  readonly keyCache: readonly Float32Array[]; // per layer [maxSeqLen, nKvHeads * headDim]
  readonly valueCache: readonly Float32Array[]; // per layer [maxSeqLen, nKvHeads * headDim]
  readonly hidden: Float32Array; // [dim] final-norm hidden state of the last token run
  readonly logits: Float32Array; // [vocabSize] logits of the last token run with logits
  readonly rope: Rope;
}

/**
 * Per-token results of a tree step (forwardTree), one row per token from its `firstRow` on:
 * row r holds token firstRow + r.
 */
export interface TreeOutput {
  readonly rows: number; // capacity in tokens
  readonly logits: Float32Array; // [rows, vocabSize]
  readonly hidden: Float32Array; // [rows, dim] final-norm hidden states
}

export function createTreeOutput(config: ModelConfig, rows: number): TreeOutput {
  return { rows, logits: new Float32Array(rows * config.vocabSize), hidden: new Float32Array(rows * config.dim) };
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
    positions: positionSlots(maxSeqLen),
    keyCache: Array.from({ length: nLayers }, () => new Float32Array(maxSeqLen * kvDim)),
    valueCache: Array.from({ length: nLayers }, () => new Float32Array(maxSeqLen * kvDim)),
    hidden: new Float32Array(dim),
    logits: new Float32Array(vocabSize),
    rope: createRope(config),
  };
}

/**
 * Sees the residual stream x after a block's residual add: layer l, its attention or feed-forward
 * block, x [rows, dim] (the reference: one token's row; a worker: every row of its step). A view
 * into the engine's buffer, valid during the call: copy what you keep.
 */
export type LayerObserver = (layer: number, block: 'attention' | 'feedForward', x: Float32Array) => void;

export class Transformer {
  readonly config: ModelConfig;
  readonly state: RunState;
  /** Positions the KV cache holds: 0 .. maxSeqLen-1 (the model's context unless capped). */
  readonly maxSeqLen: number;
  private readonly output: ForwardOutput;
  /** Tree steps: committed cache slots [0, committed), then the last step's pending ones. */
  private committed = 0;
  private pending = 0;
  private readonly slots: Int32Array; // [maxSeqLen] cache rows one token of a tree step attends to
  private treeOut: TreeOutput | null = null; // grown on demand when forwardTree gets no buffers
  /** A debug hook: called with x after every residual add (see LayerObserver). */
  observer: LayerObserver | undefined = undefined;

  /** `maxSeqLen` caps the KV cache below the model's context (to save memory). */
  constructor(readonly weights: TransformerWeights, maxSeqLen = weights.config.maxSeqLen) {
    this.config = weights.config;
    this.maxSeqLen = Math.min(maxSeqLen, this.config.maxSeqLen);
    this.state = createRunState(this.config, this.maxSeqLen);
    this.output = { hidden: this.state.hidden, logits: this.state.logits };
    this.slots = new Int32Array(this.maxSeqLen);
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
    const dim = c.dim;
    if (!(token >= 0 && token < c.vocabSize && Number.isInteger(token))) {
      throw new ModelError(`token id ${token} is outside the vocabulary of ${c.vocabSize}`);
    }
    if (!(pos >= 0 && pos < this.maxSeqLen && Number.isInteger(pos))) {
      throw new ModelError(`position ${pos} is outside the context of ${this.maxSeqLen}`);
    }

    this.runLayers(token, pos, pos, -1);

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

  // ---------------------------------------------------------------------------------------------
  // Tree steps (Medusa): a step's tokens go to pending cache slots; the next step first keeps
  // all of them (commit) or some (compact). The plain path above ignores this bookkeeping.

  /** Committed cache slots: a tree step's tokens attend to slots [0, cacheLength). */
  get cacheLength(): number {
    return this.committed;
  }

  /** Slots [cacheLength, cacheLength + pendingCount) written by the last tree step, not yet kept. */
  get pendingCount(): number {
    return this.pending;
  }

  /** Declares slots [0, length) committed and drops pending ones (0: a new sequence). */
  resetCache(length = 0): void {
    if (!(Number.isInteger(length) && length >= 0 && length <= this.maxSeqLen)) {
      throw new ModelError(`cache length ${length} is outside the context of ${this.maxSeqLen}`);
    }
    this.committed = length;
    this.pending = 0;
  }

  /** Keeps every pending slot (prefill, plain decoding). */
  commit(): void {
    this.committed += this.pending;
    this.pending = 0;
  }

  /**
   * Keeps the pending slots `keep` (indices into the last tree step's tokens, ascending), moved
   * down in order to [cacheLength, cacheLength + keep.length), and commits them; drops the rest.
   */
  compact(keep: ArrayLike<number>): void {
    const { nLayers, kvDim } = this.config;
    for (let j = 0; j < keep.length; j++) {
      const i = keep[j]!;
      if (!Number.isInteger(i) || i < j || i >= this.pending || (j > 0 && i <= keep[j - 1]!)) {
        throw new ModelError(`keep list [${Array.from(keep).join(', ')}] must be ascending indices below ${this.pending} (the last step's tokens)`);
      }
    }
    for (let j = 0; j < keep.length; j++) {
      const i = keep[j]!;
      if (i === j) continue;
      const from = (this.committed + i) * kvDim;
      const to = (this.committed + j) * kvDim;
      for (let l = 0; l < nLayers; l++) {
        this.state.keyCache[l]!.copyWithin(to, from, from + kvDim);
        this.state.valueCache[l]!.copyWithin(to, from, from + kvDim);
      }
    }
    this.committed += keep.length;
    this.pending = 0;
  }

  /**
   * Runs the T = tokens.length tokens of one step: token i at positions[i], its K/V written to
   * cache slot cacheLength + i (pending until commit() or compact()). Token i attends to every
   * committed slot and to the step's tokens j with mask[i*T + j] = 1 ([T, T] row-major; each row
   * must hold its diagonal and nothing right of it, as a tree mask whose parents precede their
   * children does); no mask is causal (a prefill). RoPE rotates each token by its own position.
   * Fills rows 0.. of `out` with the logits and final-norm hidden states of tokens firstRow..T-1
   * (a prefill that needs only the last token passes firstRow = T - 1). Without `out`, a buffer
   * of the Transformer's is used (grown on first use; valid until the next call).
   */
  forwardTree(
    tokens: ArrayLike<number>, // [T]
    positions: ArrayLike<number>, // [T]
    mask: Uint8Array | undefined, // [T, T]
    out?: TreeOutput,
    firstRow = 0,
  ): TreeOutput {
    const c = this.config;
    const s = this.state;
    const w = this.weights;
    const T = tokens.length;
    const past = this.committed;
    if (this.pending !== 0) throw new ModelError(`the last tree step left ${this.pending} pending slots: call commit() or compact(keep) first`);
    if (T === 0 || positions.length !== T) throw new ModelError(`forwardTree: ${T} tokens with ${positions.length} positions`);
    if (past + T > this.maxSeqLen) {
      throw new ModelError(`a step of ${T} tokens after ${past} cached ones needs ${past + T} KV slots; the context holds ${this.maxSeqLen}`);
    }
    if (!(Number.isInteger(firstRow) && firstRow >= 0 && firstRow < T)) throw new ModelError(`firstRow ${firstRow} is outside the step's ${T} tokens`);
    if (mask !== undefined) checkTreeMask(mask, T);
    const rows = T - firstRow;
    if (out === undefined) {
      if (this.treeOut === null || this.treeOut.rows < rows) this.treeOut = createTreeOutput(c, rows);
      out = this.treeOut;
    } else if (out.rows < rows || out.logits.length < rows * c.vocabSize || out.hidden.length < rows * c.dim) {
      throw new ModelError(`tree output holds ${out.rows} rows; the step returns ${rows}`);
    }

    for (let i = 0; i < T; i++) {
      const token = tokens[i]!;
      const pos = positions[i]!;
      if (!(token >= 0 && token < c.vocabSize && Number.isInteger(token))) {
        throw new ModelError(`token id ${token} (step token ${i}) is outside the vocabulary of ${c.vocabSize}`);
      }
      if (!(pos >= 0 && pos < this.maxSeqLen && Number.isInteger(pos))) {
        throw new ModelError(`position ${pos} (step token ${i}) is outside the context of ${this.maxSeqLen}`);
      }
      // the committed past plus this token's ancestors, then every layer
      const nSlots = attendedSlots(this.slots, past, mask, i, T);
      this.runLayers(token, pos, past + i, nSlots);
      if (i < firstRow) continue;

      // final rmsnorm into this token's hidden row, classifier into its logits row
      const r = i - firstRow;
      rmsnorm(s.hidden, s.x, w.norm, c.normEps, c.dim);
      out.hidden.set(s.hidden, r * c.dim);
      matvec(out.logits, w.output, s.hidden, c.vocabSize, c.dim, r * c.vocabSize);
    }
    this.pending = T;
    return out;
  }

  /**
   * The layers for one token: embedding into x, then every block, leaving the residual stream in
   * x. K/V go to cache row `slot`; RoPE uses `pos`. nSlots < 0: attend to rows 0..pos (plain path,
   * slot = pos); else to this.slots[0..nSlots).
   */
  private runLayers(token: number, pos: number, slot: number, nSlots: number): void {
    const c = this.config;
    const s = this.state;
    const w = this.weights;
    const { dim, hiddenDim, qDim, kvDim, headDim, nHeads, nKvHeads } = c;

    // copy the token embedding into x
    const emb = token * dim;
    for (let i = 0; i < dim; i++) s.x[i] = w.tokEmbeddings[emb + i]!;
    setRopePosition(s.rope, pos);

    for (let l = 0; l < c.nLayers; l++) {
      const lw = w.layers[l]!;
      const keyCache = s.keyCache[l]!;
      const valueCache = s.valueCache[l]!;
      const row = slot * kvDim;

      // attention rmsnorm
      rmsnorm(s.xb, s.x, lw.attentionNorm, c.normEps, dim);

      // q, k, v projections; k and v go straight into this position's cache row
      matvec(s.q, lw.wq, s.xb, qDim, dim);
      matvec(keyCache, lw.wk, s.xb, kvDim, dim, row);
      matvec(valueCache, lw.wv, s.xb, kvDim, dim, row);

      // RoPE: rotate q and k by the position
      applyRope(s.rope, s.q, 0, nHeads);
      applyRope(s.rope, keyCache, row, nKvHeads);

      // multi-head attention over positions 0..pos, or over the tree step's attended slots
      if (nSlots < 0) attention(s.attnOut, s.q, keyCache, valueCache, s.scores, s.positions, pos + 1, nHeads, nKvHeads, headDim, this.maxSeqLen);
      else maskedAttention(s.attnOut, s.q, keyCache, valueCache, s.scores, this.slots, nSlots, nHeads, nKvHeads, headDim, this.maxSeqLen);

      // output projection, then the residual connection back into x
      matvec(s.xb2, lw.wo, s.attnOut, dim, qDim);
      for (let i = 0; i < dim; i++) s.x[i] = s.x[i]! + s.xb2[i]!;
      this.observer?.(l, 'attention', s.x);

      // ffn rmsnorm, then w2(silu(w1 x) * w3 x), then the residual connection
      rmsnorm(s.xb, s.x, lw.ffnNorm, c.normEps, dim);
      feedForward(s.xb2, s.xb, lw.w1, lw.w2, lw.w3, s.hb, s.hb2, dim, hiddenDim);
      for (let i = 0; i < dim; i++) s.x[i] = s.x[i]! + s.xb2[i]!;
      this.observer?.(l, 'feedForward', s.x);
    }
  }
}

/** Throws unless mask ([T, T]) has every diagonal entry 1 and nothing right of the diagonal. */
function checkTreeMask(mask: Uint8Array, T: number): void {
  if (mask.length !== T * T) throw new ModelError(`tree mask has ${mask.length} entries; ${T} tokens need ${T * T}`);
  for (let i = 0; i < T; i++) {
    if (mask[i * T + i] !== 1) throw new ModelError(`tree mask row ${i} does not attend to itself`);
    for (let j = i + 1; j < T; j++) {
      if (mask[i * T + j] !== 0) throw new ModelError(`tree mask lets token ${i} attend to the later token ${j}; parents must precede children`);
    }
  }
}
