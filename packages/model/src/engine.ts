// The contract between the decode loop and whatever computes logits: the single-process
// reference engine here, a tensor-parallel cluster elsewhere.
import type { Checkpoint } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { Transformer } from './transformer.js';
import { loadWeights, type LoadWeightsOptions } from './weights.js';

export interface Engine {
  readonly config: ModelConfig;
  /** Positions the engine can hold for one sequence (at most config.maxSeqLen). */
  readonly maxSeqLen: number;
  /**
   * Runs tokens[i] at positions[i], in order, storing their keys and values, and returns the
   * logits [vocabSize] of the last one: the engine's own buffer, valid until the next call.
   */
  step(tokens: ArrayLike<number>, positions: ArrayLike<number>): Float32Array | Promise<Float32Array>;
}

/** The reference forward pass as an Engine. */
export class ReferenceEngine implements Engine {
  readonly config: ModelConfig;
  readonly maxSeqLen: number;

  constructor(readonly transformer: Transformer) {
    this.config = transformer.config;
    this.maxSeqLen = transformer.maxSeqLen;
  }

  /** Loads every weight of `ckpt` into memory (the checkpoint may be closed afterwards). */
  static fromCheckpoint(ckpt: Checkpoint, maxSeqLen?: number, opts: LoadWeightsOptions = {}): ReferenceEngine {
    return new ReferenceEngine(new Transformer(loadWeights(ckpt, opts), maxSeqLen));
  }

  step(tokens: ArrayLike<number>, positions: ArrayLike<number>): Float32Array {
    return this.transformer.forwardTokens(tokens, positions).logits;
  }
}
